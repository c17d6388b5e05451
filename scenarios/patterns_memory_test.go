package scenarios

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentlab/agentlab/internal/agent"
	"github.com/agentlab/agentlab/internal/labtest"
	"github.com/agentlab/agentlab/internal/memstat"
)

// The lifecycle patterns' own-memory figures (issue 16): spawned agents' VmHWM, task containers' cgroup peaks,
// persistent agents' PSS and persistent containers' shims.
func TestPatternMemoryFigures(t *testing.T) {
	r := labtest.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "agent")
	build := exec.Command("go", "build", "-o", bin, "github.com/agentlab/agentlab/cmd/agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	task := func(i uint64) agent.Task { return agent.Task{ID: i, KiB: 64, Seed: i} }
	run := func(p pattern, n int) {
		t.Helper()
		for i := 1; i <= n; i++ {
			res, err := p.do(ctx, task(uint64(i)))
			if err != nil || agent.Check(task(uint64(i)), res) != nil {
				t.Fatalf("%s task %d: %+v %v", p.info().Name, i, res, err)
			}
		}
	}

	sp := &spawnProcess{bin: bin}
	run(sp, 2)
	if len(sp.peakSelf) != 2 || sp.peakSelf[0] <= 0 || sp.peakSelf[0] > 64<<20 {
		t.Errorf("spawn-process peakSelf %v", sp.peakSelf)
	}

	img := r.Image(t, "agent")
	sd := &spawnDocker{cli: r.Client, image: img, labels: r.Labels("agent-once")}
	run(sd, 2)
	if len(sd.peaks) != 2 || sd.peaks[0] < sd.peakSelf[0] || sd.peakSource == "" {
		t.Errorf("spawn-docker-raw peaks %v (%s), self %v", sd.peaks, sd.peakSource, sd.peakSelf)
	}

	pp := &persistentProcess{bin: bin, agents: 2}
	if err := pp.start(ctx); err != nil {
		t.Fatal(err)
	}
	rss, _, err := pp.memory(ctx)
	pp.stop(ctx)
	if err != nil || len(pp.pss) != 1 || pp.pss[0] <= 0 || pp.pss[0] > rss {
		t.Errorf("persistent-process rss %.0f pss %v %v", rss, pp.pss, err)
	}

	mem := &containerSampler{s: memstat.NewSampler(memstat.Config{Docker: r.Client}, memstat.DefaultSources(r.Client, nil)...)}
	pd := &persistentDocker{cli: r.Client, image: img, labels: r.Labels("agent"), agents: 2, mem: mem}
	defer pd.stop(context.Background())
	if err := pd.start(ctx); err != nil {
		t.Fatal(err)
	}
	run(pd, 4)
	cg, _, err := pd.memory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	peaks, psrc, perr := pd.peaks(ctx)
	shims, err := pd.shims(ctx)
	if errors.Is(err, memstat.ErrNotLocal) {
		t.Logf("shims: %v", err)
	} else if err != nil || len(shims) != 2 || shims[0].PSSBytes <= 0 || perr != nil || len(peaks) != 2 {
		t.Fatalf("shims %+v %v; peaks %v %v", shims, err, peaks, perr)
	}
	const mib = 1 << 20
	t.Logf("spawn-process VmHWM %.2f MiB (ru_maxrss %.2f MiB); spawn-docker-raw cgroup peak %.2f MiB (%s), VmHWM %.2f MiB",
		sp.peakSelf[0]/mib, sp.peakRSS[0]/mib, sd.peaks[0]/mib, sd.peakSource, sd.peakSelf[0]/mib)
	t.Logf("persistent-process 2 agents: VmRSS %.2f MiB, PSS %.2f MiB", rss/mib, pp.pss[0]/mib)
	t.Logf("persistent-docker 2 agents: cgroup %.2f MiB, peaks %v (%s)", cg/mib, peaks, psrc)
	for i, s := range shims {
		t.Logf("  shim %d pid %d: RSS %.2f PSS %.2f private %.2f MiB", i, s.PID, float64(s.RSSBytes)/mib,
			float64(s.PSSBytes)/mib, float64(s.PrivateBytes)/mib)
	}
}
