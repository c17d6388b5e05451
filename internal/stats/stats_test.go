package stats

import (
	"math"
	"testing"
	"time"
)

func TestHistSummary(t *testing.T) {
	l := NewHist()
	for i := 1; i <= 1000; i++ {
		l.Record(time.Duration(i) * time.Millisecond)
	}
	s := l.Summary()
	if s.Count != 1000 {
		t.Fatalf("count %d", s.Count)
	}
	// 3 significant digits: within 0.1 % of the exact order statistics.
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", s.P50MS, 500}, {"p95", s.P95MS, 950}, {"p99", s.P99MS, 990}, {"max", s.MaxMS, 1000}, {"min", s.MinMS, 1}, {"mean", s.MeanMS, 500.5}} {
		if math.Abs(c.got-c.want)/c.want > 0.001 {
			t.Errorf("%s = %v, want %v ± 0.1%%", c.name, c.got, c.want)
		}
	}
	var empty Summary
	if NewHist().Summary() != empty {
		t.Error("empty histogram must summarize to zeros")
	}
}

func TestLinearFit(t *testing.T) {
	x := []float64{0, 1, 2, 3, 4}
	y := []float64{1, 3, 5, 7, 9}
	f, ok := LinearFit(x, y)
	if !ok || math.Abs(f.Slope-2) > 1e-12 || math.Abs(f.Intercept-1) > 1e-12 || math.Abs(f.R2-1) > 1e-12 || f.SlopeStdErr > 1e-9 {
		t.Errorf("fit = %+v", f)
	}
	if _, ok := LinearFit([]float64{1, 1}, []float64{2, 3}); ok {
		t.Error("a vertical line must not fit")
	}
}

func series(n int, base float64, perSec float64) []MemPoint {
	t0 := time.Unix(0, 0)
	out := make([]MemPoint, n)
	for i := range out {
		out[i] = MemPoint{T: t0.Add(time.Duration(i) * time.Second), Bytes: base + perSec*float64(i)}
	}
	return out
}

func TestAnalyze(t *testing.T) {
	if v := Analyze(series(20, 100<<20, 0)).Verdict; v != Stable {
		t.Errorf("flat series: %s", v)
	}
	// 10 MiB/s over ~15 s after warm-up: far over max(2 % of 100 MiB, 1 MiB).
	if tr := Analyze(series(20, 100<<20, 10<<20)); tr.Verdict != Growing || math.Abs(tr.SlopeBytesMin-600<<20) > 1 {
		t.Errorf("leaking series: %+v", tr)
	}
	// 100 KiB/min, noise-free: below the 256 KiB/min threshold, and a noise-free window sees everything.
	if tr := Analyze(series(20, 100<<20, 100<<10/60)); tr.Verdict != Stable || tr.DetectionLimitMin != 0 {
		t.Errorf("slight growth: %+v", tr)
	}
	if v := Analyze(series(5, 1, 1)).Verdict; v != Insufficient {
		t.Errorf("5 samples (4 after warm-up): %s", v)
	}
}
