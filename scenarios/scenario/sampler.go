package scenario

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/agentlab/agentlab/internal/cluster"
	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/memstat"
)

// ContainerMemory reads the summed memory of containers.
type ContainerMemory interface {
	Memory(ctx context.Context, ids []string) (float64, string, error)
}

// Sampler is how container scenarios measure memory: a memstat.Sampler keeps every container's series
// from Docker stats, the cgroup files and (with --cadvisor) the cAdvisor sidecar, cross-checked, for the results;
// the per-task readings of a pattern come from the cgroup files when they are visible (instant) and from Docker
// stats otherwise (about one answer a second).
type Sampler struct {
	S    *memstat.Sampler
	fast memstat.Source
}

// StartSampler starts sampling; with cadvisor it first starts the sidecar (a failure degrades to the
// other sources, said once by the sampler).
func StartSampler(ctx context.Context, env *Env, cadvisor bool) (*Sampler, error) {
	srcs := memstat.DefaultSources(env.Docker, env.Now)
	cs := &Sampler{S: memstat.NewSampler(memstat.Config{Docker: env.Docker, Log: env.Log, Now: env.Now}, srcs...)}
	for _, src := range srcs {
		if src.Name() == memstat.SourceCgroup {
			cs.fast = src
		}
	}
	if _, ok := cluster.FindBySocket(env.Docker.DaemonHost()); ok && cadvisor {
		// A node of the test cluster publishes ports inside its own network namespace only: the sidecar's
		// HTTP port could never be reached from here, and waiting for it costs its whole ready timeout.
		fmt.Fprintln(env.Log, "memstat: cAdvisor not started: the daemon is a node of the test cluster, whose published ports this host cannot reach; sampling with docker-stats and cgroup files")
		cadvisor = false
	}
	if cadvisor {
		ref, err := env.Images.Ensure(ctx, "cadvisor")
		if err != nil {
			return nil, err
		}
		cs.S.StartCAdvisor(ctx, ref, testcontainers.WithLabels(dockerx.Labels(env.RunID, "cadvisor")))
	}
	cs.S.Start(ctx)
	return cs, nil
}

// Add samples container id from now on, under role.
func (c *Sampler) Add(ctx context.Context, id, role string) error {
	return c.S.Add(ctx, id, role)
}

// Memory is the summed memory of containers ids now, and its source.
func (c *Sampler) Memory(ctx context.Context, ids []string) (float64, string, error) {
	// The cgroup files are the fast path only where the daemon's containers are visible: a unix socket mounted
	// into the lab's container shows this container's own cgroup tree, not the daemon's (Locality says which).
	if loc, known := c.S.Locality(); c.fast == nil || known && !loc.Local {
		return c.S.Memory(ctx, ids)
	}
	got, err := c.fast.Sample(ctx, ids)
	if err != nil {
		return 0, "", err
	}
	var sum float64
	for _, s := range got {
		sum += float64(s.MemoryBytes)
	}
	return sum, fmt.Sprintf("cgroup memory_bytes (usage − inactive_file, as docker stats shows it), summed over %d containers", len(got)), nil
}

// holdRounds is how many samples of each source every container should have before it is torn down: enough to
// put the sources side by side, even when the tasks took milliseconds.
const (
	holdRounds  = 3
	holdTimeout = 8 * time.Second
)

// Hold waits until every sampled container has holdRounds samples from every source, or holdTimeout passes.
func (c *Sampler) Hold(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, holdTimeout)
	defer cancel()
	tk := time.NewTicker(250 * time.Millisecond)
	defer tk.Stop()
	for {
		r := c.S.Recording()
		enough := true
		for _, ct := range r.Containers {
			for _, src := range r.Sources {
				enough = enough && ct.Summary[src].Samples >= holdRounds
			}
		}
		if enough {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tk.C: // the sampler has no "round done" signal; its results are cheap to read
		}
	}
}

// seriesMaxPerSource is the most samples per container and source a results file keeps of a memory series
// (memstat Results.Downsampled: first, last and the peak of each equal run between): at the 1 s interval a
// container sampled 2 minutes keeps every sample, a 10-minute bus keeps one in five, and a file with a hundred
// agent containers stays a few hundred KiB.
const SeriesMaxPerSource = 120

// Stop ends sampling (and removes the sidecar) and returns the series, downsampled to SeriesMaxPerSource.
func (c *Sampler) Stop(ctx context.Context) memstat.Recording {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	c.S.Stop(sctx)
	return c.S.Recording().Downsampled(SeriesMaxPerSource)
}

// ReportContainerMemory prints every sampled container's memory from each source side by side, and the
// cross-check of each source against Docker stats.
func ReportContainerMemory(w io.Writer, r memstat.Recording) error {
	if len(r.Containers) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\ncontainer memory (memory_bytes = usage − inactive_file, MiB, mean over the run; sampled every %s)\n", time.Duration(r.Interval))
	if r.Note != "" {
		fmt.Fprintf(w, "  note: %s\n", r.Note)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "container\trole\t")
	for _, s := range r.Sources {
		fmt.Fprintf(tw, "%s\tn\t", s)
	}
	fmt.Fprintln(tw, "cross-check vs docker-stats\t")
	for _, c := range r.Containers {
		fmt.Fprintf(tw, "%s\t%s\t", c.Name, c.Role)
		for _, s := range r.Sources {
			sm, ok := c.Summary[s]
			if !ok {
				fmt.Fprint(tw, "-\t0\t")
				continue
			}
			fmt.Fprintf(tw, "%.2f\t%d\t", float64(sm.MemoryMeanBytes)/(1<<20), sm.Samples)
		}
		check := ""
		for _, cc := range c.CrossCheck {
			verdict := "agree"
			if len(cc.Flagged) > 0 {
				f := cc.Flagged[0]
				verdict = fmt.Sprintf("DIFFER >%.0f%% in %d pairs (e.g. %.2f vs %.2f MiB)", cc.Tolerance*100, len(cc.Flagged),
					float64(f.ABytes)/(1<<20), float64(f.BBytes)/(1<<20))
			} else if cc.Pairs == 0 {
				verdict = "no pairs"
			}
			check += fmt.Sprintf("%s: %s (max %.1f%%, %d pairs); ", cc.A, verdict, cc.MaxRelDiff*100, cc.Pairs)
		}
		fmt.Fprintf(tw, "%s\t\n", check)
	}
	return tw.Flush()
}

// MemSource reads one container at a time through memstat (Sampler.Read: the cgroup files when the daemon is
// local, Docker stats otherwise; the locality is detected with the first container read), for scenarios that
// sample a single container in a loop (ai-streaming's mock).
type MemSource struct{ s *memstat.Sampler }

// NewMemSource reads through cli.
func NewMemSource(cli client.APIClient) MemSource {
	return MemSource{s: memstat.NewSampler(memstat.Config{Docker: cli}, memstat.DefaultSources(cli, nil)...)}
}

// Read is one reading of container id and its source.
func (m MemSource) Read(ctx context.Context, id string) (memstat.Sample, string, error) {
	return m.s.Read(ctx, id)
}
