package busload

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/labtest"
	"github.com/agentlab/agentlab/internal/loadgen"
	"github.com/agentlab/agentlab/internal/memstat"
	"github.com/agentlab/agentlab/internal/rundir"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// TestBusLoadBothBuses runs the scenario small — 50 agents, 1 s windows, every pattern open at a low rate plus the
// closed model — against both bus images, and checks what a user gets: every message delivered, latencies
// recorded, memory and CPU read, the seed's files written, and nothing left on the daemon.
func TestBusLoadBothBuses(t *testing.T) {
	r := labtest.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	b := r.Builder(t)

	p := busParams()
	p.Agents, p.AgentsSet, p.Repeat, p.Quick = 50, true, 1, true
	p.Rate, p.Duration, p.Window = 200, time.Second, 4
	// go and rust, not the default set: at 50 agents the best designs' memory (~2 KiB per connection) moves in
	// allocator steps too coarse for a slope, so the memory decision below could not be checked on them.
	p.Bus = "go,rust"
	want := []string{"go", "rust"}
	if _, err := b.Ensure(ctx, "rustbus"); errors.Is(err, images.ErrNoCargo) {
		t.Log("Rust bus skipped: cargo is not installed (images.ErrNoCargo); measuring the Go bus only")
		p.Bus, want = "go", want[:1]
	} else if err != nil {
		t.Fatal(err)
	}
	env := &scenario.Env{RunID: r.ID, Params: p.Params, Docker: r.Client, Images: b, Log: labtest.Log(t), Now: time.Now}
	out, err := New(&p.Flags).Run(ctx, env)
	if err != nil {
		t.Fatal(err)
	}

	for _, bus := range want {
		v, _ := out.File(bus + "-ws-metrics.json")
		f, ok := v.(File)
		if !ok {
			t.Fatalf("no %s-ws-metrics.json in %v", bus, out.Files)
		}
		if len(f.Runs) != 4 {
			t.Fatalf("%s: %d runs, want 4 (closed targeted + 3 open patterns)", bus, len(f.Runs))
		}
		for _, run := range f.Runs {
			name := bus + " " + run.Pattern + " " + run.Model
			if run.Error != "" {
				t.Errorf("%s: %s", name, run.Error)
				continue
			}
			if run.Sessions.Registered != 50 || run.Connecting.Count != 50 {
				t.Errorf("%s: sessions %+v, %d connect times", name, run.Sessions, run.Connecting.Count)
			}
			if run.Sent == 0 || run.Latency.Count != run.Received || run.Latency.P50MS <= 0 {
				t.Errorf("%s: sent %d, received %d, latency %+v", name, run.Sent, run.Received, run.Latency)
			}
			if run.Model == loadgen.ModelOpen && run.DeliveryRatio != 1 {
				t.Errorf("%s: delivery ratio %v at 200 deliveries/s (sent %d, received %d, expected %d)", name,
					run.DeliveryRatio, run.Sent, run.Received, run.Expected)
			}
			if run.Pattern == loadgen.PatternTargeted && run.Model == loadgen.ModelOpen && run.Sent != 200 {
				t.Errorf("%s: %d messages in the 1 s window, want 200 (the schedule)", name, run.Sent)
			}
			if run.BusFig.MemPerConn <= 0 || run.BusFig.MemSource == "" || run.BusFig.CPUCores <= 0 || run.BusFig.Deliveries <= 0 {
				t.Errorf("%s: bus figures %+v", name, run.BusFig)
			}
			// Issue 15: both buses' counters read at the drain end, every error code present, nothing undelivered.
			if run.BusFig.MetricsAt != "drain_end" || len(run.BusFig.Errors) == 0 || run.BusFig.Errors["unknown_target"] != 0 ||
				run.BusFig.ErrorsAfterDrain == nil || run.DrainEnd != loadgen.DrainComplete || run.Undelivered() != 0 {
				t.Errorf("%s: counters at %q, errors %v, drain %s, undelivered %d", name, run.BusFig.MetricsAt,
					run.BusFig.Errors, run.DrainEnd, run.Undelivered())
			}
			if run.Gen.WallS < 0.9 || run.Gen.UserS+run.Gen.SysS <= 0 {
				t.Errorf("%s: generator CPU %+v", name, run.Gen)
			}
		}
	}

	// The files as the lab writes them.
	dir := t.TempDir()
	run, err := rundir.Create(dir, r.ID, rundir.Environment{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range out.Files {
		if err := run.Write(f.Name, f.Value, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	for _, bus := range want {
		js, err := os.ReadFile(filepath.Join(run.Dir, bus+"-ws-metrics.json"))
		if err != nil {
			t.Fatal(err)
		}
		var back struct {
			SchemaVersion int       `json:"schema_version"`
			Summaries     []Summary `json:"summaries"`
		}
		if err := json.Unmarshal(js, &back); err != nil || back.SchemaVersion != busLoadSchema || len(back.Summaries) != 4 {
			t.Errorf("%s file: %v, %d summaries", bus, err, len(back.Summaries))
		}
	}
	if d := out.Decisions.MessageBus; d == nil || d.Agents != 50 || (len(want) == 2 && d.Memory.Value == nil) {
		t.Errorf("decision %+v", d)
	}

	// The scenario removed its containers and network itself.
	r.NothingLeft(ctx, t)
}

// TestBusLoadRemoteDaemon runs bus-load with its Docker client on the daemon over TCP (socat): to the lab a remote
// daemon. The bus containers must then be measured through the daemon only (Engine API stats, and cAdvisor, which
// runs on the daemon's host): the sources are named, the
// locality says remote, and not one of this host's cgroup or /proc files is read (memstat.LocalReads counts every
// such read, so the test fails if the bus-load path reads one).
func TestBusLoadRemoteDaemon(t *testing.T) {
	r := labtest.Docker(t)
	tcp := r.TCPDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	b := r.Builder(t)
	if _, err := b.Ensure(ctx, "gobus"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Ensure(ctx, "loadgen"); err != nil {
		t.Fatal(err)
	}

	p := busParams()
	p.Agents, p.AgentsSet, p.Repeat, p.Quick = 10, true, 1, true
	p.Bus, p.Model, p.Patterns, p.Duration, p.Window = "go", "closed", "targeted", time.Second, 2
	p.CAdvisor = true // started on the daemon's host (its binds are that host's paths), read at its mapped port
	var log strings.Builder
	env := &scenario.Env{RunID: r.ID, Params: p.Params, Docker: tcp, Images: b, Log: io.MultiWriter(&log, labtest.Log(t)), Now: time.Now}
	before := memstat.LocalReads()
	out, err := New(&p.Flags).Run(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if n := memstat.LocalReads() - before; n != 0 {
		t.Errorf("bus-load read %d local cgroup or /proc files with a remote daemon", n)
	}
	v, _ := out.File("go-ws-metrics.json")
	f := v.(File)
	ms := f.MemSampling
	if ms == nil || ms.Locality == nil || ms.Locality.Local || len(ms.Sources) == 0 || ms.Sources[0] != memstat.SourceDockerStats ||
		slices.ContainsFunc(ms.Sources, func(s string) bool { return s != memstat.SourceDockerStats && s != memstat.SourceCAdvisor }) {
		t.Fatalf("memory sampling %+v", ms)
	}
	if !strings.Contains(ms.CPUSetBusy, "not measurable remotely") {
		t.Errorf("cpuset busy source %q", ms.CPUSetBusy)
	}
	if len(f.Runs) != 1 || f.Runs[0].Error != "" {
		t.Fatalf("runs %+v", f.Runs)
	}
	run := f.Runs[0]
	// (Docker stats answers about once a second: too coarse for memory per connection of 10 agents over a 0.5 s hold.)
	if run.BusFig.MemSource != memstat.ReadDockerStats || run.BusFig.MemConnected == 0 || run.BusFig.CoresBusy != 0 ||
		len(run.BusFig.MemSources) != len(ms.Sources) || run.BusFig.MemSources[0].Samples == 0 {
		t.Errorf("bus figures %+v", run.BusFig)
	}
	for _, want := range []string{"daemon remote", "through the daemon only", "no local cgroup file"} {
		if strings.Count(log.String(), want) != 1 {
			t.Errorf("log says %q %d times, want once:\n%s", want, strings.Count(log.String(), want), log.String())
		}
	}
}
