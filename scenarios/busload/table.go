package busload

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/docker/go-units"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/stats"
	"github.com/agentlab/agentlab/scenarios/buses"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// --- table ---------------------------------------------------------------------------------------------------------

// WriteTable writes the bus-load table and the Test 2 decision; it reads the summaries, ratios and decision, and
// computes nothing that decides.
func (res *Result) WriteTable(w io.Writer) error {
	l, p := res.Limits, res.Params
	reps := fmt.Sprint(p.Repeat)
	if p.OpenRepeat > 0 && p.OpenRepeat != p.Repeat {
		reps = fmt.Sprintf("%d (saturation) / %d (open model)", p.Repeat, p.OpenRepeat)
	}
	fmt.Fprintf(w, "\nbus-load (seed Test 2) — %s; medians over %s interleaved repeats [95%% CI where ≥ %d repeats support one]\n",
		busNames(res.Buses), reps, stats.MinNForCI)
	fmt.Fprintf(w, "limits: bus cpuset %s, %s; generator cpuset %s, %s × %d; measured %gs after %gs warm-up; latency from the intended send time (open) / send time (closed)\n",
		l.BusCPUs, units.BytesSize(float64(l.BusMemoryBytes)), l.GenCPUs, units.BytesSize(float64(l.GenMemoryBytes)),
		l.Generators, p.DurationS, p.WarmupS)
	if p.InFlight > 0 && slices.Contains([]string{"closed", "both"}, p.Model) {
		fmt.Fprintf(w, "closed model: %d messages in flight over all agents (at most %d per agent, sent in batches of %d: one write each): latency ≈ %d ÷ throughput (Little's law)\n",
			p.InFlight, p.Window, p.Batch, p.InFlight)
	}
	for _, o := range res.OpenRates {
		fmt.Fprintf(w, "open model at %d agents: %.0f deliveries/s offered (%s)\n", o.Agents, o.DeliveriesPerS, o.How)
	}
	for _, n := range res.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "agents\tpattern\tmodel\tbus\tsessions\tdelivered/s\tratio\tp50 ms\tp95 ms\tp99 ms\tp99.9 ms\tmax ms\tmem/conn KiB\tbus CPU\tdeliv/CPU-s\tgen CPU\tcores busy b/g\tdropped\tlate/queued/lost\t")
	for _, k := range res.keys() {
		for _, b := range res.Buses {
			s, ok := res.summary(b.Name, k)
			if !ok {
				if _, all := res.runsOf(b.Name, k); len(all) > 0 {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\tall %d runs failed: %s\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\n", k.agents, k.pattern, k.model, b.Name,
						len(all), scenario.Truncate([]byte(all[0].Error), 120))
				}
				continue
			}
			gen := fmt.Sprintf("%.0f%%", 100*s.m(MetricGenUtilization))
			if s.GeneratorBound > 0 {
				gen += fmt.Sprintf(" BOUND %d/%d", s.GeneratorBound, s.Runs-s.Failed)
			}
			sess := fmt.Sprintf("%.0f/%d", s.m(MetricSessions), k.agents)
			if s.Failed > 0 {
				sess += fmt.Sprintf(" (%d failed)", s.Failed)
			}
			busy := fmt.Sprintf("%.0f/%.0f%%", 100*s.m(MetricBusCoresBusy), 100*s.m(MetricGenCoresBusy))
			if ms := res.MemSampling; ms != nil && ms.Locality != nil && !ms.Locality.Local {
				busy = "n/a (remote)"
			}
			memConn := "—" // no run of this configuration could measure it
			if iv, ok := s.Metrics[MetricMemPerConn]; ok && iv.N > 0 {
				memConn = fmt.Sprintf("%.1f", iv.Estimate/1024)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%.4f\t%.2f\t%s\t%s\t%.2f\t%.1f\t%s\t%.2f\t%.0f\t%s\t%s\t%.0f\t%.0f/%.0f/%.0f\t\n",
				k.agents, k.pattern, k.model, b.Name, sess, s.Metrics[MetricDeliveredPerS].Format("%.0f"),
				s.m(MetricDeliveryRatio), s.m(MetricLatencyP50), s.Metrics[MetricLatencyP95].Format("%.2f"),
				s.Metrics[MetricLatencyP99].Format("%.2f"), s.m(MetricLatencyP999), s.m(MetricLatencyMax),
				memConn, s.m(MetricBusCPU), s.m(MetricPerCPUSecond), gen, busy, s.m(MetricDropped),
				s.m(MetricLate), s.m(MetricStillQueued), s.m(MetricLost))
		}
		for _, rt := range res.ratios {
			if rt.Agents == k.agents && rt.Pattern == k.pattern && rt.Model == k.model {
				ratioRow(tw, "go/rust", func(m scenario.Metric) string {
					f := rt.Metrics[m]
					return ratioCell(f.Ratio, f.P, f.Significant)
				})
			}
		}
		for _, rt := range res.vsGo {
			if rt.Agents == k.agents && rt.Pattern == k.pattern && rt.Model == k.model {
				ratioRow(tw, rt.Bus+"/go", func(m scenario.Metric) string {
					f := rt.Metrics[m]
					return ratioCell(f.Ratio, f.P, f.Significant)
				})
			}
		}
		for _, rt := range res.vsNATS {
			if rt.Agents == k.agents && rt.Pattern == k.pattern && rt.Model == k.model {
				ratioRow(tw, rt.Bus+"/nats", func(m scenario.Metric) string {
					f := rt.Metrics[m]
					return ratioCell(f.Ratio, f.P, f.Significant)
				})
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	d := res.decision
	fmt.Fprintf(w, "\ngenerator-bound runs: %d (generator CPU > %.0f %% of its cpuset, or its CPUs > %.0f %% busy: such a run shows the generator's limit, not the bus's)\n",
		d.GeneratorBoundRuns, 100*genSaturation, 100*genCoreSaturation)
	fmt.Fprintln(w, "columns: ratio = delivery ratio; deliv/CPU-s = deliveries per second of bus CPU time; cores busy b/g = host /proc/stat busy % of the bus's / generators' cpusets (softirq included); go/rust (go-netpoll/go, bus/nats) \"~\" = not significant (Mann–Whitney U, p ≥ 0.05); late/queued/lost = deliveries after the window / not arrived at the drain deadline / dropped by the bus or missing after a full drain")
	if d.MemorySource != "" {
		fmt.Fprintf(w, "mem/conn KiB (per run, context): (memory with all agents connected − idle) / agents, fixed costs included; source: %s\n", d.MemorySource)
	}
	res.writeSlopes(w)
	res.reportMemSources(w)
	writeBusDecision(w, d)
	if nd := res.nodeDecision; nd != nil {
		fmt.Fprintln(w, "\nthe seed's question verbatim — the Node.js bus in Go's place:")
		writeBusDecisionAs(w, *nd, "Node.js")
	}
	if res.Interrupted {
		fmt.Fprintln(w, "  (interrupted: partial results)")
	}
	return nil
}

// writeBusDecision prints Test 2's answers with the figures behind them.
func writeBusDecision(w io.Writer, d decide.BusDecision) { writeBusDecisionAs(w, d, "Go") }

// writeBusDecisionAs is writeBusDecision for a decision taken with bus name in Go's place.
func writeBusDecisionAs(w io.Writer, d decide.BusDecision, name string) {
	fmt.Fprintf(w, "\ndecision (seed Test 2) at %d agents:\n", d.Agents)
	if d.AgentsNote != "" {
		fmt.Fprintf(w, "  (%s)\n", d.AgentsNote)
	}
	if d.GoBusNote != "" {
		fmt.Fprintf(w, "  (%s)\n", d.GoBusNote)
	}
	if d.RustBusNote != "" {
		fmt.Fprintf(w, "  (%s)\n", d.RustBusNote)
	}
	fmt.Fprintf(w, "  %s handles %d agents with P95 < 50 ms? %s\n", name, d.Agents, d.HandlesAnswer)
	for _, c := range append(slices.Clone(d.HandlesP95), d.Delivered) {
		fmt.Fprintf(w, "    %-60s %-13s %s\n", c.Question, c.Answer, c.Detail)
	}
	fmt.Fprintf(w, "  Rust provides 2–5× improvement?        %s\n", d.ImprovementAnswer)
	fmt.Fprintf(w, "    basis: %s\n", d.ImprovementBasis)
	fmt.Fprintf(w, "  Rust uses < 50 %% of %s's memory?        %s\n", name, d.MemoryAnswer)
	if d.MemoryBasis != "" {
		fmt.Fprintf(w, "    basis: %s\n", d.MemoryBasis)
	}
	if d.MemPerRunContext != "" {
		fmt.Fprintf(w, "    %s\n", d.MemPerRunContext)
	}
	fmt.Fprintf(w, "  → %s\n", d.Recommendation)
	for _, c := range d.VsNATS {
		// Not in the seed: should we build a bus at all, or run NATS?
		then := ""
		if c.Then != "" {
			then = " → " + c.Then
		}
		fmt.Fprintf(w, "  a bus we build vs NATS: %-50s %-13s %s%s\n", c.Question, c.Answer, c.Detail, then)
	}
}

func busNames(bs []buses.Spec) string {
	var names []string
	for _, b := range bs {
		names = append(names, b.Impl)
	}
	return strings.Join(names, " vs ")
}

func times(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "-"
	}
	return fmt.Sprintf("%.2f×", x)
}

// reportMemSources prints the bus container's memory by every source side by side: per bus and agent count, the
// median over its runs of each source's mean, and how many runs each source agreed with Docker stats in.
func (res *Result) reportMemSources(w io.Writer) {
	ms := res.MemSampling
	if ms == nil {
		return
	}
	fmt.Fprintf(w, "\nbus container memory by source (memory_bytes = usage − inactive_file, MiB, median over runs of each run's mean; sources: %s)\n",
		strings.Join(ms.Sources, ", "))
	if ms.Locality != nil {
		fmt.Fprintf(w, "  %s\n", ms.Locality.Sources())
	}
	if ms.Note != "" {
		fmt.Fprintf(w, "  note: %s\n", ms.Note)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "bus\tagents\truns\t")
	for _, src := range ms.Sources {
		fmt.Fprintf(tw, "%s\t", src)
	}
	fmt.Fprintln(tw, "cross-check vs docker-stats (runs agreeing)\t")
	var agents []int
	for _, k := range res.keys() {
		if !slices.Contains(agents, k.agents) {
			agents = append(agents, k.agents)
		}
	}
	for _, b := range res.Buses {
		for _, n := range agents {
			byRun := map[string][]float64{}
			agree, compared := map[string]int{}, map[string]int{}
			runs := 0
			for _, r := range res.runs[b.Name] {
				if r.Agents != n || len(r.BusFig.MemSources) == 0 {
					continue
				}
				runs++
				for _, f := range r.BusFig.MemSources {
					if f.Samples > 0 {
						byRun[f.Source] = append(byRun[f.Source], float64(f.MeanBytes))
					}
					if f.CrossCheck != "" && f.CrossCheck != "no pairs" {
						compared[f.Source]++
						if strings.HasPrefix(f.CrossCheck, "agree") {
							agree[f.Source]++
						}
					}
				}
			}
			if runs == 0 {
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t", b.Name, n, runs)
			var checks []string
			for _, src := range ms.Sources {
				if xs := byRun[src]; len(xs) > 0 {
					fmt.Fprintf(tw, "%.2f\t", stats.Median(xs)/(1<<20))
				} else {
					fmt.Fprint(tw, "-\t")
				}
				if compared[src] > 0 {
					checks = append(checks, fmt.Sprintf("%s %d/%d", src, agree[src], compared[src]))
				}
			}
			fmt.Fprintf(tw, "%s\t\n", strings.Join(checks, ", "))
		}
	}
	tw.Flush()
}

// ratioCell is one ratio of medians, "~" when the Mann–Whitney test finds no significant difference, "-" when a
// bus's figure is 0.
func ratioCell(ratio, p *float64, significant bool) string {
	if ratio == nil {
		return "-"
	}
	out := times(*ratio)
	if p != nil && !significant {
		out += " ~"
	}
	return out
}

// ratioRow prints a ratio row under a configuration's bus rows, in the table's columns.
func ratioRow(tw io.Writer, label string, cell func(scenario.Metric) string) {
	fmt.Fprintf(tw, "\t\t\t%s\t\t%s\t\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\t\t\t\t\n", label,
		cell(MetricDeliveredPerS), cell(MetricLatencyP50), cell(MetricLatencyP95), cell(MetricLatencyP99),
		cell(MetricLatencyP999), cell(MetricLatencyMax), cell(MetricMemPerConn), cell(MetricBusCPU), cell(MetricPerCPUSecond))
}

// writeSlopes prints each bus's memory per connection as a slope (the idle ladder's runs): what Test 2's memory
// question and the cost analysis read.
func (res *Result) writeSlopes(w io.Writer) {
	lk, ok := res.Params.ladderKey()
	if !ok {
		return
	}
	fmt.Fprintf(w, "memory per connection as a slope (%s; %s %s runs at %d agents, one per repeat):\n", res.Params.ladderRange(),
		lk.pattern, lk.model, lk.agents)
	for _, b := range res.Buses {
		s, ok := res.summary(b.Name, lk)
		if !ok {
			continue
		}
		sl, fx, si := s.Metrics[MetricMemSlope], s.Metrics[MetricMemFixed], s.Metrics[MetricMemSlopeIdle]
		if sl.N == 0 {
			fmt.Fprintf(w, "  %-10s not measured (%s)\n", b.Name, res.ladderErrors(b.Name, lk))
			continue
		}
		k := func(iv stats.Interval, unit float64, f string) string {
			iv.Estimate, iv.Min, iv.Max = iv.Estimate/unit, iv.Min/unit, iv.Max/unit
			if iv.HasCI() {
				lo, hi := *iv.Low95/unit, *iv.High95/unit
				iv.Low95, iv.High95 = &lo, &hi
			}
			return iv.Format(f)
		}
		through := ""
		if si.N > 0 {
			through = fmt.Sprintf("; one line through the idle reading too: %s KiB", k(si, 1024, "%.2f"))
		}
		fmt.Fprintf(w, "  %-10s %s KiB per connection; fixed %s MiB%s\n", b.Name, k(sl, 1024, "%.2f"), k(fx, 1<<20, "%.1f"), through)
	}
}

// ladderErrors is why bus's ladder runs at k gave no slope.
func (res *Result) ladderErrors(bus string, k cfgKey) string {
	_, all := res.runsOf(bus, k)
	for _, r := range all {
		if r.Swarm != nil {
			// The lab reads the bus's memory between the ladder's steps, each generator waiting for its go-ahead:
			// on a swarm the generators answer to the coordinator, which has no such steps (docs/swarm.md).
			return "not measured on a swarm: the idle ladder runs on one Docker host only"
		}
		if r.Ladder != nil && r.Ladder.Error != "" {
			return r.Ladder.Error
		}
		if r.Error != "" {
			return r.Error
		}
	}
	return "no step could be fitted"
}
