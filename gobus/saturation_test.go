package gobus

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/agentlab/agentlab/internal/loadgen"
)

// BenchmarkSaturation drives the bus in this process with the real load generator (cmd/loadgen) in a child
// process, closed model, so this process's CPU is the bus's alone: `-cpuprofile` and `-memprofile` then profile
// the bus, and the figures are per bus CPU-second, which noise from other load on the machine moves far less
// than wall throughput. `make profile` runs it pinned (bus on CPU 0, generator on CPU 1, as bus-load does).
//
// Reported per run: deliveries/cpu-s (bus getrusage over the measured window), cpu-ns/delivery (its inverse),
// deliveries/s (wall), bus-cores, and gen-util (the generator's CPU ÷ its allowance; above 0.85 the run was
// generator-bound and deliveries/s is a lower bound of the bus's limit, not the limit).
func BenchmarkSaturation(b *testing.B) {
	if raceEnabled {
		b.Skip("meaningless under -race")
	}
	bin := buildLoadgen(b)
	// The transports alternate at each size, so with -count=N their runs interleave and share the machine's
	// conditions.
	for _, agents := range []int{100, 1000} {
		for _, tr := range []string{TransportGorilla, TransportNetpoll} {
			b.Run(fmt.Sprintf("pattern=targeted/agents=%d/transport=%s", agents, tr), func(b *testing.B) {
				var r satRun
				for b.Loop() {
					r = runSaturation(b, bin, tr, agents)
				}
				b.ReportMetric(r.perCPUSec, "deliveries/cpu-s")
				b.ReportMetric(1e9/r.perCPUSec, "cpu-ns/delivery")
				b.ReportMetric(r.perSec, "deliveries/s")
				b.ReportMetric(r.busCores, "bus-cores")
				b.ReportMetric(r.genUtil, "gen-util")
			})
		}
	}
}

var satDuration = flag.Duration("sat.duration", 3*time.Second, "BenchmarkSaturation: measured window per run")

var (
	loadgenOnce sync.Once
	loadgenBin  string
	loadgenErr  error
)

// buildLoadgen compiles cmd/loadgen once per test binary.
func buildLoadgen(b *testing.B) string {
	loadgenOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gobus-sat-")
		if err != nil {
			loadgenErr = err
			return
		}
		loadgenBin = filepath.Join(dir, "loadgen")
		out, err := exec.Command("go", "build", "-o", loadgenBin, "github.com/agentlab/agentlab/cmd/loadgen").CombinedOutput()
		if err != nil {
			loadgenErr = fmt.Errorf("build loadgen: %v\n%s", err, out)
		}
	})
	if loadgenErr != nil {
		b.Fatal(loadgenErr)
	}
	return loadgenBin
}

type satRun struct{ perCPUSec, perSec, busCores, genUtil float64 }

// satSample is the bus's state at one instant: deliveries so far and this process's CPU time.
type satSample struct {
	at         int64 // Unix ns
	deliveries float64
	cpuNs      int64
}

func runSaturation(b *testing.B, bin, transport string, agents int) satRun {
	b.StopTimer()
	defer b.StartTimer()
	ls := startServer(b, Options{Transport: transport, MaxConnections: agents + 10})
	defer ls.stop(b)

	cfg := loadgen.DefaultConfig()
	cfg.URL = "ws://" + ls.addr + "/ws"
	cfg.Agents = agents
	cfg.Model = loadgen.ModelClosed
	// bus-load's closed model: 32 per agent sent as one batch, 3000 in flight over all agents.
	cfg.Window, cfg.InFlight = 32, 3000
	cfg.Hold, cfg.Warmup, cfg.Duration = 200*time.Millisecond, time.Second, *satDuration
	cfg.ConnectRate = 5000
	cfg.CPUAllowance = 1
	args := cfg.Args()
	cmdName := bin
	// The generator gets the other CPU when there is one, as in bus-load (bus pinned to one CPU, generator to the
	// other); run the benchmark itself under `taskset -c 0` for the bus's half.
	if _, err := exec.LookPath("taskset"); err == nil && runtime.NumCPU() >= 2 {
		args = append([]string{"-c", "1", bin}, args...)
		cmdName = "taskset"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Sample deliveries and CPU every 10 ms; the window's figures come from the samples inside it.
	stop := make(chan struct{})
	samples := make(chan []satSample, 1)
	go func() {
		var ss []satSample
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			ss = append(ss, satSample{at: time.Now().UnixNano(), deliveries: deliveries(ls.Server), cpuNs: procCPUNs()})
			select {
			case <-tick.C:
			case <-stop:
				samples <- ss
				return
			}
		}
	}()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, cmdName, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	close(stop)
	ss := <-samples
	if err != nil {
		b.Fatalf("loadgen: %v\n%s", err, stderr.Bytes())
	}
	res, err := loadgen.DecodeResult(stdout.Bytes())
	if err != nil {
		b.Fatalf("loadgen result: %v", err)
	}
	if res.Received == 0 || res.WriteErrors+res.ReadErrors != 0 {
		b.Fatalf("loadgen: received %d, read errors %d, write errors %d; notes %v", res.Received, res.ReadErrors,
			res.WriteErrors, res.Notes)
	}
	var first, last *satSample
	for i := range ss {
		if ss[i].at < res.Times.MeasureStart || ss[i].at > res.Times.MeasureEnd {
			continue
		}
		if first == nil {
			first = &ss[i]
		}
		last = &ss[i]
	}
	if first == nil || last.at-first.at < int64(*satDuration)/2 {
		b.Fatalf("too few samples inside the measured window")
	}
	d := last.deliveries - first.deliveries
	cpu := float64(last.cpuNs-first.cpuNs) / 1e9
	wall := float64(last.at-first.at) / 1e9
	return satRun{perCPUSec: d / cpu, perSec: d / wall, busCores: cpu / wall, genUtil: res.CPU.Utilization}
}

// deliveries is the bus's delivery counter, all modes.
func deliveries(s *Server) float64 {
	var sum float64
	var m dto.Metric
	for _, c := range s.m.deliveries {
		if c.Write(&m) == nil {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// procCPUNs is this process's user+system CPU time (getrusage).
func procCPUNs() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
