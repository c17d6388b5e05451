package busload

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/loadgen"
	"github.com/agentlab/agentlab/internal/stats"
	"github.com/agentlab/agentlab/scenarios/buses"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// Result accumulates the runs and summarises them; the decision comes from decide.Bus, the table from
// table (table.go). Nothing here prints or decides.
type Result struct {
	Buses       []buses.Spec
	Params      busLoadParams
	Limits      busLimits
	Notes       []string
	OpenRates   []openRate
	Interrupted bool
	MemSampling *busMemSampling // nil until the sampler stopped

	runs      map[string][]*RunResult // bus → runs, in order
	summaries map[string][]Summary
	ratios    []busRatio
	vsNATS    []natsRatio
	vsGo      []goRatio
	decision  decide.BusDecision
	// nodeDecision is Test 2 asked of the Node.js bus (nil when it did not run).
	nodeDecision *decide.BusDecision
}

// goRatio compares a variant of the Go bus (go-netpoll: the same bus on its netpoll transport) with the default
// one, "go", on one configuration: bus/go per metric.
type goRatio struct {
	Bus     string                       `json:"bus"`
	Agents  int                          `json:"agents"`
	Pattern string                       `json:"pattern"`
	Model   string                       `json:"model"`
	Metrics map[scenario.Metric]goFigure `json:"bus_over_go"`
}

// goFigure is ratioFigure with the variant in the numerator and the default Go bus in the denominator.
type goFigure struct {
	Bus         float64         `json:"bus"`
	Go          float64         `json:"go"`
	Ratio       *float64        `json:"ratio"`
	Paired      *stats.Interval `json:"paired"`
	P           *float64        `json:"p_value"`
	Significant bool            `json:"significant"`
}

// natsRatio compares one bus we build with NATS on one configuration: bus/NATS per metric.
type natsRatio struct {
	Bus     string                         `json:"bus"`
	Agents  int                            `json:"agents"`
	Pattern string                         `json:"pattern"`
	Model   string                         `json:"model"`
	Metrics map[scenario.Metric]natsFigure `json:"bus_over_nats"`
}

// natsFigure is ratioFigure with the bus we build in the numerator and NATS in the denominator.
type natsFigure struct {
	Bus         float64         `json:"bus"`
	NATS        float64         `json:"nats"`
	Ratio       *float64        `json:"ratio"`
	Paired      *stats.Interval `json:"paired"`
	P           *float64        `json:"p_value"`
	Significant bool            `json:"significant"`
}

// busLoadParams are the parameters a bus-load run used.
type busLoadParams struct {
	Agents        []int    `json:"agents"`
	Patterns      []string `json:"patterns"`
	Model         string   `json:"model"`
	ClosedPattern string   `json:"closed_pattern"`
	Repeat        int      `json:"repeat"`
	OpenRepeat    int      `json:"open_repeat"` // the open-model runs' repeats (--quick: fewer than repeat)
	Rate          float64  `json:"rate"`        // --rate, deliveries/s (0: automatic)
	DurationS     float64  `json:"duration_s"`
	WarmupS       float64  `json:"warmup_s"`
	HoldS         float64  `json:"hold_s"`
	DrainMaxS     float64  `json:"drain_max_s"`
	Window        int      `json:"window"`
	InFlight      int      `json:"inflight"`
	Batch         int      `json:"batch"`
	ConnectRate   float64  `json:"connect_rate"` // connections/s
	PayloadBytes  int      `json:"payload_bytes"`
	Quick         bool     `json:"quick"`
	SampleMS      float64  `json:"sample_interval_ms"`
	Order         string   `json:"order"`
	// OpenBestOnly: the open-model runs measured only each language's best design (--quick; notes name them).
	OpenBestOnly bool `json:"open_model_best_only"`
	// The idle ladder (memory per connection as a slope): the configuration whose runs step through it, and the
	// connection counts of its steps (absent when no run steps).
	LadderAgents  int    `json:"ladder_agents,omitempty"`
	LadderPattern string `json:"ladder_pattern,omitempty"`
	LadderModel   string `json:"ladder_model,omitempty"`
	LadderSteps   []int  `json:"ladder_steps,omitempty"`
}

// ladderKey is the configuration whose runs step through the idle ladder.
func (p busLoadParams) ladderKey() (cfgKey, bool) {
	return cfgKey{p.LadderAgents, p.LadderPattern, p.LadderModel}, p.LadderAgents > 0
}

// ladderRange says over which connection counts the slope is fitted.
func (p busLoadParams) ladderRange() string {
	if len(p.LadderSteps) < 2 {
		return ""
	}
	lo := p.LadderSteps[0]
	if lo == 0 {
		lo = p.LadderSteps[1]
	}
	return fmt.Sprintf("%d–%d idle registered connections in %d steps, the bus's memory read after each settled; fitted from the first step with connections, the idle reading apart",
		lo, p.LadderSteps[len(p.LadderSteps)-1], len(p.LadderSteps))
}

type busLimits struct {
	BusCPUs          string  `json:"bus_cpuset"`
	BusMemoryBytes   int64   `json:"bus_memory_bytes"`
	GenCPUs          string  `json:"generator_cpuset"`
	GenMemoryBytes   int64   `json:"generator_memory_bytes"`
	Generators       int     `json:"generators"`
	GenSaturationCPU float64 `json:"generator_bound_above"`      // generator CPU (getrusage) fraction of its cpuset
	GenCoreBusy      float64 `json:"generator_core_bound_above"` // generators' cpuset busy fraction (/proc/stat)
}

type openRate struct {
	Agents         int         `json:"agents"`
	DeliveriesPerS float64     `json:"offered_deliveries_per_s"`
	How            string      `json:"how"`
	Probes         []rateProbe `json:"calibration_probes,omitempty"` // short targeted runs on every bus
}

// Summary is one bus's configuration (agents, pattern, model) over its repeats.
type Summary struct {
	Agents      int     `json:"agents"`
	Pattern     string  `json:"pattern"`
	Model       string  `json:"model"`
	OfferedPerS float64 `json:"offered_deliveries_per_s,omitempty"`
	Runs        int     `json:"runs"`
	Failed      int     `json:"failed"`
	// GeneratorBound counts runs whose generator used more than its CPU threshold: their throughput is the
	// generator's limit, not the bus's.
	GeneratorBound int `json:"generator_bound_runs"`
	// Metrics: median over successful repeats with benchmath's 95 % interval (none below 6 repeats).
	Metrics map[scenario.Metric]stats.Interval `json:"metrics"`
	// LatencyPooled merges every successful repeat's histogram.
	LatencyPooled stats.Summary `json:"latency_pooled"`
}

// m is a metric's median; the names are typed constants, so a missing one is a run that did not measure it.
func (s Summary) m(name scenario.Metric) float64 { return s.Metrics[name].Estimate }

// Metric returns a metric's interval by name; an unknown name is an error, not a zero.
func (s Summary) Metric(name string) (stats.Interval, error) {
	d, err := LookupMetric(name)
	if err != nil {
		return stats.Interval{}, err
	}
	return s.Metrics[d.Name], nil
}

// busRatio compares the buses on one configuration: go/rust per metric.
type busRatio struct {
	Agents  int                             `json:"agents"`
	Pattern string                          `json:"pattern"`
	Model   string                          `json:"model"`
	Metrics map[scenario.Metric]ratioFigure `json:"go_over_rust"`
}

type ratioFigure struct {
	Go   float64 `json:"go"`
	Rust float64 `json:"rust"`
	// Ratio is go median / rust median; Paired is the median of per-repeat go/rust ratios (repeats pair runs
	// made back to back) with its 95 % interval where the repeats support one. Both are null where a bus's figure
	// is 0 (e.g. nothing dropped).
	Ratio  *float64        `json:"ratio"`
	Paired *stats.Interval `json:"paired"`
	// P is the Mann–Whitney U p-value of Go's runs against Rust's (benchmath); Significant is P < 0.05.
	P           *float64 `json:"p_value"`
	Significant bool     `json:"significant"`
}

// finiteOrNil boxes x, or nil when x is NaN or infinite (JSON has no such numbers).
func finiteOrNil(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

func newBusLoadResult(env *Env, pl busPlan, buses []buses.Spec, notes []string) *Result {
	p := env.Params
	return &Result{
		Buses: buses, Notes: notes, runs: map[string][]*RunResult{},
		Params: busLoadParams{
			Agents: pl.agents, Patterns: pl.patterns, Model: p.Model, ClosedPattern: pl.closedPattern,
			Repeat: p.Repeat, OpenRepeat: pl.openRepeat, Rate: p.Rate, DurationS: p.Duration.Seconds(), WarmupS: pl.warmup.Seconds(),
			HoldS: busHold.Seconds(), DrainMaxS: busDrain.Seconds(), Window: p.Window, InFlight: p.InFlight,
			Batch:       closedBatch(p),
			ConnectRate: p.ConnectRate, PayloadBytes: busPayloadBytes, Quick: p.Quick,
			SampleMS: float64(p.Sample.Microseconds()) / 1000, Order: "buses alternate within each repeat (A B A B …)",
			OpenBestOnly: pl.openBest,
			LadderAgents: pl.ladderAgents, LadderPattern: pl.ladderPattern, LadderModel: pl.ladderModel, LadderSteps: pl.ladderSteps,
		},
		Limits: busLimits{BusCPUs: p.BusCPUs, BusMemoryBytes: pl.busMem, GenCPUs: p.GenCPUs, GenMemoryBytes: pl.genMem,
			Generators: p.Generators, GenSaturationCPU: genSaturation, GenCoreBusy: genCoreSaturation},
	}
}

func (res *Result) add(bus string, r *RunResult) { res.runs[bus] = append(res.runs[bus], r) }

// saturation is the median closed-model throughput of bus at n agents over its successful runs so far: the
// sweep's read-only view of earlier results (the automatic open-model rate is derived from it).
func (res *Result) saturation(bus string, n int) (float64, bool) {
	var xs []float64
	for _, r := range res.runs[bus] {
		if r.Agents == n && r.Model == loadgen.ModelClosed && r.Error == "" {
			xs = append(xs, r.DeliveredPerS)
		}
	}
	if len(xs) == 0 {
		return 0, false
	}
	return stats.Median(xs), true
}

type cfgKey struct {
	agents         int
	pattern, model string
}

// keys lists the configurations measured, in run order.
func (res *Result) keys() []cfgKey {
	var out []cfgKey
	for _, b := range res.Buses {
		for _, r := range res.runs[b.Name] {
			k := cfgKey{r.Agents, r.Pattern, r.Model}
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

// finish summarises the runs and decides Test 2.
func (res *Result) finish(interrupted bool) {
	res.Interrupted = interrupted
	res.summaries = map[string][]Summary{}
	for _, b := range res.Buses {
		for _, k := range res.keys() {
			if s, ok := res.summarize(b.Name, k); ok {
				res.summaries[b.Name] = append(res.summaries[b.Name], s)
			}
		}
	}
	res.ratios, res.vsNATS, res.vsGo = nil, nil, nil
	for _, k := range res.keys() {
		if rt, ok := res.ratio(k); ok {
			res.ratios = append(res.ratios, rt)
		}
		if rt, ok := res.ratioToGo(buses.GoNetpoll, k); ok {
			res.vsGo = append(res.vsGo, rt)
		}
		for _, b := range res.Buses {
			if b.Name == buses.NATS {
				continue
			}
			if rt, ok := res.ratioToNATS(b.Name, k); ok {
				res.vsNATS = append(res.vsNATS, rt)
			}
		}
	}
	res.decision = decide.Bus(res.decideInput())
	// The seed's own question, asked verbatim when the Node.js bus ran: Node.js in Go's place (issue 24).
	res.nodeDecision = nil
	if res.hasBus(buses.Node) {
		d := asBus(decide.Bus(res.decideInputAgainst(buses.Node)), "Node.js")
		res.nodeDecision = &d
	}
}

// goWord is the Go bus's name in decide's texts.
var goWord = regexp.MustCompile(`\bGo\b`)

// asBus relabels a Test 2 decision taken with another bus in Go's place: its questions and answers name that bus.
func asBus(d decide.BusDecision, name string) decide.BusDecision {
	re := func(s string) string { return goWord.ReplaceAllString(s, name) }
	d.Question, d.HandlesAnswer, d.ImprovementAnswer, d.ImprovementBasis = re(d.Question), re(d.HandlesAnswer), re(d.ImprovementAnswer), re(d.ImprovementBasis)
	d.MemoryAnswer, d.Recommendation, d.GoBusNote = re(d.MemoryAnswer), re(d.Recommendation), re(d.GoBusNote)
	relabel := func(c *decide.Check) { c.Question, c.Detail, c.Then = re(c.Question), re(c.Detail), re(c.Then) }
	d.HandlesP95 = slices.Clone(d.HandlesP95)
	for i := range d.HandlesP95 {
		relabel(&d.HandlesP95[i])
	}
	relabel(&d.Delivered)
	relabel(&d.Improvement)
	relabel(&d.Memory)
	d.VsNATS = nil // asked of every bus in the main decision
	return d
}

func (res *Result) runsOf(bus string, k cfgKey) (ok, all []*RunResult) {
	for _, r := range res.runs[bus] {
		if r.Agents == k.agents && r.Pattern == k.pattern && r.Model == k.model {
			all = append(all, r)
			if r.Error == "" {
				ok = append(ok, r)
			}
		}
	}
	return ok, all
}

func (res *Result) summarize(bus string, k cfgKey) (Summary, bool) {
	good, all := res.runsOf(bus, k)
	if len(all) == 0 {
		return Summary{}, false
	}
	s := Summary{Agents: k.agents, Pattern: k.pattern, Model: k.model, Runs: len(all), Failed: len(all) - len(good),
		Metrics: map[scenario.Metric]stats.Interval{}}
	pooled := stats.NewHist()
	for _, r := range all {
		s.OfferedPerS = r.OfferedPerS
	}
	for _, r := range good {
		if r.GeneratorBound {
			s.GeneratorBound++
		}
		pooled.Merge(r.LatencyHDR)
	}
	for _, m := range busMetrics {
		var xs []float64
		for _, r := range good {
			if v := m.v(r); m.measured(v) {
				xs = append(xs, v)
			}
		}
		if len(xs) > 0 {
			s.Metrics[m.Name] = stats.MedianCI(xs)
		}
	}
	s.LatencyPooled = pooled.Summary()
	return s, true
}

func (res *Result) summary(bus string, k cfgKey) (Summary, bool) {
	for _, s := range res.summaries[bus] {
		if s.Agents == k.agents && s.Pattern == k.pattern && s.Model == k.model && len(s.Metrics) > 0 {
			return s, true
		}
	}
	return Summary{}, false
}

// values is metric m of each successful run that measured it, in run order.
func values(runs []*RunResult, m metricDef) []float64 {
	out := make([]float64, 0, len(runs))
	for _, r := range runs {
		if v := m.v(r); m.measured(v) {
			out = append(out, v)
		}
	}
	return out
}

func (res *Result) ratio(k cfgKey) (busRatio, bool) {
	figs, ok := res.compare("go", "rust", k)
	if !ok {
		return busRatio{}, false
	}
	out := busRatio{Agents: k.agents, Pattern: k.pattern, Model: k.model, Metrics: map[scenario.Metric]ratioFigure{}}
	for m, f := range figs {
		out.Metrics[m] = ratioFigure{Go: f.Bus, Rust: f.NATS, Ratio: f.Ratio, Paired: f.Paired, P: f.P, Significant: f.Significant}
	}
	return out, true
}

// ratioToGo compares bus (a variant of the Go bus) with the default Go bus at k.
func (res *Result) ratioToGo(bus string, k cfgKey) (goRatio, bool) {
	figs, ok := res.compare(bus, "go", k)
	if !ok {
		return goRatio{}, false
	}
	out := goRatio{Bus: bus, Agents: k.agents, Pattern: k.pattern, Model: k.model, Metrics: map[scenario.Metric]goFigure{}}
	for m, f := range figs {
		out.Metrics[m] = goFigure{Bus: f.Bus, Go: f.NATS, Ratio: f.Ratio, Paired: f.Paired, P: f.P, Significant: f.Significant}
	}
	return out, true
}

// ratioToNATS compares bus with NATS at k.
func (res *Result) ratioToNATS(bus string, k cfgKey) (natsRatio, bool) {
	figs, ok := res.compare(bus, buses.NATS, k)
	if !ok {
		return natsRatio{}, false
	}
	return natsRatio{Bus: bus, Agents: k.agents, Pattern: k.pattern, Model: k.model, Metrics: figs}, true
}

// compare is a/b per metric at k (the figure's Bus is a's, NATS b's): ratio of medians, the median of the
// per-repeat ratios with its interval, and the Mann–Whitney U p-value of a's runs against b's.
func (res *Result) compare(a, b string, k cfgKey) (map[scenario.Metric]natsFigure, bool) {
	as, ok1 := res.summary(a, k)
	bs, ok2 := res.summary(b, k)
	if !ok1 || !ok2 {
		return nil, false
	}
	aRuns, _ := res.runsOf(a, k)
	bRuns, _ := res.runsOf(b, k)
	out := map[scenario.Metric]natsFigure{}
	for _, m := range busMetrics {
		f := natsFigure{Bus: as.m(m.Name), NATS: bs.m(m.Name), Ratio: finiteOrNil(scenario.SafeDiv(as.m(m.Name), bs.m(m.Name)))}
		var paired []float64
		for _, x := range aRuns {
			for _, y := range bRuns {
				if y.Repeat == x.Repeat && m.v(y) != 0 && m.measured(m.v(x)) {
					paired = append(paired, m.v(x)/m.v(y))
				}
			}
		}
		if len(paired) > 0 {
			iv := stats.MedianCI(paired)
			f.Paired = &iv
		}
		if f.Ratio != nil {
			c := stats.Compare(values(bRuns, m), values(aRuns, m))
			f.P, f.Significant = c.P, c.Significant
		}
		out[m.Name] = f
	}
	return out, true
}

// byRepeat is metric m of bus's runs at k, indexed by repeat (NaN where a repeat failed or is missing).
func (res *Result) byRepeat(bus string, k cfgKey, m scenario.Metric) []float64 {
	d, _ := LookupMetric(string(m))
	out := make([]float64, res.Params.Repeat)
	for i := range out {
		out[i] = math.NaN()
	}
	good, _ := res.runsOf(bus, k)
	for _, r := range good {
		if v := d.v(r); r.Repeat >= 1 && r.Repeat <= len(out) && d.measured(v) {
			out[r.Repeat-1] = v
		}
	}
	return out
}

func (res *Result) hasBus(name string) bool {
	return slices.ContainsFunc(res.Buses, func(b buses.Spec) bool { return b.Name == name })
}

// decideInput gathers Test 2's inputs at the agent count nearest the seed's 1000.
func (res *Result) decideInput() decide.BusInput { return res.decideInputAgainst("") }

// decideInputAgainst is decideInput with bus base in Go's place ("" = Go's best design).
func (res *Result) decideInputAgainst(base string) decide.BusInput {
	in := decide.BusInput{GoBus: "go", RustBus: "rust"}
	for _, b := range res.Buses {
		for _, r := range res.runs[b.Name] {
			if r.GeneratorBound {
				in.GeneratorBoundRuns++
			}
			if r.BusFig.MemSource != "" {
				in.MemorySource = r.BusFig.MemSource
			}
		}
	}
	keys := res.keys()
	if len(keys) == 0 {
		return in
	}
	n := keys[0].agents
	for _, k := range keys {
		if abs(k.agents-decide.BusAgents) < abs(n-decide.BusAgents) {
			n = k.agents
		}
	}
	in.Agents = n
	sat := cfgKey{n, res.Params.ClosedPattern, loadgen.ModelClosed}
	goBus := base
	if base == "" {
		goBus = res.goBest(sat, &in)
	} else {
		in.GoBus = base
	}
	rustBus := res.rustBest(sat, &in)
	in.HaveRust = res.hasBus(rustBus) && res.hasBus(goBus)
	if n != decide.BusAgents {
		in.AgentsNote = fmt.Sprintf("%d agents not measured in this run: evaluated at %d (run with --agents %d or without --quick)",
			decide.BusAgents, n, decide.BusAgents)
	}
	for _, k := range keys {
		if k.agents != n || k.model != loadgen.ModelOpen {
			continue
		}
		p := decide.BusPattern{Pattern: k.pattern, P95MS: decide.Paired{
			Go: res.byRepeat(goBus, k, MetricLatencyP95), Rust: res.byRepeat(rustBus, k, MetricLatencyP95)}}
		good, _ := res.runsOf(goBus, k)
		for _, r := range good {
			p.Undelivered = append(p.Undelivered, float64(r.Undelivered()))
			p.Late = append(p.Late, float64(r.Late))
			p.Sessions = append(p.Sessions, float64(r.Sessions.Registered))
			if r.GeneratorBound {
				p.GoGeneratorBound++
			}
			if r.LatencyHDR.Count() > 0 { // what the generator's send lag cannot explain (decide.BusPattern)
				p.GoP95FloorMS = append(p.GoP95FloorMS, decide.BusP95Floor(r.LatencyHDR.Quantiles(94)[0], r.SendLag.P99MS))
			}
			in.OfferedPerS = r.OfferedPerS
		}
		in.Open = append(in.Open, p)
	}
	in.Throughput = decide.Paired{Go: res.byRepeat(goBus, sat, MetricDeliveredPerS), Rust: res.byRepeat(rustBus, sat, MetricDeliveredPerS)}
	in.PerCPUSecond = decide.Paired{Go: res.byRepeat(goBus, sat, MetricPerCPUSecond), Rust: res.byRepeat(rustBus, sat, MetricPerCPUSecond)}
	if res.hasBus(buses.NATS) {
		for _, b := range res.Buses {
			if b.Name != buses.NATS {
				in.NATS = append(in.NATS, decide.VsNATS{Bus: b.Name, Ours: res.byRepeat(b.Name, sat, MetricPerCPUSecond),
					NATS: res.byRepeat(buses.NATS, sat, MetricPerCPUSecond)})
			}
		}
	}
	for _, b := range []string{goBus, rustBus} {
		if s, ok := res.summary(b, sat); ok && s.GeneratorBound > 0 {
			in.SaturationBound = true
		}
	}
	// Memory per connection as a slope: the idle ladder's runs, one per bus and repeat, paired by repeat.
	if lk, ok := res.Params.ladderKey(); ok {
		in.MemSlope = decide.Paired{Go: res.byRepeat(goBus, lk, MetricMemSlope), Rust: res.byRepeat(rustBus, lk, MetricMemSlope)}
		in.MemSlopeRange = res.Params.ladderRange()
	}
	// The per-run figure, context only: measured before every run's traffic, all of a bus's runs at n.
	for _, b := range []string{goBus, rustBus} {
		var xs []float64
		for _, r := range res.runs[b] {
			if r.Agents == n && r.Error == "" && r.BusFig.MemPerConn > 0 {
				xs = append(xs, r.BusFig.MemPerConn)
			}
		}
		if b == goBus {
			in.MemPerConn.Go = xs
		} else {
			in.MemPerConn.Rust = xs
		}
	}
	return in
}

// goBusNames are the Go buses, in preference order when neither is better measured; rustBusNames the Rust ones.
var (
	goBusNames   = []string{"go", "go-netpoll"}
	rustBusNames = []string{"rust", buses.RustEpoll}
)

// goBest picks the Go bus Test 2 is decided on: of the Go designs measured, the one with the most deliveries per
// bus CPU-second (median) in the saturation runs at sat — "Go's best", not only gorilla's — and says why in in.
func (res *Result) goBest(sat cfgKey, in *decide.BusInput) string {
	best, note := res.best(goBusNames, "go", "Go", sat)
	in.GoBus, in.GoBusNote = best, note
	return best
}

// rustBest picks the Rust bus Test 2 is decided on, the way goBest picks the Go one ("Rust's best").
func (res *Result) rustBest(sat cfgKey, in *decide.BusInput) string {
	best, note := res.best(rustBusNames, "rust", "Rust", sat)
	in.RustBus, in.RustBusNote = best, note
	return best
}

// best is the bus of names with the most deliveries per bus CPU-second (median) at sat, fallback when none is
// measured; the note names every design measured with its figure (none when only one was). Where the bus's CPU
// was not read for two designs (e.g. a lab whose daemon answers only Docker stats about once a second, too rarely
// for a 1 s window), the saturation throughput decides instead, and the note says so: the designs ran on the same
// cpuset, so throughput still ranks them, where a silent fallback to the first design would not.
func (res *Result) best(names []string, fallback, lang string, sat cfgKey) (string, string) {
	for _, by := range []struct {
		m    scenario.Metric
		what string
	}{{MetricPerCPUSecond, "deliveries per bus CPU-second at saturation (median)"},
		{MetricDeliveredPerS, "saturation throughput, deliveries/s (median; the bus's CPU was not read in the window)"}} {
		best, bestV, first := "", math.NaN(), ""
		var parts []string
		for _, b := range names {
			if !res.hasBus(b) {
				continue
			}
			if first == "" {
				first = b
			}
			iv := stats.MedianCI(res.byRepeat(b, sat, by.m))
			v := iv.Estimate
			if iv.N == 0 || math.IsNaN(v) || v <= 0 {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %.0f", b, v))
			if math.IsNaN(bestV) || v > bestV {
				best, bestV = b, v
			}
		}
		switch {
		case len(parts) >= 2:
			return best, fmt.Sprintf("%s = %s, %s's best design here: %s %s", lang, best, lang, by.what, strings.Join(parts, " vs "))
		case by.m == MetricPerCPUSecond && res.countBus(names) >= 2:
			continue // two designs measured, fewer than two CPU figures: rank them by throughput
		case first != "":
			if best == "" {
				best = first
			}
			return best, ""
		}
	}
	return fallback, ""
}

// countBus is how many of names were measured.
func (res *Result) countBus(names []string) int {
	n := 0
	for _, b := range names {
		if res.hasBus(b) {
			n++
		}
	}
	return n
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// File is go-ws-metrics.json / rust-ws-metrics.json.
type File struct {
	SchemaVersion  int                 `json:"schema_version"`
	Bus            buses.Spec          `json:"bus"`
	Parameters     busLoadParams       `json:"parameters"`
	Limits         busLimits           `json:"limits"`
	OpenRates      []openRate          `json:"open_model_rates"`
	MemSampling    *busMemSampling     `json:"memory_sampling"`
	Notes          []string            `json:"notes,omitempty"`
	Summaries      []Summary           `json:"summaries"`
	Comparison     []busRatio          `json:"comparison_go_over_rust,omitempty"`
	ComparisonNATS []natsRatio         `json:"comparison_over_nats,omitempty"`
	ComparisonGo   []goRatio           `json:"comparison_over_go,omitempty"`
	Runs           []*RunResult        `json:"runs"`
	Interrupted    bool                `json:"interrupted"`
	Decision       *decide.BusDecision `json:"decision"`
	// DecisionNode is the seed's Test 2 verbatim, with the Node.js bus in Go's place (when it ran).
	DecisionNode *decide.BusDecision `json:"decision_node,omitempty"`
	Definitions  map[string]string   `json:"definitions"`
}

var busDefinitions = map[string]string{
	"latency":                  "delivery time − ts; open model: ts is the intended send time from a schedule fixed before the run (no coordinated omission); closed model: the send time. HdrHistogram, µs resolution, reported in ms",
	"ws_msgs_sent":             "messages whose ts falls in the measured window (after warm-up)",
	"ws_msgs_received":         "deliveries of those messages (late ones waited for up to the drain time)",
	"delivery_ratio":           "ws_msgs_received / expected deliveries (broadcast: sent × (registered agents − 1))",
	"late":                     "deliveries of the window's messages that arrived after the window ended, before the drain deadline (included in ws_msgs_received)",
	"still_queued":             "deliveries not arrived when the drain hit its deadline and not dropped: the bus still held them (whole run)",
	"lost":                     "deliveries dropped by the bus (its bus_dropped_total) or missing after a drain that went quiet (whole run)",
	"refused":                  "error frames the agents received",
	"presumed_lost":            "messages of the window not delivered within the token timeout (late or never): counted, never re-sent; a closed-model slot is given back only on delivery or refusal",
	"inflight":                 "closed model: messages in flight over all agents; latency ≈ inflight / throughput (Little's law)",
	"errors_after_drain":       "bus errors counted after the drain end, while the generators closed their connections: sends still queued for agents that had left (unknown_target); not the run's",
	"bus_mem_per_conn_bytes":   "(bus container memory with every agent connected, before traffic − idle memory before any connection) / registered agents; memory_source names the reader",
	"bus_cpu_cores":            "bus container CPU time over the measured window / wall time",
	"bus_deliveries_per_cpu_s": "ws_msgs_received_per_s / bus_cpu_cores: deliveries per second of bus CPU time, the bus's cost per delivery inverted",
	"bus_cpuset_busy":          "how busy the bus's cpuset was over the measured window, host /proc/stat (softirq network processing included, which no process is charged for); 0 when the daemon is remote",
	"gen_cpuset_busy":          "the same for the generators' cpuset; above generator_core_bound_above the run is generator-bound",
	"gen_cpu_utilization":      "generators' getrusage user+sys over the measured window / wall / cores of --gen-cpus; above generator_bound_above the run is generator-bound: its throughput is the generator's limit, not the bus's",
	"metrics":                  "median over successful repeats with benchmath's distribution-free 95 % interval (ci95_low/ci95_high null below 6 repeats: no interval is claimed)",
	"comparison_go_over_rust":  "go median / rust median per metric; the median of per-repeat ratios with its interval; the Mann–Whitney U p-value of Go's runs against Rust's",
	"comparison_over_go":       "go-netpoll (the Go bus on its netpoll transport) over go (gorilla, the default) in the same run: median ratio per metric, the median of per-repeat ratios with its interval, the Mann–Whitney U p-value",
	"comparison_over_nats":     "each bus we build over NATS (same run, same generator, NATS protocol): bus median / nats median per metric, the median of per-repeat ratios with its interval, the Mann–Whitney U p-value",
}

const busLoadSchema = 3 // 3: late, still_queued, lost, refused, presumed_lost, drain_end, inflight, memory by source; no window_resets. 2: benchmath intervals, p-values, typed parameters, decision

func (res *Result) outcome() *scenario.Outcome {
	var files []scenario.File
	for _, b := range res.Buses {
		files = append(files, scenario.File{Name: b.File, Value: File{
			SchemaVersion: busLoadSchema, Bus: b, Parameters: res.Params, Limits: res.Limits, OpenRates: res.OpenRates,
			MemSampling: res.MemSampling,
			Notes:       res.Notes, Summaries: res.summaries[b.Name], Comparison: res.ratios, ComparisonNATS: res.vsNATS,
			ComparisonGo: res.vsGo, Runs: res.runs[b.Name],
			Interrupted: res.Interrupted, Decision: &res.decision, DecisionNode: res.nodeDecision, Definitions: busDefinitions,
		}})
	}
	return &scenario.Outcome{Files: files, Report: res.WriteTable, Decisions: decide.Decisions{MessageBus: &res.decision}}
}
