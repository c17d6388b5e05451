package memstat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSource returns, per call, the next scripted samples of each id.
type fakeSource struct {
	name string
	mu   sync.Mutex
	next func(id string, call int) (Sample, error)
	call int
	seen [][]string
}

func (f *fakeSource) Name() string { return f.name }

func (f *fakeSource) Sample(_ context.Context, ids []string) ([]Sample, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call++
	f.seen = append(f.seen, append([]string(nil), ids...))
	var out []Sample
	var errs []error
	for _, id := range ids {
		s, err := f.next(id, f.call)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.ContainerID, s.Source = id, f.name
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

func TestSamplerSeriesRatesAndCrossCheck(t *testing.T) {
	t0 := time.Unix(2000, 0)
	// Docker stats: a fresh reading per round, 1 s apart, 0.5 core busy, 100 MB.
	docker := &fakeSource{name: SourceDockerStats, next: func(id string, call int) (Sample, error) {
		return Sample{Time: t0.Add(time.Duration(call) * time.Second), Name: "c-" + id[:1],
			MemoryBytes: 100e6, CPUUsageNs: uint64(call) * 500e6}, nil
	}}
	// cAdvisor: returns the same point twice (its housekeeping is slower than our rounds) and reads 130 MB for
	// container b — a disagreement the cross-check must flag.
	cad := &fakeSource{name: SourceCAdvisor, next: func(id string, call int) (Sample, error) {
		k := (call + 1) / 2
		mem := uint64(101e6)
		if id == "b" {
			mem = 130e6
		}
		return Sample{Time: t0.Add(time.Duration(2*k)*time.Second + 100*time.Millisecond), MemoryBytes: mem,
			CPUUsageNs: uint64(k) * 1e9}, nil
	}}
	var log bytes.Buffer
	s := NewSampler(Config{Log: &log}, docker, cad)
	ctx := context.Background()
	if err := s.Add(ctx, "a", "agent"); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, "b", "bus"); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		s.SampleOnce(ctx)
	}
	s.Remove("b")
	s.SampleOnce(ctx)
	if got := docker.seen[len(docker.seen)-1]; len(got) != 1 || got[0] != "a" {
		t.Fatalf("after Remove the sampler asked for %v", got)
	}

	r := s.Recording()
	if r.Note != "" || log.Len() != 0 || r.Errors != nil {
		t.Fatalf("unexpected note/log/errors: %q %q %v", r.Note, log.String(), r.Errors)
	}
	a, ok := r.Container("a")
	if !ok || a.Role != "agent" || a.Name != "c-a" {
		t.Fatalf("container a: %+v", a)
	}
	if n := len(a.Of(SourceDockerStats)); n != 5 {
		t.Fatalf("a: %d docker samples, want 5", n)
	}
	cs := a.Of(SourceCAdvisor)
	if len(cs) != 3 { // calls 1..5 return points k=1,1,2,2,3
		t.Fatalf("a: %d cadvisor samples, want 3 (repeats dropped)", len(cs))
	}
	if cs[0].CPUCores != nil || cs[1].CPUCores == nil || *cs[1].CPUCores != 0.5 {
		t.Fatalf("cadvisor cpu_cores: %v then %v, want nil then 0.5", cs[0].CPUCores, cs[1].CPUCores)
	}
	for _, d := range a.Of(SourceDockerStats)[1:] {
		if d.CPUCores == nil || *d.CPUCores != 0.5 {
			t.Fatalf("docker cpu_cores %v, want 0.5", d.CPUCores)
		}
	}
	if len(a.CrossCheck) != 1 || !a.CrossCheck[0].OK() || a.CrossCheck[0].Pairs != 3 {
		t.Fatalf("a cross-check: %+v", a.CrossCheck)
	}
	if sm := a.Summary[SourceDockerStats]; sm.Samples != 5 || sm.MemoryMaxBytes != 100e6 || sm.CPUCoresMean != 0.5 {
		t.Fatalf("a summary: %+v", sm)
	}
	b, _ := r.Container("b")
	if len(b.Of(SourceDockerStats)) != 4 {
		t.Fatalf("b keeps its series after Remove: %d samples", len(b.Of(SourceDockerStats)))
	}
	if len(b.CrossCheck) != 1 || b.CrossCheck[0].OK() || len(b.CrossCheck[0].Flagged) != b.CrossCheck[0].Pairs {
		t.Fatalf("b cross-check must flag every pair: %+v", b.CrossCheck)
	}

	// The JSON shape the scenarios write.
	j, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Sources    []string `json:"sources"`
		Interval   string   `json:"interval"`
		Containers []struct {
			ID     string `json:"id"`
			Role   string `json:"role"`
			Series []map[string]any
			Cross  []map[string]any `json:"cross_check"`
		} `json:"containers"`
	}
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatal(err)
	}
	p := back.Containers[0].Series[0]
	if back.Interval != "1s" || back.Sources[1] != SourceCAdvisor || p["source"] == nil || p["memory_bytes"] == nil ||
		p["t"] == nil || p["id"] != nil || back.Containers[1].Cross[0]["flagged"] == nil {
		t.Fatalf("JSON shape: %s", j)
	}
}

// A history source's points from before the container was added are dropped; later ones are all kept.
func TestSamplerDropsHistoryBeforeAdd(t *testing.T) {
	t0 := time.Unix(3000, 0)
	hist := &historySource{t0: t0}
	s := NewSampler(Config{Now: func() time.Time { return t0.Add(1500 * time.Millisecond) }}, hist)
	s.Add(context.Background(), "x", "agent")
	s.SampleOnce(context.Background()) // points 0,1,2: keeps 2
	s.SampleOnce(context.Background()) // points 2,3,4: adds 3,4
	c, _ := s.Recording().Container("x")
	var got []int
	for _, p := range c.Series {
		got = append(got, int(p.Time.Sub(t0)/time.Second))
	}
	if !slices.Equal(got, []int{2, 3, 4}) {
		t.Fatalf("points %v, want [2 3 4]", got)
	}
}

// historySource answers call n with the points 2(n-1), 2(n-1)+1, 2(n-1)+2 seconds after t0.
type historySource struct {
	t0   time.Time
	call int
}

func (h *historySource) Name() string { return SourceCAdvisor }

func (h *historySource) Historic() bool { return true }

func (h *historySource) Sample(_ context.Context, ids []string) ([]Sample, error) {
	h.call++
	var out []Sample
	for k := range 3 {
		at := h.t0.Add(time.Duration(2*(h.call-1)+k) * time.Second)
		out = append(out, Sample{Time: at, ContainerID: ids[0], Source: SourceCAdvisor, MemoryBytes: 1})
	}
	return out, nil
}

func TestSamplerCountsErrors(t *testing.T) {
	src := &fakeSource{name: SourceCgroup, next: func(id string, call int) (Sample, error) {
		if id == "gone" {
			return Sample{}, errors.New("cgroup gone: no cgroup directory")
		}
		return Sample{Time: time.Unix(int64(call), 0)}, nil
	}}
	s := NewSampler(Config{}, src)
	s.Add(context.Background(), "ok", "agent")
	s.Add(context.Background(), "gone", "agent")
	s.SampleOnce(context.Background())
	s.SampleOnce(context.Background())
	r := s.Recording()
	if e := r.Errors[SourceCgroup]; e == nil || e.Count != 2 || !strings.Contains(e.Last, "no cgroup directory") {
		t.Fatalf("errors: %+v", r.Errors)
	}
	if c, _ := r.Container("ok"); len(c.Series) != 2 {
		t.Fatalf("ok container: %d samples", len(c.Series))
	}
}

func TestSamplerStartStop(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	src := &fakeSource{name: SourceDockerStats, next: func(id string, call int) (Sample, error) {
		mu.Lock()
		calls = call
		mu.Unlock()
		return Sample{Time: time.Unix(int64(call), 0)}, nil
	}}
	s := NewSampler(Config{Interval: 10 * time.Millisecond}, src)
	s.Add(context.Background(), "x", "agent")
	s.Start(context.Background())
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := calls
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d rounds in 5 s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := calls
	mu.Unlock()
	if c, _ := s.Recording().Container("x"); len(c.Series) != n {
		t.Fatalf("%d samples after %d rounds", len(c.Series), n)
	}
}

// Without a usable daemon the sampler degrades: one note, one log line, however often it is asked.
func TestSamplerDegradesOnce(t *testing.T) {
	var log bytes.Buffer
	s := NewSampler(Config{Log: &log})
	for range 2 {
		if s.StartCAdvisor(context.Background(), "agentlab/cadvisor:latest") {
			t.Fatal("StartCAdvisor succeeded without a daemon")
		}
	}
	r := s.Recording()
	if !strings.HasPrefix(r.Note, "cAdvisor not used") || strings.Count(log.String(), "\n") != 1 {
		t.Fatalf("note %q, log %q", r.Note, log.String())
	}
}

func TestPreflight(t *testing.T) {
	ok := func(string) (os.FileInfo, error) { return nil, nil }
	if err := cadvisorPreflight("unix:///var/run/docker.sock", false, ok); err != nil {
		t.Fatalf("local: %v", err)
	}
	noLib := func(p string) (os.FileInfo, error) {
		if p == "/var/lib/docker" {
			return nil, &fs.PathError{Op: "stat", Path: p, Err: fs.ErrNotExist}
		}
		return nil, nil
	}
	if err := cadvisorPreflight("unix:///var/run/docker.sock", false, noLib); err == nil || !strings.Contains(err.Error(), "/var/lib/docker") {
		t.Fatalf("missing mount: %v", err)
	}
	// The binds are the daemon's paths: over TCP, or from inside a container, nothing here tells whether they exist.
	if err := cadvisorPreflight("tcp://10.0.0.5:2376", false, noLib); err != nil {
		t.Fatalf("remote: %v", err)
	}
	if err := cadvisorPreflight("unix:///var/run/docker.sock", true, noLib); err != nil {
		t.Fatalf("in a container: %v", err)
	}
}

func TestSamplerMemory(t *testing.T) {
	src := &fakeSource{name: SourceDockerStats, next: func(id string, call int) (Sample, error) {
		if id == "gone" {
			return Sample{}, errors.New("docker stats gone: no such container")
		}
		return Sample{Time: time.Unix(int64(call), 0), MemoryBytes: 10 << 20}, nil
	}}
	s := NewSampler(Config{}, src)
	s.Add(context.Background(), "a", "agent")
	sum, desc, err := s.Memory(context.Background(), []string{"a", "b"})
	if err != nil || sum != 20<<20 || !strings.Contains(desc, "summed over 2 containers") {
		t.Fatalf("Memory = %v, %q, %v", sum, desc, err)
	}
	if c, _ := s.Recording().Container("a"); len(c.Series) != 1 {
		t.Fatalf("the sampled container's reading joins its series: %+v", c.Series)
	}
	if _, _, err := s.Memory(context.Background(), []string{"a", "gone"}); err == nil {
		t.Fatal("a failed reading must fail the sum")
	}
}
