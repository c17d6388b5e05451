package memstat

import (
	"testing"
	"time"
)

func TestDownsampledKeepsEndsAndPeaks(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var series []Sample
	for i := range 100 {
		for _, src := range []string{SourceDockerStats, SourceCgroup} {
			mem := uint64(1000 + i)
			if i == 37 {
				mem = 1 << 30 // a lone peak a stride would miss
			}
			series = append(series, Sample{Time: t0.Add(time.Duration(i) * time.Second), Source: src, MemoryBytes: mem})
		}
	}
	short := []Sample{{Time: t0, Source: SourceDockerStats, MemoryBytes: 5}, {Time: t0.Add(time.Second), Source: SourceDockerStats, MemoryBytes: 6}}
	r := Recording{Sources: []string{SourceDockerStats, SourceCgroup}, Containers: []ContainerResult{
		{ID: "a", Series: series, Summary: map[string]Summary{SourceDockerStats: {Samples: 100}}},
		{ID: "b", Series: short},
	}}
	d := r.Downsampled(10)
	if d.SeriesMax != 10 {
		t.Errorf("SeriesMax = %d, want 10", d.SeriesMax)
	}
	for _, src := range r.Sources {
		got := d.Containers[0].Of(src)
		if len(got) != 10 {
			t.Fatalf("%s: %d samples, want 10", src, len(got))
		}
		if !got[0].Time.Equal(t0) || !got[9].Time.Equal(t0.Add(99*time.Second)) {
			t.Errorf("%s: first/last not kept: %v … %v", src, got[0].Time, got[9].Time)
		}
		peak := false
		for i, s := range got {
			peak = peak || s.MemoryBytes == 1<<30
			if i > 0 && !s.Time.After(got[i-1].Time) {
				t.Errorf("%s: not in time order at %d", src, i)
			}
		}
		if !peak {
			t.Errorf("%s: the peak was dropped", src)
		}
	}
	if d.Containers[0].Summary[SourceDockerStats].Samples != 100 {
		t.Error("summary changed: it must stay that of every sample")
	}
	if len(d.Containers[1].Series) != 2 {
		t.Errorf("short series cut: %d samples", len(d.Containers[1].Series))
	}
	if len(r.Containers[0].Series) != 200 {
		t.Error("Downsampled changed its receiver's series")
	}
	if r.Downsampled(0).SeriesMax != 0 {
		t.Error("n < 3 must keep everything")
	}
}
