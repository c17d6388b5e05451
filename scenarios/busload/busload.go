package busload

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/loadgen"
	"github.com/agentlab/agentlab/internal/stats"
	"github.com/agentlab/agentlab/scenarios/buses"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// bus-load: the seed's Test 2. Each run is one fresh bus container and one or more load-generator containers on
// a lab network, the bus pinned to --bus-cpus and the generators to --gen-cpus with fixed memory limits. Runs of
// the Go and the Rust bus alternate (A B A B …), --repeat times per configuration, and every figure is reported
// as the median over repeats with its 95 % bootstrap interval, plus Go/Rust ratios.
//
// Per agent count: first the closed-model saturation runs (targeted), then the open-model runs of every pattern at
// one offered delivery rate shared by both buses — --rate, or half the slower bus's median saturation
// throughput — so latency is compared at equal load.

const (
	busWarmup       = time.Second
	busWarmupQuick  = 500 * time.Millisecond
	busHold         = 500 * time.Millisecond
	busDrain        = 2 * time.Second
	busPayloadBytes = 64
	genSaturation   = 0.85 // generator CPU (getrusage) over the measured window, fraction of its cpuset, that marks a run generator-bound
	// genCoreSaturation: the same for how busy the generators' CPUs were in all (host /proc/stat): the kernel's
	// network processing (softirq) is charged to no process, yet it leaves the generator no headroom.
	genCoreSaturation = 0.95
	openFraction      = 0.5  // auto open-model rate: this fraction of the slower bus's saturation throughput
	openPerAgentRate  = 10.0 // open-model deliveries/s per agent when no saturation was measured and --rate is 0
	maxAgentsPerGen   = 25000
)

var (
	busSweep      = []int{100, 500, 1000}
	busSweepQuick = []int{decide.BusAgents}
)

type busLoadScenario struct{ flags *Flags }

// New is the bus-load scenario: the Go and the Rust bus under 100–10,000 WebSocket agents, reading its own flags
// from f (bound once, by the registry, to the lab's flag set).
func New(f *Flags) scenario.Scenario { return busLoadScenario{flags: f} }

func (busLoadScenario) Name() string      { return "bus-load" }
func (busLoadScenario) NeedsDocker() bool { return true }
func (busLoadScenario) Describe() string {
	return "Go bus vs Rust bus, 100–10,000 agents: saturation, open-model latency, memory per connection (seed Test 2)"
}

// --quick sizes of bus-load: Test 2 at the seed's 1000 agents with enough interleaved repeats for benchmath's
// interval (stats.MinNForCI), in shorter windows: a 1 s window at half the saturation rate still holds tens of
// thousands of latencies per run, and six repeats of it decide where two long ones could not.
//
// The saturation runs (Rust 2–5×, the best designs, memory slopes) get nine: on this 2-core host one saturation
// run in six comes out ~40 % slow for either bus (measured: go-netpoll 103k against 137k–176k deliveries/s), and at
// six repeats benchmath's interval is [min, max] of the per-repeat ratios, so one such run on each side left "Rust
// 2×" straddling 2 (1.20 [0.75–2.08]). At nine it is [2nd, 8th] of nine (coverage 96.1 %): one outlier at each end
// no longer moves it. The latency runs keep six: their p95s sit far from 50 ms.
const (
	quickRepeat      = 9
	quickOpenRepeat  = stats.MinNForCI
	quickDuration    = time.Second
	quickConnectRate = 2000
)

// ApplyQuick implements Quicker.
func (s busLoadScenario) ApplyQuick(p *scenario.Params, set func(string) bool) {
	if !set("repeat") {
		p.Repeat, s.flags.OpenRepeat = quickRepeat, quickOpenRepeat
	}
	if !set("duration") {
		s.flags.Duration = quickDuration
	}
	if !set("connect-rate") {
		s.flags.ConnectRate = quickConnectRate
	}
}

// Check implements Checker: the bus-load flags.
func (s busLoadScenario) Check(p scenario.Params) error { return checkBusLoad(Params{p, *s.flags}) }

func checkBusLoad(p Params) error {
	var errs []error
	if _, err := buses.Expand(p.Bus, nil); err != nil {
		errs = append(errs, err)
	}
	if _, err := buses.ParseBusImages(p.BusImages); err != nil {
		errs = append(errs, err)
	}
	if err := buses.CheckPlant(p.Params, nil, inBoth(p.Quick)...); err != nil {
		errs = append(errs, err)
	}
	if p.Repeat < 1 {
		errs = append(errs, fmt.Errorf("--repeat must be ≥ 1, got %d", p.Repeat))
	}
	if p.Rate < 0 || math.IsNaN(p.Rate) || math.IsInf(p.Rate, 0) {
		errs = append(errs, fmt.Errorf("--rate must be ≥ 0, got %v", p.Rate))
	}
	if p.Duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration must be > 0, got %v", p.Duration))
	}
	if _, err := parsePatterns(p.Patterns); err != nil {
		errs = append(errs, err)
	}
	if p.Model != "open" && p.Model != "closed" && p.Model != "both" {
		errs = append(errs, fmt.Errorf("--model %q: want open, closed or both", p.Model))
	}
	if p.Window < 1 {
		errs = append(errs, fmt.Errorf("--window must be ≥ 1, got %d", p.Window))
	}
	if p.Batch < 0 || p.Batch > p.Window {
		errs = append(errs, fmt.Errorf("--batch must be in [0, --window (%d)], got %d", p.Window, p.Batch))
	}
	if p.InFlight < p.Generators {
		errs = append(errs, fmt.Errorf("--inflight must be ≥ --generators (%d), got %d", p.Generators, p.InFlight))
	}
	if p.Generators < 1 || p.Generators > loadgen.MaxGenerators {
		errs = append(errs, fmt.Errorf("--generators must be in [1, %d], got %d", loadgen.MaxGenerators, p.Generators))
	}
	if !(p.ConnectRate > 0) {
		errs = append(errs, fmt.Errorf("--connect-rate must be > 0, got %v", p.ConnectRate))
	}
	for _, c := range []struct{ flag, v string }{{"bus-cpus", p.BusCPUs}, {"gen-cpus", p.GenCPUs}} {
		if _, err := cpusetCPUs(c.v); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", c.flag, err))
		}
	}
	for _, c := range []struct{ flag, v string }{{"bus-memory", p.BusMemory}, {"gen-memory", p.GenMemory}} {
		if n, err := units.RAMInBytes(c.v); err != nil || n < 6<<20 {
			errs = append(errs, fmt.Errorf("--%s %q: want a size of at least 6m, like 512m or 1g", c.flag, c.v))
		}
	}
	return errors.Join(errs...)
}

func parsePatterns(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "round-robin" {
			f = loadgen.PatternRoundRobin
		}
		if !slices.Contains(loadgen.Patterns, f) {
			return nil, fmt.Errorf("--patterns: unknown pattern %q; valid: %s", f, strings.Join(loadgen.Patterns, ", "))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	// Report order, whatever the flag's order.
	slices.SortFunc(out, func(a, b string) int {
		return slices.Index(loadgen.Patterns, a) - slices.Index(loadgen.Patterns, b)
	})
	return out, nil
}

// cpusetCPUs parses a cpuset ("0", "0-2", "1,3") into its CPU numbers.
func cpusetCPUs(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("cpuset %q: want CPU numbers like 0, 0-1 or 1,3", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("cpuset %q: want CPU numbers like 0, 0-1 or 1,3", s)
			}
		}
		for c := a; c <= b; c++ {
			if !slices.Contains(cpus, c) {
				cpus = append(cpus, c)
			}
		}
	}
	return cpus, nil
}

// busPlan is what a bus-load run measures, derived from Params.
type busPlan struct {
	agents        []int
	patterns      []string
	open, closed  bool
	closedPattern string // "" when no pattern fits the closed model
	repeat        int
	openRepeat    int // the open-model runs' repeats (≤ repeat)
	warmup        time.Duration
	busMem        int64
	genMem        int64
	busCPUs       []int
	genCPUs       []int
	// The idle ladder: memory per connection as a slope is measured in the runs of one configuration — the
	// largest agent count, the first configuration run there (closed, else the first open pattern) — one per bus
	// and repeat, interleaved like every run: the ramp pauses at ladderSteps, and the bus's memory is read after
	// each step settles. No ladder (ladderAgents 0) when the agents are too few to step.
	ladderAgents               int
	ladderPattern, ladderModel string
	ladderSteps                []int
	// openBest: the open-model runs measure only each language's best design (familyBest), the buses Test 2's
	// latency questions read; the others keep their saturation runs and slopes. --quick only, for time: the full
	// run measures every bus's latency.
	openBest bool
}

// ladderFractions are the idle ladder's steps, fractions of its agent count (0, 250, 500, 750, 1000 at 1000);
// quick has one step fewer (0, 250, 500, 1000: the fewest the issue asks for), each step ~0.7 s of settling.
var (
	ladderFractions      = []float64{0, 0.25, 0.5, 0.75, 1}
	ladderFractionsQuick = []float64{0, 0.25, 0.5, 1}
)

// ladderStepTimeout is how long a generator waits for the go-ahead at a step before going on without it (the lab
// gives it within connmem.DefaultSettle.Timeout of the step).
const ladderStepTimeout = 45 * time.Second

// isLadder reports whether the runs of (n, pattern, model) step through the idle ladder.
func (pl busPlan) isLadder(n int, pattern, model string) bool {
	return pl.ladderAgents > 0 && n == pl.ladderAgents && pattern == pl.ladderPattern && model == pl.ladderModel
}

// setLadder picks the ladder's configuration and steps.
func (pl *busPlan) setLadder(generators int, quick bool) {
	n := slices.Max(pl.agents)
	if n < 8*generators { // every generator's share of every step must grow
		return
	}
	switch {
	case pl.closed && pl.closedPattern != "":
		pl.ladderPattern, pl.ladderModel = pl.closedPattern, loadgen.ModelClosed
	case pl.open:
		pl.ladderPattern, pl.ladderModel = pl.patterns[0], loadgen.ModelOpen
	default:
		return
	}
	pl.ladderAgents = n
	pl.ladderSteps = nil
	fr := ladderFractions
	if quick {
		fr = ladderFractionsQuick
	}
	for _, f := range fr {
		pl.ladderSteps = append(pl.ladderSteps, int(math.Round(f*float64(n))))
	}
}

func newBusPlan(p Params) (busPlan, error) {
	if err := checkBusLoad(p); err != nil {
		return busPlan{}, err
	}
	pl := busPlan{repeat: p.Repeat, openRepeat: p.Repeat, warmup: busWarmup}
	if p.OpenRepeat > 0 && p.OpenRepeat < p.Repeat {
		pl.openRepeat = p.OpenRepeat
	}
	if p.Quick {
		pl.warmup = busWarmupQuick
	}
	switch {
	case p.AgentsSet:
		pl.agents = []int{p.Agents}
	case p.Quick:
		pl.agents = busSweepQuick
	default:
		pl.agents = busSweep
	}
	for _, n := range pl.agents {
		if n < 2*p.Generators {
			return pl, fmt.Errorf("bus-load needs at least 2 agents per generator, got --agents %d for %d generators", n, p.Generators)
		}
		if n > maxAgentsPerGen*p.Generators {
			return pl, fmt.Errorf("--agents %d: at most %d per generator container (ephemeral ports); raise --generators", n, maxAgentsPerGen)
		}
	}
	pl.patterns, _ = parsePatterns(p.Patterns)
	pl.open = p.Model == "open" || p.Model == "both"
	pl.closed = p.Model == "closed" || p.Model == "both"
	// Saturation is measured on a 1:1 pattern: a per-agent window of broadcasts (fan-out N−1) floods every queue
	// and measures drops, not throughput.
	for _, pt := range []string{loadgen.PatternTargeted, loadgen.PatternRoundRobin} {
		if slices.Contains(pl.patterns, pt) {
			pl.closedPattern = pt
			break
		}
	}
	if pl.closed && pl.closedPattern == "" && !pl.open {
		return pl, errors.New("--model closed needs the targeted or roundrobin pattern (broadcast has no closed model)")
	}
	pl.setLadder(p.Generators, p.Quick)
	pl.openBest = p.Quick && pl.open && pl.closed && pl.closedPattern != ""
	pl.busMem, _ = units.RAMInBytes(p.BusMemory)
	pl.genMem, _ = units.RAMInBytes(p.GenMemory)
	pl.busCPUs, _ = cpusetCPUs(p.BusCPUs)
	pl.genCPUs, _ = cpusetCPUs(p.GenCPUs)
	return pl, nil
}

// runs is the number of runs the plan makes with bs.
func (pl busPlan) runs(bs []buses.Spec) int {
	closed, open := 0, 0
	if pl.closed && pl.closedPattern != "" {
		closed = len(bs)
	}
	if pl.open {
		open = len(pl.patterns) * len(bs)
		if pl.openBest {
			open = len(pl.patterns) * len(families(bs))
		}
	}
	return (closed*pl.repeat + open*pl.openRepeat) * len(pl.agents)
}

// families groups buses by language design family, in first-seen order: the Go designs together, the Rust
// designs together, every other bus alone. Test 2 is decided on each family's best design.
func families(bs []buses.Spec) [][]string {
	var out [][]string
	idx := map[string]int{}
	for _, b := range bs {
		fam := b.Name
		switch {
		case slices.Contains(goBusNames, b.Name):
			fam = "go"
		case slices.Contains(rustBusNames, b.Name):
			fam = "rust"
		}
		i, ok := idx[fam]
		if !ok {
			i = len(out)
			idx[fam] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], b.Name)
	}
	return out
}

// inBoth is what bus-load adds to the default set ("both": go and rust): both designs of each language, so Test 2
// is decided on Go's best against Rust's best (issue 25; the first designs stay for their memory slopes and to
// show which design is best), and in the full run NATS, the reference (quick leaves it out for time).
func inBoth(quick bool) []string {
	extra := []string{buses.GoNetpoll, buses.RustEpoll}
	if !quick {
		extra = append(extra, buses.NATS)
	}
	return extra
}

func (s busLoadScenario) Run(ctx context.Context, senv *scenario.Env) (*scenario.Outcome, error) {
	env := &Env{Env: senv, Params: Params{senv.Params, *s.flags}}
	p := env.Params
	plan, err := newBusPlan(p)
	if err != nil {
		return nil, err
	}
	if p.SkipRust && (p.Bus == "rust" || p.Bus == buses.RustEpoll) {
		return nil, fmt.Errorf("--bus %s with --skip-rust leaves nothing to measure", p.Bus)
	}
	buses, notes, err := buses.Images(ctx, env.Env, "bus-load", inBoth(p.Quick)...)
	if err != nil {
		return nil, err
	}
	genImage, err := env.Images.Ensure(ctx, "loadgen")
	if err != nil {
		return nil, err
	}
	var refs []string
	for _, b := range buses {
		refs = append(refs, b.Image)
	}
	sw, swNotes, err := newSwarmTarget(ctx, env, append(refs, genImage))
	if err != nil {
		return nil, err
	}
	notes = append(notes, swNotes...)
	if sw != nil && p.Generators == 1 && sw.loadNodes > 1 {
		// One generator per node that is not the bus's, unless --generators says otherwise.
		env.Params.Generators = sw.loadNodes
		notes = append(notes, fmt.Sprintf("swarm: %d generators, one per node without the bus", sw.loadNodes))
	}
	warn, err := checkCPUs(ctx, env.Docker, plan)
	if err != nil {
		return nil, err
	}
	if warn != "" {
		notes = append(notes, warn)
		fmt.Fprintln(env.Log, "bus-load: "+warn)
	}
	nw, err := network.New(ctx, network.WithLabels(dockerx.Labels(env.RunID, "network")))
	if err != nil {
		return nil, fmt.Errorf("lab network: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := nw.Remove(rctx); err != nil {
			fmt.Fprintf(env.Log, "bus-load: remove network: %v\n", err)
		}
	}()
	meter, err := newBusMeter(ctx, env, plan.busCPUs, plan.genCPUs, p.CAdvisor && sw == nil)
	if err != nil {
		return nil, err
	}
	lab := &busLab{env: env, plan: plan, nw: nw, genImage: genImage, mem: meter, swarm: sw}
	res := newBusLoadResult(env, plan, buses, notes)
	bar := env.Progress("runs", plan.runs(buses))
	runErr := lab.sweep(ctx, buses, res, bar)
	lab.settle()
	bar.Done()
	ms := meter.stop(ctx)
	res.MemSampling = &ms
	res.finish(ctx.Err() != nil)
	return res.outcome(), runErr
}

// checkCPUs fails early when a cpuset names a CPU the daemon's machine does not have, and warns when the bus and
// the generators share CPUs (then neither has a fixed allowance).
func checkCPUs(ctx context.Context, cli *client.Client, pl busPlan) (string, error) {
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", fmt.Errorf("docker info: %w", err)
	}
	n := info.Info.NCPU
	for _, c := range append(slices.Clone(pl.busCPUs), pl.genCPUs...) {
		if c >= n {
			return "", fmt.Errorf("cpuset names CPU %d but the Docker host has %d CPUs (0–%d): set --bus-cpus and --gen-cpus", c, n, n-1)
		}
	}
	if slices.ContainsFunc(pl.busCPUs, func(c int) bool { return slices.Contains(pl.genCPUs, c) }) {
		return "bus and generators share CPUs (--bus-cpus, --gen-cpus overlap): the bus's CPU allowance is not fixed", nil
	}
	return "", nil
}

// busLab runs the sweep.
type busLab struct {
	env      *Env
	plan     busPlan
	nw       *testcontainers.DockerNetwork
	genImage string
	mem      *busMeter
	seq      int
	swarm    *swarmTarget // nil: one Docker host
	retiring sync.WaitGroup
}

// sweep runs every configuration, buses alternating within each repeat.
func (l *busLab) sweep(ctx context.Context, buses []buses.Spec, res *Result, bar interface{ Add(int) }) error {
	pl := l.plan
	for _, n := range pl.agents {
		if pl.closed && pl.closedPattern != "" {
			for rep := 0; rep < pl.repeat; rep++ {
				for _, b := range buses {
					if err := l.one(ctx, res, b, n, pl.closedPattern, loadgen.ModelClosed, 0, rep, bar); err != nil {
						return err
					}
				}
			}
		}
		if !pl.open {
			continue
		}
		openBuses := buses
		if pl.openBest {
			openBuses = l.familyBest(res, buses, n)
		}
		rate, how := l.openRate(res, n)
		or := openRate{Agents: n, DeliveriesPerS: rate, How: how}
		if l.env.Params.Rate == 0 {
			if err := l.calibrate(ctx, openBuses, &or); err != nil {
				return err
			}
		}
		rate = or.DeliveriesPerS
		res.OpenRates = append(res.OpenRates, or)
		for rep := 0; rep < pl.openRepeat; rep++ {
			for _, pt := range pl.patterns {
				for _, b := range openBuses {
					if err := l.one(ctx, res, b, n, pt, loadgen.ModelOpen, rate, rep, bar); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// familyBest is, of each language's designs (families), the one Test 2 is decided on — the most deliveries per
// bus CPU-second in the saturation runs at n, the rule of Result.best — in the order of bs. It is noted in res.
func (l *busLab) familyBest(res *Result, bs []buses.Spec, n int) []buses.Spec {
	sat := cfgKey{n, l.plan.closedPattern, loadgen.ModelClosed}
	var names, left []string
	for _, fam := range families(bs) {
		best := fam[0]
		if len(fam) > 1 {
			best, _ = res.best(fam, fam[0], "", sat)
		}
		names = append(names, best)
		for _, b := range fam {
			if b != best {
				left = append(left, b)
			}
		}
	}
	var out []buses.Spec
	for _, b := range bs {
		if slices.Contains(names, b.Name) {
			out = append(out, b)
		}
	}
	if len(left) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("--quick: open-model latency at %d agents measured on %s only, each language's best design by deliveries per bus CPU-second at saturation (the buses Test 2 is decided on); %s kept their saturation runs and memory slopes (the full run measures every bus's latency)",
			n, strings.Join(names, ", "), strings.Join(left, ", ")))
	}
	return out
}

// openRate is the deliveries/s every open-model run at n agents offers.
func (l *busLab) openRate(res *Result, n int) (float64, string) {
	p := l.env.Params
	if p.Rate > 0 {
		return p.Rate, "--rate"
	}
	sat := math.Inf(1)
	for _, b := range res.Buses {
		if s, ok := res.saturation(b.Name, n); ok {
			sat = min(sat, s)
		}
	}
	if !math.IsInf(sat, 1) && sat > 0 {
		return math.Round(openFraction * sat), fmt.Sprintf("%.0f %% of the slower bus's median saturation throughput (%.0f/s)", 100*openFraction, sat)
	}
	return openPerAgentRate * float64(n), fmt.Sprintf("no saturation measured: %.0f deliveries/s per agent", openPerAgentRate)
}

// Calibration of the automatic open-model rate: the generator must not be the bottleneck of the runs that judge
// latency, and an open-model message costs it a syscall each way (no batching), about what it costs the bus. So the
// candidate rate is probed with a short targeted run and lowered until the generator keeps headroom.
const (
	probeMaxUtil    = 0.75 // generator getrusage CPU, fraction of its cpuset
	probeMaxBusy    = 0.85 // generators' cpuset busy (/proc/stat)
	probeMaxTries   = 4
	probeMinRateAgt = 1.0 // deliveries/s per agent: never probe below this
)

type rateProbe struct {
	Bus            string  `json:"bus"`
	DeliveriesPerS float64 `json:"offered_deliveries_per_s"`
	GenUtilization float64 `json:"gen_cpu_utilization"`
	GenCoresBusy   float64 `json:"gen_cpuset_busy"`
	Error          string  `json:"error,omitempty"`
}

// calibrate lowers or.DeliveriesPerS until a short probe on every bus leaves the generator headroom: the same
// rate costs the generator more against a faster bus (fewer deliveries per read), so each bus is probed.
func (l *busLab) calibrate(ctx context.Context, buses []buses.Spec, or *openRate) error {
	rate := or.DeliveriesPerS
	for try := 0; try < probeMaxTries; try++ {
		load, failed := 0.0, false
		for _, b := range buses {
			// The probe is a run like the measured ones (same warm-up and window): shorter probes read the
			// generator's CPU ~15 points low and left the measured runs generator-bound.
			r, fatal := l.runFor(ctx, b, or.Agents, loadgen.PatternTargeted, loadgen.ModelOpen, rate, 0, l.plan.warmup, l.env.Params.Duration, false)
			if fatal != nil || ctx.Err() != nil {
				return errors.Join(fatal, ctx.Err())
			}
			or.Probes = append(or.Probes, rateProbe{Bus: b.Name, DeliveriesPerS: rate, GenUtilization: r.Gen.Utilization,
				GenCoresBusy: r.Gen.CoresBusy, Error: r.Error})
			failed = failed || r.Error != ""
			load = max(load, r.Gen.Utilization/probeMaxUtil, r.Gen.CoresBusy/probeMaxBusy)
		}
		if failed || load <= 1 {
			break
		}
		// Generator CPU grows about linearly with the rate: aim at 85 % of the limits.
		next := math.Round(rate * max(0.3, min(0.9, 0.85/load)))
		if next < probeMinRateAgt*float64(or.Agents) {
			break
		}
		or.How += fmt.Sprintf("; lowered to %.0f/s: the generator had no headroom at %.0f/s", next, rate)
		rate = next
		or.DeliveriesPerS = rate
	}
	return nil
}

// one runs one configuration on one bus and records it; only a cancelled context stops the sweep.
func (l *busLab) one(ctx context.Context, res *Result, b buses.Spec, n int, pattern, model string, rate float64,
	rep int, bar interface{ Add(int) }) error {
	l.seq++
	r, fatal := l.run(ctx, b, n, pattern, model, rate, rep)
	r.Sequence = l.seq
	res.add(b.Name, r)
	bar.Add(1)
	if fatal != nil && ctx.Err() == nil {
		return fatal
	}
	if r.Error != "" && ctx.Err() == nil {
		fmt.Fprintf(l.env.Log, "bus-load: %s bus, %d agents, %s %s, repeat %d: %s\n", b.Name, n, pattern, model, rep+1, r.Error)
	}
	return ctx.Err()
}
