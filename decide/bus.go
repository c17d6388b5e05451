package decide

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/agentlab/agentlab/internal/stats"
)

// Seed Test 2, "WebSocket Message Bus" (Node.js there, Go here):
//
//	├─ Node.js handles 1000 agents with P95 <50ms?
//	│  ├─ YES → Stick with Node.js
//	│  └─ NO → Rust provides 2-5x improvement?
//	│     ├─ YES → Build Rust message bus
//	│     └─ NO → Optimize Node.js first
//	└─ Memory: Rust uses <50% of Node.js memory?
//	   └─ YES → Strong case for Rust (cost savings)
const (
	// BusAgents: "handles 1000 agents".
	BusAgents = 1000
	// BusP95MS: "with P95 <50ms" — the median over repeats of each open-model pattern's p95, in ms.
	BusP95MS = 50.0
	// RustImprovementMin: "Rust provides 2-5x improvement?" — Rust/Go, per repeat.
	RustImprovementMin = 2.0
	// RustMemoryMaxFraction: "Rust uses <50% of Node.js memory?" — Rust/Go memory per connection, per repeat.
	RustMemoryMaxFraction = 0.5
)

// Not in the seed; issue 14's question before any other: "should we build a bus at all, or run NATS?" — a bus we
// build vs NATS, on deliveries per bus CPU-second in the saturation runs (bus/NATS per repeat). Above
// BuildVsNATSMin the bus we build delivers more per CPU-second than NATS does; below it, NATS is the cheaper bus.
const BuildVsNATSMin = 1.0

// VsNATS is one bus we build against NATS, per repeat: deliveries per bus CPU-second (closed model) of each.
type VsNATS struct {
	Bus  string    `json:"bus"`
	Ours []float64 `json:"ours"`
	NATS []float64 `json:"nats"`
}

// Paired holds one figure of both buses, aligned by repeat: Go[i] and Rust[i] were measured back to back (A B A B).
// NaN marks a failed run.
type Paired struct {
	Go   []float64 `json:"go"`
	Rust []float64 `json:"rust"`
}

// ratios is Rust[i]/Go[i] (or Go[i]/Rust[i] when goOverRust) for the repeats where both are positive.
func (p Paired) ratios(goOverRust bool) []float64 {
	var out []float64
	for i := 0; i < min(len(p.Go), len(p.Rust)); i++ {
		g, r := p.Go[i], p.Rust[i]
		if !(g > 0) || !(r > 0) || math.IsInf(g, 0) || math.IsInf(r, 0) {
			continue
		}
		if goOverRust {
			out = append(out, g/r)
		} else {
			out = append(out, r/g)
		}
	}
	return out
}

// BusPattern is one open-model pattern at the decision's agent count, per repeat.
type BusPattern struct {
	Pattern string `json:"pattern"`
	P95MS   Paired `json:"p95_ms"`
	// Undelivered is, per Go run, the deliveries that did not arrive: lost (dropped by the bus, or missing after a
	// full drain) + still queued at the drain deadline + refused by an error frame. "Every message delivered"
	// is 0 in every run; Late (arrived after the measured window, before the drain deadline) is delivered.
	Undelivered []float64 `json:"go_undelivered"`
	Late        []float64 `json:"go_late"`
	Sessions    []float64 `json:"go_sessions"` // Go bus: registered agents per run
	// GoGeneratorBound counts the Go runs whose generator had no headroom: their p95, measured from the intended
	// send time, is an upper bound for the bus — it can confirm "< 50 ms" but not refute it on its own.
	GoGeneratorBound int `json:"go_generator_bound_runs"`
	// GoP95FloorMS is, per Go run, a floor under the p95 of what the generator did not cause: the latency's 94th
	// percentile minus the generator's send lag p99 (actual − intended send time), ms. Latency = lag + the time
	// from the actual send to receipt; at most 1 % of sends lagged more than the lag p99 and at least 6 % of
	// deliveries took the latency p94 or more, so at least 5 % took the floor or more after they actually left
	// the generator. A generator short of CPU sends late, which this subtracts; one whose sends left on time was
	// scheduled promptly (its readers run on the same runtime and cores), so the rest is the bus's.
	// BusP95Floor computes it. When a miss comes from generator-bound runs, Bus blames the bus only if these
	// floors' 95 % interval is above the threshold too.
	GoP95FloorMS []float64 `json:"go_p95_floor_ms,omitempty"`
}

// BusP95Floor is one run's GoP95FloorMS: latency p94 − send lag p99 (ms), never below 0.
func BusP95Floor(latencyP94MS, sendLagP99MS float64) float64 {
	return max(0, latencyP94MS-sendLagP99MS)
}

// BusInput is what Test 2 is decided on, all at one agent count.
type BusInput struct {
	Agents      int
	AgentsNote  string  // why not 1000, when not
	OfferedPerS float64 // the open model's offered deliveries/s
	Open        []BusPattern
	HaveRust    bool
	// GoBus is the Go bus decided on ("go", or "go-netpoll" when it is Go's best design), GoBusNote why.
	GoBus     string
	GoBusNote string
	// RustBus is the Rust bus decided on ("rust", or "rust-epoll" when it is Rust's best design), RustBusNote why.
	RustBus     string
	RustBusNote string
	// Saturation (closed model), per repeat: deliveries/s, and deliveries per bus CPU-second.
	Throughput   Paired
	PerCPUSecond Paired
	// SaturationBound: a saturation run was generator-bound, so throughput shows the generator's limit and the
	// improvement is judged on deliveries per bus CPU-second instead.
	SaturationBound bool
	// MemSlope is memory per connection as a slope, bytes per connection, one per repeat and paired by repeat:
	// the bus's memory read after each step of idle registered connections settled, fitted by least squares
	// from the first step with connections (stats.FitConnSlope; the fixed cost is the intercept, apart).
	// MemSlopeRange says over which connection counts ("250–1000 idle connections"). The memory question reads it.
	MemSlope      Paired
	MemSlopeRange string
	// MemPerConn is, per run, (memory with every agent connected − idle memory) / agents: every fixed cost the
	// first connections trigger is in it, so it falls as the agents grow. Context only, never decided on.
	MemPerConn         Paired
	MemorySource       string
	GeneratorBoundRuns int
	// NATS: each bus we build against NATS (empty when NATS was not measured).
	NATS []VsNATS
}

// BusDecision is Test 2 with its inputs.
type BusDecision struct {
	Question    string `json:"question"`
	GoBus       string `json:"go_bus"`
	GoBusNote   string `json:"go_bus_note,omitempty"`
	RustBus     string `json:"rust_bus"`
	RustBusNote string `json:"rust_bus_note,omitempty"`
	Agents      int    `json:"agents"`
	AgentsNote  string `json:"agents_note,omitempty"`
	// AnsweredAt says at which agent count Test 2 was answered ("answered at 1000 agents"); the recommendation
	// ends with it.
	AnsweredAt  string       `json:"answered_at"`
	OfferedPerS float64      `json:"offered_deliveries_per_s"`
	Patterns    []BusPattern `json:"open_model_inputs"`

	// Handles: one check per pattern (p95), plus delivery and registration facts, combined.
	HandlesP95    []Check `json:"go_p95_checks"`
	Delivered     Check   `json:"go_every_message_delivered"`
	GoHandles     Answer  `json:"go_handles_agents_p95_under_50ms"`
	HandlesAnswer string  `json:"handles_answer"`

	Improvement       Check  `json:"rust_improvement"`
	ImprovementBasis  string `json:"improvement_basis"`
	Rust2x            Answer `json:"rust_2x_or_better"`
	ImprovementAnswer string `json:"improvement_answer"`

	Memory           Check  `json:"rust_over_go_memory"`
	RustUnderHalfMem Answer `json:"rust_memory_under_50pct"`
	MemoryAnswer     string `json:"memory_answer"`
	MemorySource     string `json:"memory_source,omitempty"`
	// MemoryBasis is what the memory question read (the slope); MemPerRunContext the per-run figure, labelled.
	MemoryBasis      string `json:"memory_basis"`
	MemPerRunContext string `json:"mem_per_run_context,omitempty"`

	GeneratorBoundRuns int    `json:"generator_bound_runs"`
	Recommendation     string `json:"recommendation"`

	// VsNATS answers "a bus we build vs NATS" per bus we build (absent when NATS was not measured).
	VsNATS []Check `json:"bus_vs_nats,omitempty"`
}

// Bus answers Test 2.
func Bus(in BusInput) BusDecision {
	d := BusDecision{
		Question:     "Go bus handles 1000 agents with P95 < 50 ms? If not, does Rust provide a 2–5× improvement? Rust memory < 50 % of Go's?",
		GoBus:        in.GoBus,
		GoBusNote:    in.GoBusNote,
		RustBus:      in.RustBus,
		RustBusNote:  in.RustBusNote,
		Agents:       in.Agents,
		AgentsNote:   in.AgentsNote,
		OfferedPerS:  in.OfferedPerS,
		Patterns:     in.Open,
		MemorySource: in.MemorySource, GeneratorBoundRuns: in.GeneratorBoundRuns,
	}

	if d.GoBus == "" {
		d.GoBus = "go"
	}
	if d.RustBus == "" {
		d.RustBus = "rust"
	}
	d.AnsweredAt = AnsweredAt(in.Agents)

	// 1. Go handles the agents with P95 < 50 ms, every message delivered, every agent registered?
	var handles []Answer
	var worstUndelivered, mostLate, fewestSessions = 0.0, 0.0, math.Inf(1)
	runs := 0
	for _, p := range in.Open {
		c := threshold(fmt.Sprintf("Go bus p95 < %.0f ms at %d agents (%s)?", BusP95MS, in.Agents, p.Pattern),
			p.P95MS.Go, BusP95MS, YesBelow, "ms", "%.2f", nil)
		if c.Answer == No && p.GoGeneratorBound > 0 {
			// A generator-bound run's p95 is an upper bound for the bus. It still refutes "< 50 ms" when what the
			// generator cannot have caused — the p95 floor with the generator's send lag taken out — is above the
			// threshold with its whole interval: the generator sent on time and the messages were late anyway.
			floor := threshold("", p.GoP95FloorMS, BusP95MS, YesBelow, "ms", "%.2f", nil)
			if floor.Answer == No {
				c.Detail += fmt.Sprintf("; %d run(s) generator-bound, yet the generator sent on time: the p95 it cannot have caused (latency p94 − send lag p99, per run) is %s — the miss is the bus's",
					p.GoGeneratorBound, floor.Detail)
			} else {
				c.Answer = Inconclusive
				c.Detail += fmt.Sprintf("; %d run(s) generator-bound: the miss may be the generator's, not the bus's (p95 with the generator's send lag taken out: %s)",
					p.GoGeneratorBound, floor.Detail)
			}
		} else if c.Answer == Yes && p.GoGeneratorBound > 0 {
			c.Detail += "; generator-bound runs included: their p95 is an upper bound for the bus"
		}
		d.HandlesP95 = append(d.HandlesP95, c)
		handles = append(handles, c.Answer)
		for _, x := range p.Undelivered {
			worstUndelivered = max(worstUndelivered, x)
			runs++
		}
		for _, x := range p.Late {
			mostLate = max(mostLate, x)
		}
		for _, x := range p.Sessions {
			fewestSessions = min(fewestSessions, x)
		}
	}
	// Delivery and registration are counts, not estimates: every run must meet them.
	d.Delivered = Check{Question: fmt.Sprintf("every message delivered (none lost, still queued or refused) and all %d agents registered, in every Go run?", in.Agents)}
	detail := fmt.Sprintf("most undelivered in a run %.0f (lost + still queued at the drain deadline + refused), most late %.0f (delivered after the window), fewest registered %.0f of %d, over %d runs",
		worstUndelivered, mostLate, fewestSessions, in.Agents, runs)
	switch {
	case runs == 0:
		d.Delivered.Answer, d.Delivered.Detail = NotEvaluated, "no open-model Go run"
	case worstUndelivered == 0 && fewestSessions >= float64(in.Agents):
		d.Delivered.Answer, d.Delivered.Detail = Yes, detail
	default:
		d.Delivered.Answer, d.Delivered.Detail = No, detail
	}
	if runs > 0 {
		handles = append(handles, d.Delivered.Answer)
	}
	d.GoHandles = all(handles...)
	d.HandlesAnswer = map[Answer]string{
		Yes:          "YES → Stick with Go",
		No:           "NO → see the Rust improvement",
		Inconclusive: "INCONCLUSIVE (see the p95 checks: more --repeat narrow the intervals)",
		NotEvaluated: "not evaluated: no open-model run of the Go bus at this agent count",
	}[d.GoHandles]

	// 2. Rust 2–5× better?
	basis, pair := "saturation throughput (closed model), Rust/Go per repeat", in.Throughput
	if in.SaturationBound {
		basis, pair = "deliveries per bus CPU-second in the saturation runs, Rust/Go per repeat (the saturation runs were generator-bound, so throughput shows the generator's limit)", in.PerCPUSecond
	}
	if len(pair.ratios(false)) == 0 {
		for _, p := range in.Open {
			if p.Pattern == "targeted" {
				basis, pair = "targeted open-model p95, Go/Rust per repeat (no saturation run)", Paired{Go: p.P95MS.Rust, Rust: p.P95MS.Go}
			}
		}
	}
	// Name the two designs compared (each language's best when several were measured).
	d.ImprovementBasis = basis + fmt.Sprintf("; Rust = %s, Go = %s", d.RustBus, d.GoBus)
	d.Improvement = threshold("Rust provides a 2–5× improvement?", pair.ratios(false), RustImprovementMin, YesAbove, "×", "%.2f",
		map[Answer]string{Yes: "Build Rust message bus", No: "Optimize Go first"})
	if !in.HaveRust {
		d.Improvement.Answer, d.Improvement.Detail = NotEvaluated, "the Rust bus was not measured"
	} else if cmp := stats.Compare(pair.Go, pair.Rust); cmp.P != nil {
		d.Improvement.P = cmp.P
		d.Improvement.Detail += "; Go vs Rust " + cmp.String()
	}
	d.Rust2x = d.Improvement.Answer
	d.ImprovementAnswer = map[Answer]string{
		Yes:          "YES → Build Rust message bus",
		No:           "NO → Optimize Go first",
		Inconclusive: "INCONCLUSIVE",
		NotEvaluated: "not evaluated: needs both buses at this agent count",
	}[d.Rust2x] + " (" + d.Improvement.Detail + ")"

	// 3. Rust memory < 50 % of Go's? On the slope: what one more connection costs, the fixed costs apart.
	d.MemoryBasis = "memory per connection as a slope: bus memory after each step of idle registered connections settled, least squares per repeat"
	if in.MemSlopeRange != "" {
		d.MemoryBasis += " (" + in.MemSlopeRange + ")"
	}
	d.MemoryBasis += "; Rust/Go per repeat"
	d.Memory = threshold("Rust uses < 50 % of Go's memory (per connection)?", in.MemSlope.ratios(false), RustMemoryMaxFraction,
		YesBelow, "fraction", "%.2f", map[Answer]string{Yes: "Strong case for Rust (cost savings)"})
	if g, r := stats.MedianCI(in.MemPerConn.Go), stats.MedianCI(in.MemPerConn.Rust); g.N > 0 || r.N > 0 {
		d.MemPerRunContext = fmt.Sprintf("per run, (connected − idle) / %d agents, fixed costs included (context, not decided on): %s %s KiB", in.Agents, d.GoBus, kib(g))
		if r.N > 0 {
			d.MemPerRunContext += fmt.Sprintf(", %s %s KiB", d.RustBus, kib(r))
		}
	}
	g, r := stats.MedianCI(in.MemSlope.Go), stats.MedianCI(in.MemSlope.Rust)
	switch {
	case !in.HaveRust:
		d.Memory.Answer, d.Memory.Detail = NotEvaluated, "the Rust bus was not measured"
	case g.N == 0 || r.N == 0:
		d.Memory.Answer, d.Memory.Detail = NotEvaluated, "no slope of memory against idle connections for both buses"
	default:
		d.Memory.Detail += fmt.Sprintf("; slope: Rust %s KiB vs %s %s KiB per connection", kib(r), d.GoBus, kib(g))
	}
	d.RustUnderHalfMem = d.Memory.Answer
	d.MemoryAnswer = map[Answer]string{Yes: "YES → Strong case for Rust (cost savings)", No: "NO", Inconclusive: "INCONCLUSIVE",
		NotEvaluated: "not evaluated: needs both buses' memory per connection (slope)"}[d.RustUnderHalfMem] + " (" + d.Memory.Detail + ")"

	switch {
	case d.GoHandles == Yes:
		d.Recommendation = "Stick with Go"
	case d.GoHandles == No && d.Rust2x == Yes:
		d.Recommendation = "Build Rust message bus"
	case d.GoHandles == No && d.Rust2x == No:
		d.Recommendation = "Optimize Go first"
	default:
		var why []string
		if d.GoHandles != No {
			why = append(why, "Go handles: "+string(d.GoHandles))
		}
		if d.GoHandles == No {
			why = append(why, "Rust 2×: "+string(d.Rust2x))
		}
		d.Recommendation = "inconclusive (" + strings.Join(why, "; ") + ")"
	}
	d.Recommendation += " — " + d.AnsweredAt
	if d.RustUnderHalfMem == Yes {
		d.Recommendation += "; memory: strong case for Rust (cost savings)"
	}

	// 4. A bus we build vs NATS.
	for _, v := range in.NATS {
		r := Paired{Go: v.Ours, Rust: v.NATS}.ratios(true)
		c := threshold(fmt.Sprintf("%s bus delivers more per CPU-second than NATS?", v.Bus), r, BuildVsNATSMin, YesAbove,
			"×", "%.2f", map[Answer]string{Yes: "building " + v.Bus + " beats running NATS on CPU", No: "run NATS"})
		if cmp := stats.Compare(v.Ours, v.NATS); cmp.P != nil {
			c.P = cmp.P
			c.Detail += "; " + v.Bus + " vs NATS " + cmp.String()
		}
		d.VsNATS = append(d.VsNATS, c)
	}
	return d
}

// AnsweredAt is the wording that says at which agent count Test 2 was answered.
func AnsweredAt(agents int) string {
	if agents <= 0 {
		return "not answered: no agent count measured"
	}
	return fmt.Sprintf("answered at %d agents", agents)
}

func kib(iv stats.Interval) string {
	iv.Estimate /= 1024
	iv.Min /= 1024
	iv.Max /= 1024
	if iv.HasCI() {
		lo, hi := *iv.Low95/1024, *iv.High95/1024
		iv.Low95, iv.High95 = &lo, &hi
	}
	return iv.Format("%.1f")
}

// MarshalJSON writes a missing repeat (NaN) as null: JSON has no NaN, and a one-bus run has no Rust figures.
func (p Paired) MarshalJSON() ([]byte, error) {
	nullable := func(xs []float64) []*float64 {
		out := make([]*float64, len(xs))
		for i, x := range xs {
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				out[i] = &xs[i]
			}
		}
		return out
	}
	return json.Marshal(struct {
		Go   []*float64 `json:"go"`
		Rust []*float64 `json:"rust"`
	}{nullable(p.Go), nullable(p.Rust)})
}
