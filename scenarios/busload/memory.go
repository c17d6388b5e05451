package busload

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/agentlab/agentlab/internal/memstat"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// busMeter reads the bus containers of a bus-load run through memstat, the one memory path of the lab: a Sampler
// for the whole scenario keeps every bus container's series from Docker stats, the cgroup files (local daemon only)
// and, with --cadvisor, the cAdvisor sidecar, side by side and cross-checked; Sampler.Read gives the fast reading
// of every --sample-interval; CPUSetBusy reads the bus's and the generators' cpusets (local daemon only). The
// daemon's locality is decided once, by memstat.DetectLocality on the first bus container, and said once.
type busMeter struct {
	s                *memstat.Sampler
	log              io.Writer
	busCPUs, genCPUs []int

	mu               sync.Mutex
	loc              *memstat.Locality
	busBusy, genBusy *memstat.CPUSetBusy
}

// newBusMeter starts the lab's container sampler (scenario.StartSampler: with cadvisor the sidecar too; a failure
// degrades to the other sources, said once by the sampler).
func newBusMeter(ctx context.Context, env *Env, busCPUs, genCPUs []int, cadvisor bool) (*busMeter, error) {
	cs, err := scenario.StartSampler(ctx, env.Env, cadvisor)
	if err != nil {
		return nil, err
	}
	return &busMeter{log: env.Log, busCPUs: busCPUs, genCPUs: genCPUs, s: cs.S}, nil
}

// add starts sampling a run's bus container. The first one fixes the locality: the line saying which sources are
// in use is printed then, once per scenario.
func (m *busMeter) add(ctx context.Context, id, bus string) error {
	if err := m.s.Add(ctx, id, "bus "+bus); err != nil {
		return err
	}
	loc, ok := m.s.Locality()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.loc != nil || !ok {
		return nil
	}
	m.loc = &loc
	m.busBusy, m.genBusy = memstat.NewCPUSetBusy(loc, m.busCPUs), memstat.NewCPUSetBusy(loc, m.genCPUs)
	fmt.Fprintf(m.log, "bus-load: memory sources: %s; cpuset busy: %s\n", loc.Sources(), m.busBusy.Source())
	if !loc.Local {
		fmt.Fprintln(m.log, "bus-load: the daemon is remote: no local cgroup file or /proc/stat is read for the bus containers")
	}
	return nil
}

// read is one fast reading of the bus container (memstat Sampler.Read) and of the cpusets' busy time.
func (m *busMeter) read(ctx context.Context, id string) (busSample, string, error) {
	s, desc, err := m.s.Read(ctx, id)
	if err != nil {
		return busSample{}, "", err
	}
	bs := busSample{T: s.Time, Mem: float64(s.MemoryBytes), CPUNs: float64(s.CPUUsageNs)}
	m.mu.Lock()
	bb, gb := m.busBusy, m.genBusy
	m.mu.Unlock()
	if bb != nil {
		bs.BusCores, bs.BusCoresOK = bb.Read()
		bs.GenCores, bs.GenCoresOK = gb.Read()
	}
	return bs, desc, nil
}

// memory is one reading of the bus container's memory (memstat Sampler.Read: the cgroup files when the daemon is
// local, else Docker stats), bytes, with the time the source read it: the idle ladder's reader.
func (m *busMeter) memory(ctx context.Context, id string) (float64, time.Time, error) {
	s, _, err := m.s.Read(ctx, id)
	if err != nil {
		return 0, time.Time{}, err
	}
	return float64(s.MemoryBytes), s.Time, nil
}

// done stops sampling a run's bus container and returns its memory by source, side by side.
func (m *busMeter) done(id string) []busMemSource {
	m.s.Remove(id)
	res := m.s.Recording()
	c, ok := res.Container(id)
	if !ok {
		return nil
	}
	out := []busMemSource{}
	for _, src := range res.Sources {
		sm, ok := c.Summary[src]
		if !ok {
			out = append(out, busMemSource{Source: src})
			continue
		}
		f := busMemSource{Source: src, Samples: sm.Samples, MeanBytes: sm.MemoryMeanBytes, MaxBytes: sm.MemoryMaxBytes}
		for _, cc := range c.CrossCheck {
			if cc.A == src {
				f.CrossCheck = crossCheckVerdict(cc)
			}
		}
		out = append(out, f)
	}
	return out
}

// cpusetSource says where the cpuset busy figures come from, or why there are none.
func (m *busMeter) cpusetSource() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.busBusy == nil {
		return ""
	}
	return m.busBusy.Source()
}

// stop ends sampling, removes the sidecar and returns what the sampler used, with every bus container's series
// (downsampled to scenario.SeriesMaxPerSource; each run keeps its own summary by source and names its container).
func (m *busMeter) stop(ctx context.Context) busMemSampling {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := m.s.Stop(sctx); err != nil {
		fmt.Fprintf(m.log, "bus-load: %v\n", err)
	}
	r := m.s.Recording().Downsampled(scenario.SeriesMaxPerSource)
	return busMemSampling{Sources: r.Sources, Interval: r.Interval, Note: r.Note, Locality: r.Locality,
		CAdvisor: r.CAdvisor, Errors: r.Errors, CPUSetBusy: m.cpusetSource(), SeriesMax: r.SeriesMax,
		Containers: r.Containers}
}

// busMemSource is one source's reading of one run's bus container.
type busMemSource struct {
	Source    string `json:"source"` // docker-stats | cgroup | cadvisor
	Samples   int    `json:"samples"`
	MeanBytes uint64 `json:"mean_bytes"` // memory_bytes (usage − inactive_file), mean over the run
	MaxBytes  uint64 `json:"max_bytes"`
	// CrossCheck is this source against Docker stats at about the same moments ("" for Docker stats itself).
	CrossCheck string `json:"cross_check_vs_docker_stats,omitempty"`
}

// busMemSampling is what the bus-load scenario sampled memory with.
type busMemSampling struct {
	Sources    []string                         `json:"sources"`
	Interval   memstat.Duration                 `json:"interval"`
	Note       string                           `json:"note,omitempty"`
	Locality   *memstat.Locality                `json:"locality"`
	CAdvisor   *memstat.SidecarInfo             `json:"cadvisor,omitempty"`
	Errors     map[string]*memstat.SourceErrors `json:"errors,omitempty"`
	CPUSetBusy string                           `json:"cpuset_busy_source"`
	// SeriesMax and Containers are memstat.Recording' fields: every run's bus container (runs[].bus_resources
	// .container_id) with its series from each source, in the order the runs started.
	SeriesMax  int                       `json:"series_max_per_source,omitempty"`
	Containers []memstat.ContainerResult `json:"containers"`
}

// crossCheckVerdict is one comparison in a few words.
func crossCheckVerdict(cc memstat.Comparison) string {
	switch {
	case cc.Pairs == 0:
		return "no pairs"
	case len(cc.Flagged) > 0:
		return fmt.Sprintf("differ > %.0f %% in %d of %d pairs (max %.1f %%)", 100*cc.Tolerance, len(cc.Flagged), cc.Pairs, 100*cc.MaxRelDiff)
	default:
		return fmt.Sprintf("agree (%d pairs, max %.1f %%)", cc.Pairs, 100*cc.MaxRelDiff)
	}
}
