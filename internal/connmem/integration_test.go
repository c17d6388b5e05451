package connmem

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/agentlab/agentlab/internal/containers"
	"github.com/agentlab/agentlab/internal/labtest"
	"github.com/agentlab/agentlab/internal/loadgen"
	"github.com/agentlab/agentlab/internal/memstat"
	"github.com/agentlab/agentlab/internal/stats"
)

// TestLadderOnBuses steps every bus through idle connections (0, 250, 500, 1000 unless AGENTLAB_CONNMEM_STEPS
// says otherwise), buses interleaved per repeat (AGENTLAB_CONNMEM_REPEATS, default 2), and fits the slope. It
// asserts what must hold on any machine — every step reached with its connections registered, memory rising
// along a line (R² ≥ 0.7: the Go runtime grows its heap in steps, so Go's lines bend) — and logs the figures (go test -v): the README's memory per connection comes from
// bus-load, which runs the same ladder.
func TestLadderOnBuses(t *testing.T) {
	r := labtest.Docker(t)
	steps := []int{0, 250, 500, 1000}
	if s := os.Getenv("AGENTLAB_CONNMEM_STEPS"); s != "" {
		var err error
		if steps, err = loadgen.ParseSteps(s); err != nil {
			t.Fatal(err)
		}
	}
	repeats := 2
	if s := os.Getenv("AGENTLAB_CONNMEM_REPEATS"); s != "" {
		repeats, _ = strconv.Atoi(s)
	}
	type bus struct {
		name, image string
		args        []string
	}
	gobus := r.Image(t, "gobus")
	buses := []bus{{"go", gobus, nil}, {"go-netpoll", gobus, []string{"--transport=netpoll"}}}
	if os.Getenv("AGENTLAB_CONNMEM_SKIP_RUST") == "" {
		buses = append(buses, bus{"rust", r.Image(t, "rustbus"), nil})
	}
	genImage := r.Image(t, "loadgen")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	nw, err := network.New(ctx, network.WithLabels(r.Labels("network")))
	if err != nil {
		t.Fatal(err)
	}
	sampler := memstat.NewSampler(memstat.Config{Docker: r.Client}, memstat.DefaultSources(r.Client, time.Now)...)
	pinned := func(cpus string) testcontainers.CustomizeRequestOption {
		return testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.CpusetCpus = cpus })
	}
	readings := map[string][][]stats.ConnReading{}
	for rep := 0; rep < repeats; rep++ {
		for _, b := range buses {
			opts := []testcontainers.ContainerCustomizer{
				testcontainers.WithLabels(r.Labels("bus")), containers.WithNetworkAlias(nw, "bus"),
				containers.WithMaxConnections(steps[len(steps)-1] + 1000), pinned("0"),
			}
			if len(b.args) > 0 {
				opts = append(opts, testcontainers.WithCmd(b.args...))
			}
			bc, err := containers.RunBus(ctx, b.image, opts...)
			if err != nil {
				t.Fatal(err)
			}
			id := bc.GetContainerID()
			if err := sampler.Add(ctx, id, "bus "+b.name); err != nil {
				t.Fatal(err)
			}
			cfg := loadgen.DefaultConfig()
			cfg.Agents, cfg.Model, cfg.IdleSteps, cfg.ConnectRate = steps[len(steps)-1], loadgen.ModelIdle, steps, 2000
			gc, err := containers.RunGenerator(ctx, genImage, testcontainers.WithCmd(cfg.Args()...),
				testcontainers.WithLabels(r.Labels("loadgen")), network.WithNetwork(nil, nw), pinned("1"))
			if err != nil {
				t.Fatal(err)
			}
			lad := Ladder{Docker: r.Client, Generators: []string{gc.GetContainerID()}, Steps: len(steps),
				Read: func(ctx context.Context) (float64, time.Time, error) {
					s, _, err := sampler.Read(ctx, id)
					return float64(s.MemoryBytes), s.Time, err
				}}
			t0 := time.Now()
			pts, err := lad.Run(ctx)
			if err != nil {
				t.Fatalf("%s: %v", b.name, err)
			}
			took := time.Since(t0)
			for i, p := range pts {
				if p.Conns != steps[i] || !p.Settled {
					t.Errorf("%s step %d: %+v", b.name, i, p)
				}
			}
			f, ok := stats.FitConn(Readings(pts))
			if !ok || f.SlopeBytes < 1<<10 || f.SlopeBytes > 64<<10 || f.R2 < 0.7 {
				t.Errorf("%s: fit %+v from %+v", b.name, f, pts)
			}
			line := ""
			for _, p := range pts {
				line += fmt.Sprintf(" %d:%.2fMiB(%.1fs,%d)", p.Conns, p.Bytes/(1<<20), p.SettleS, p.Readings)
			}
			t.Logf("%s repeat %d: slope %.2f KiB/conn, intercept %.2f MiB, R² %.4f, ladder %v;%s", b.name, rep+1,
				f.SlopeBytes/1024, f.InterceptBytes/(1<<20), f.R2, took.Round(10*time.Millisecond), line)
			readings[b.name] = append(readings[b.name], Readings(pts))
			sampler.Remove(id)
			_ = gc.Terminate(ctx)
			_ = bc.Terminate(ctx)
		}
	}
	for _, b := range buses {
		s, _ := stats.FitConnSlope(readings[b.name])
		// The issue-22 method, as context: one line through every reading, the idle one included.
		var through0 []float64
		for _, rs := range readings[b.name] {
			x, y := make([]float64, len(rs)), make([]float64, len(rs))
			for i, r := range rs {
				x[i], y[i] = float64(r.Conns), r.Bytes
			}
			if lf, ok := stats.LinearFit(x, y); ok {
				through0 = append(through0, lf.Slope)
			}
		}
		t.Logf("%s: slope %s KiB/conn, intercept %s MiB, R² ≥ %.3f; a line through the idle reading too: %s KiB/conn",
			b.name, scaled(s.PerConn, 1024), scaled(s.Intercept, 1<<20), s.R2Min, scaled(stats.MedianCI(through0), 1024))
	}
}

func scaled(iv stats.Interval, unit float64) string {
	iv.Estimate /= unit
	iv.Min /= unit
	iv.Max /= unit
	if iv.HasCI() {
		lo, hi := *iv.Low95/unit, *iv.High95/unit
		iv.Low95, iv.High95 = &lo, &hi
	}
	return iv.Format("%.2f")
}
