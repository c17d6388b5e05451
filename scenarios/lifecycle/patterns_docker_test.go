package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/agent"
	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/labtest"
	"github.com/agentlab/agentlab/internal/memstat"
	"github.com/agentlab/agentlab/scenarios/scenario"
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

	sp := &spawnProcess{argv: []string{bin}}
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

	pp := &persistentProcess{argv: []string{bin}, agents: 2}
	if err := pp.start(ctx); err != nil {
		t.Fatal(err)
	}
	rss, _, err := pp.memory(ctx)
	pp.stop(ctx)
	if err != nil || len(pp.pss) != 1 || pp.pss[0] <= 0 || pp.pss[0] > rss {
		t.Errorf("persistent-process rss %.0f pss %v %v", rss, pp.pss, err)
	}

	mem := &scenario.Sampler{S: memstat.NewSampler(memstat.Config{Docker: r.Client}, memstat.DefaultSources(r.Client, nil)...)}
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
	if perr != nil || len(peaks) != 2 {
		t.Fatalf("peaks %v %v", peaks, perr)
	}
	ph, err := pd.hostOverhead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := sd.hostOverhead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const mib = 1 << 20
	t.Logf("spawn-process VmHWM %.2f MiB (ru_maxrss %.2f MiB); spawn-docker-raw cgroup peak %.2f MiB (%s), VmHWM %.2f MiB",
		sp.peakSelf[0]/mib, sp.peakRSS[0]/mib, sd.peaks[0]/mib, sd.peakSource, sd.peakSelf[0]/mib)
	t.Logf("persistent-process 2 agents: VmRSS %.2f MiB, PSS %.2f MiB", rss/mib, pp.pss[0]/mib)
	t.Logf("persistent-docker 2 agents: cgroup %.2f MiB, peaks %v (%s)", cg/mib, peaks, psrc)
	for _, h := range []*hostOverhead{ph, sh} {
		if h.NotMeasurable != "" {
			t.Logf("%s: %s", h.Pattern, h.NotMeasurable)
			continue
		}
		// Every container has a shim holding private dirty memory; the marginal figure is at least cgroup + that.
		pss, priv, proxy := orZero(h.ShimPSSBytes), orZero(h.ShimPrivateDirtyBytes), orZero(h.ProxyPrivateDirtyBytes)
		if len(h.Shims) != h.Containers || priv <= 0 || pss < priv || h.ProxyPrivateDirtyBytes == nil ||
			h.MarginalHostBytesPerContainer == nil || *h.MarginalHostBytesPerContainer < h.CgroupBytes+priv+proxy {
			t.Errorf("%s host overhead %+v", h.Pattern, h)
			continue
		}
		daemon := "not measured"
		if h.DaemonGrowthBytes != nil {
			daemon = fmt.Sprintf("%+.2f MiB (N=%d)", *h.DaemonGrowthBytes/mib, h.DaemonN)
		}
		t.Logf("%s, %d containers: cgroup %.2f, shim PSS %.2f / private dirty %.2f, proxy private dirty %.2f MiB, daemon growth %s → marginal %.2f MiB",
			h.Pattern, h.Containers, h.CgroupBytes/mib, pss/mib, priv/mib, proxy/mib, daemon, *h.MarginalHostBytesPerContainer/mib)
	}
	if orZero(sh.ProxyPrivateDirtyBytes) != 0 {
		t.Errorf("spawn containers (network none) have docker-proxy memory: %+v", sh.Proxies)
	}
	// The probe containers are gone (the task containers too).
	list, err := r.Client.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: client.Filters{}.Add("label", dockerx.LabelRunID+"="+r.ID).Add("label", dockerx.LabelRole+"=agent-once")})
	if err != nil || len(list.Items) != 0 {
		t.Errorf("one-shot containers left: %d, %v", len(list.Items), err)
	}
}

// With a remote daemon the host overhead is not measurable: said once for all container patterns, the marginal
// figure null, the cgroup figure still shown.
func TestHostOverheadRemoteSaidOnce(t *testing.T) {
	ctx := context.Background()
	loc := memstat.Locality{Reason: "docker host tcp://10.0.0.1:2375 is not a unix socket"}
	var res []*PatternResult
	for _, name := range []string{"spawn-docker", "persistent-docker"} {
		h := &hostOverhead{ContainerHostMemory: decide.ContainerHostMemory{Pattern: name, CgroupBytes: 1 << 20, CgroupSource: "docker stats"}}
		if err := measureHost(ctx, loc, nil, []string{"a", "b"}, &daemonGrowth{}, h); err != nil {
			t.Fatal(err)
		}
		if h.MarginalHostBytesPerContainer != nil || h.DaemonGrowthBytes != nil || h.ShimPrivateDirtyBytes != nil ||
			h.ProxyPrivateDirtyBytes != nil || h.NotMeasurable == "" || h.Containers != 2 {
			t.Fatalf("remote %s: %+v", name, h)
		}
		res = append(res, &PatternResult{Memory: memoryResult{Host: h}})
	}
	var b strings.Builder
	reportHostMemory(&b, res)
	if n := strings.Count(b.String(), "daemon's containers are not visible"); n != 1 {
		t.Errorf("reason said %d times:\n%s", n, b.String())
	}
	if n := strings.Count(b.String(), "marginal host memory: not measurable from here"); n != 2 {
		t.Errorf("want a line per pattern:\n%s", b.String())
	}
	js, _ := json.Marshal(res[0].Memory.Host)
	if !strings.Contains(string(js), `"marginal_host_bytes_per_container":null`) {
		t.Errorf("JSON %s", js)
	}
}
