package containers_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/agentlab/agentlab/internal/conformance/wsclient"
	"github.com/agentlab/agentlab/internal/containers"
	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/labtest"
	"github.com/agentlab/agentlab/internal/memstat"
)

// idleSteps are the registered idle connections at which a bus container's memory is read.
var idleSteps = []int{0, 500, 1000, 1500, 2000}

// BenchmarkIdleMemoryPerConnection measures what one more idle registered connection costs each bus image, as
// the slope of its container's memory (cgroup working set: usage − inactive file, as docker stats; the Engine
// API's stats when the daemon is not local) against 0–2000 connections, by least squares. The connections are
// made by the protocol's own client (wsclient, written from docs/protocol.md) to the container's address on its
// network (no docker-proxy in between), each registered before the next step is read. Reported: KiB/conn (the
// slope) and base-MiB (the fitted memory at zero connections).
//
//	go test -run '^$' -bench IdleMemoryPerConnection -benchtime 1x ./internal/containers/
func BenchmarkIdleMemoryPerConnection(b *testing.B) {
	r := labtest.Docker(b)
	bld := images.NewBuilder(r.Client, r.Root, labtest.Log(b))
	b.Cleanup(func() { _ = bld.Close() })
	for _, bus := range []struct {
		name, image string
		env         map[string]string
	}{
		{"go", "gobus", nil},
		{"go-netpoll", "gobus", map[string]string{"BUS_TRANSPORT": "netpoll"}},
		{"rust", "rustbus", nil},
		{"rust-epoll", "rustepoll", nil},
	} {
		b.Run("bus="+bus.name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(b.Context(), 10*time.Minute)
			defer cancel()
			ref, err := bld.Ensure(ctx, bus.image)
			if err != nil {
				b.Skipf("image %s: %v", bus.image, err)
			}
			var slope, base float64
			for b.Loop() {
				slope, base = idleSlope(ctx, b, r, ref, bus.env)
			}
			b.ReportMetric(slope/1024, "KiB/conn")
			b.ReportMetric(base/(1<<20), "base-MiB")
		})
	}
}

// idleSlope starts one bus container and returns the fitted bytes per idle connection and at zero.
func idleSlope(ctx context.Context, b *testing.B, r *labtest.Run, ref string, env map[string]string) (float64, float64) {
	opts := []testcontainers.ContainerCustomizer{testcontainers.WithLabels(r.Labels("bus"))}
	if env != nil {
		opts = append(opts, containers.WithBusEnv(env))
	}
	bus, err := containers.RunBus(ctx, ref, opts...)
	testcontainers.CleanupContainer(b, bus)
	if err != nil {
		b.Fatal(err)
	}
	ip, err := bus.ContainerIP(ctx)
	if err != nil {
		b.Fatal(err)
	}
	url := "ws://" + ip + ":8080/ws"
	var src interface {
		Sample(context.Context, []string) ([]memstat.Sample, error)
	} = memstat.NewDockerStats(r.Client)
	if loc := memstat.DetectLocality(ctx, r.Client, bus.GetContainerID()); loc.Local {
		cg, err := memstat.NewCgroupFor(loc, r.Client, time.Now)
		if err != nil {
			b.Fatal(err)
		}
		src = cg
	}
	read := func() float64 {
		// The median of three reads: the working set moves a little with the kernel's lazy frees.
		var xs []float64
		for range 3 {
			s, err := src.Sample(ctx, []string{bus.GetContainerID()})
			if err != nil || len(s) == 0 {
				b.Fatalf("memory of the bus: %v", err)
			}
			xs = append(xs, float64(s[0].WorkingSetBytes))
		}
		slices.Sort(xs)
		return xs[1]
	}
	var conns []*wsclient.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Abort()
		}
	}()
	var ns, mem []float64
	for _, n := range idleSteps {
		for len(conns) < n {
			c, err := wsclient.Dial(ctx, url)
			if err != nil {
				b.Fatalf("connection %d: %v", len(conns)+1, err)
			}
			conns = append(conns, c)
			if err := c.Register(ctx, fmt.Sprintf("idle-%d", len(conns))); err != nil {
				b.Fatal(err)
			}
		}
		ns, mem = append(ns, float64(n)), append(mem, read())
		b.Logf("%d connections: %.1f MiB", n, mem[len(mem)-1]/(1<<20))
	}
	slope, base := leastSquares(ns, mem)
	if slope <= 0 || math.IsNaN(slope) {
		b.Fatalf("memory did not grow with connections: %v bytes at %v", mem, ns)
	}
	return slope, base
}

// leastSquares fits y = slope·x + base.
func leastSquares(x, y []float64) (slope, base float64) {
	var sx, sy, sxx, sxy float64
	n := float64(len(x))
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		sxy += x[i] * y[i]
	}
	slope = (n*sxy - sx*sy) / (n*sxx - sx*sx)
	return slope, (sy - slope*sx) / n
}
