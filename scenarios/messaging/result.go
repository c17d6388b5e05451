package messaging

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/agent"
	"github.com/agentlab/agentlab/internal/memstat"
	"github.com/agentlab/agentlab/internal/stats"
	"github.com/agentlab/agentlab/scenarios/buses"
)

// MessagingSchema is the version of agent-messaging.json (2, as every file since intervals come from benchmath).
const MessagingSchema = 2

// Result is agent-messaging.json.
type Result struct {
	Schema   int                `json:"schema_version"`
	Scenario string             `json:"scenario"`
	RunID    string             `json:"run_id"`
	Params   MessagingParams    `json:"params"`
	Buses    []buses.Spec       `json:"buses"`
	Runs     []MessagingRun     `json:"runs"`    // clean runs, one per bus × pattern × repeat, in the order run
	Summary  []MessagingSummary `json:"summary"` // clean runs per bus × pattern: medians over repeats with 95 % CIs
	// FaultRuns are the faults, one per bus × fault, reported beside the clean runs and never mixed into the verdict.
	FaultRuns []FaultRun  `json:"faults"`
	Memory    []MemoryFig `json:"memory"`
	// ContainerMem is every bus and agent container's memory series from each source (memstat, as spawn's).
	ContainerMem *memstat.Recording `json:"container_memory,omitempty"`
	// SwarmTasks is where every task ran on a swarm (nil on one host): each bus's and agent's, replaced ones too.
	SwarmTasks []SwarmTask               `json:"swarm_tasks,omitempty"`
	Decision   *decide.MessagingDecision `json:"decision"`
	Notes      []string                  `json:"notes"`
	// Interrupted: the run was stopped by a signal; what ran is kept.
	Interrupted bool `json:"interrupted"`
}

// MessagingParams are the sizes of the run.
type MessagingParams struct {
	Agents        int        `json:"agents"`        // agent containers per bus
	AgentRuntime  string     `json:"agent_runtime"` // go, node or mixed (--agent-runtime)
	Conversations int        `json:"conversations"` // per pattern
	Turns         int        `json:"turns"`         // per conversation, clean runs
	TaskKiB       int        `json:"task_kib"`      // work per turn: KiB hashed with SHA-256
	Repeat        int        `json:"repeat"`        // interleaved repeats per bus and pattern
	Faults        []string   `json:"faults"`
	Timing        timingJSON `json:"fault_timing"`
	Retransmit    string     `json:"retransmit"` // an agent resends a turn not answered for this long
}

// timingJSON is faultTiming as duration strings.
type timingJSON struct {
	Warm    string `json:"warm"`    // conversations run this long before the first fault
	Hold    string `json:"hold"`    // a pause or a disconnection lasts this long
	Window  string `json:"window"`  // after a fault is over, the conversations have this long to move again
	Restart string `json:"restart"` // the bus restart's stop grace
	// Node faults only (a swarm): a node's link cut or its daemon down this long, then this long to recover.
	NodeHold   string `json:"node_hold,omitempty"`
	NodeWindow string `json:"node_window,omitempty"`
}

// MessagingErrors are a run's errors by kind, counts.
type MessagingErrors struct {
	BusErrors   map[string]int64 `json:"bus_errors"`      // error frames from the bus, by code
	Timeouts    int64            `json:"timeouts"`        // turns resent because the conversation had not come back within the retransmit time
	Reconnects  int64            `json:"reconnects"`      // agents that lost their connection and registered again
	Duplicate   int64            `json:"duplicate"`       // turns that arrived twice
	Reorder     int64            `json:"reorder"`         // turns that arrived after a later one
	Gap         int64            `json:"gap"`             // arrivals that skipped a turn
	Corrupt     int64            `json:"corrupt"`         // trails that failed the hash chain
	Lost        int64            `json:"lost"`            // turns skipped that never arrived
	Hung        int              `json:"hung"`            // conversations not finished by their deadline
	MissingRpts int              `json:"missing_reports"` // agent reports that never appeared (their counts are missing)
	Total       int64            `json:"total"`           // all of the above
}

func (e *MessagingErrors) total() {
	e.Total = e.Timeouts + e.Reconnects + e.Duplicate + e.Reorder + e.Gap + e.Corrupt + e.Lost + int64(e.Hung) + int64(e.MissingRpts)
	for _, n := range e.BusErrors {
		e.Total += n
	}
}

// MessagingRun is one clean run: one pattern on one bus.
type MessagingRun struct {
	Bus           string   `json:"bus"`
	Pattern       string   `json:"pattern"`
	Repeat        int      `json:"repeat"`
	Agents        int      `json:"agents"`
	Conversations int      `json:"conversations"`
	Phases        []string `json:"phases"` // the agents' phase names (direct and group: one per conversation)

	TurnsPlanned int64   `json:"turns_planned"` // conversations × turns
	Sent         int64   `json:"sent"`          // distinct turns said
	Received     int64   `json:"received"`      // turns received and verified (hash chain)
	FirstTry     int64   `json:"first_try"`     // … of them on their first send
	SuccessPct   float64 `json:"success_pct"`   // first-try verified turns / turns planned × 100, %
	ContextOK    bool    `json:"context_preserved"`
	// Latency per turn, ms: from the previous turn's send to this turn's arrival (the previous turn's receiver did
	// its work and replied in between). HDR, merged over every agent.
	Latency     stats.Summary   `json:"latency_ms"`
	LatencyHDR  *stats.Hist     `json:"latency_hdr,omitempty"` // the histogram itself (µs, HdrHistogram V2 compressed, base64): the report's CDF
	WallS       float64         `json:"wall_s"`                // lab clock: go sent → last conversation done, summed over steps, s
	TurnsPerSec float64         `json:"turns_per_s"`           // received / wall, turns/s (all conversations of the run)
	ConvTPS     []float64       `json:"conv_turns_per_s"`      // per conversation: its turns / (last arrival − turn 0 sent), turns/s
	Errors      MessagingErrors `json:"errors"`
	Hung        int             `json:"-"`
	hist        *stats.Hist
}

// MessagingSummary is one bus × pattern over its clean repeats.
type MessagingSummary struct {
	Bus         string         `json:"bus"`
	Pattern     string         `json:"pattern"`
	SuccessPct  stats.Interval `json:"success_pct"`
	P50MS       stats.Interval `json:"p50_ms"`
	P95MS       stats.Interval `json:"p95_ms"`
	P99MS       stats.Interval `json:"p99_ms"`
	TurnsPerSec stats.Interval `json:"turns_per_s"`
	ConvTPS     stats.Interval `json:"conv_turns_per_s"` // median conversation's turns/s per repeat
	Errors      int64          `json:"errors"`           // summed over repeats
	ContextOK   bool           `json:"context_preserved"`
}

// FaultRun is one fault on one bus, within the bus's fault phase (the parallel pattern, conversations without end).
type FaultRun struct {
	Bus    string `json:"bus"`
	Fault  string `json:"fault"`
	Target string `json:"target"` // "bus", the agent's id, or the node's hostname (node faults, a swarm)
	Phase  string `json:"phase"`
	Error  string `json:"error,omitempty"`
	// Interrupted: the run was cancelled during the fault or its window; its recovery figures are not a finding.
	Interrupted bool    `json:"interrupted,omitempty"`
	InjectedNS  int64   `json:"injected_ns"` // Unix ns: the fault began (the Engine API call was made)
	BackNS      int64   `json:"back_ns"`     // Unix ns: the fault was over (bus healthy, unpaused, network back, replacement started)
	EndNS       int64   `json:"end_ns"`      // Unix ns: the fault's window ended (the next fault, or stop)
	OutageMS    float64 `json:"outage_ms"`   // back − injected, ms

	Conversations int     `json:"conversations"`
	Affected      int     `json:"affected"` // conversations that went quiet ≥ 100 ms (no turn at any member) during the fault
	StallMS       float64 `json:"stall_ms"` // the longest such quiet stretch, ms
	// RecoveryMS is the time until every conversation moved again: max over conversations of (first turn
	// arriving after back − back), ms, to within agent.StallNS; nil when some conversation never moved again.
	RecoveryMS    *float64           `json:"recovery_ms"`
	PerConvMS     map[string]float64 `json:"recovery_per_conversation_ms"`
	Hung          []string           `json:"hung"`              // conversations with no turn between back and the window's end
	TurnsLost     int64              `json:"turns_lost"`        // turns whose first send never arrived (taken from a resend)
	TurnsRepeated int64              `json:"turns_repeated"`    // turns that arrived again (a resend crossing the original)
	Unrecovered   int64              `json:"turns_unrecovered"` // turns skipped that never arrived (hash-chain gaps)
	ContextErrors int64              `json:"context_errors"`    // corrupt + reorder + gap
	Resends       int64              `json:"resends"`           // resends by timeout or after registering again
	Reconnects    int64              `json:"reconnects"`        // agents that registered again
	// Replaced: agents whose container was replaced by a new one during the fault and its window (a swarm's
	// lost node: the swarm started new tasks; the new container's first registration is no reconnect).
	Replaced      int              `json:"agents_replaced,omitempty"`
	BusErrors     map[string]int64 `json:"bus_errors"`
	TurnsInWindow int64            `json:"turns_in_window"` // turns taken between injected and end
	Note          string           `json:"note,omitempty"`
}

// MemoryFig is one container's memory over the whole run (every phase), bytes.
type MemoryFig struct {
	Name      string `json:"name"`
	Role      string `json:"role"` // bus-go, bus-rust, agent-go, agent-rust
	Source    string `json:"source"`
	Samples   int    `json:"samples"`
	MeanBytes uint64 `json:"mean_bytes"`
	MaxBytes  uint64 `json:"max_bytes"`
}

func newMessagingResult(env *Env, buses []buses.Spec, faults []string, tm faultTiming, notes []string) *Result {
	p := env.Params
	tj := timingJSON{Warm: tm.Warm.String(), Hold: tm.Hold.String(), Window: tm.Window.String(), Restart: tm.Restart.String()}
	for _, f := range faults {
		if slices.Contains(nodeFaults, f) {
			tj.NodeHold, tj.NodeWindow = tm.NodeHold.String(), tm.NodeWindow.String()
		}
	}
	return &Result{Schema: MessagingSchema, Scenario: "agent-messaging", RunID: env.RunID,
		Params: MessagingParams{Agents: p.Agents, AgentRuntime: cmp.Or(p.AgentRuntime, RuntimeGo), Conversations: p.Conversations, Turns: p.Turns, TaskKiB: p.TaskKiB,
			Repeat: p.Repeat, Faults: append([]string{}, faults...), Retransmit: "500ms",
			Timing: tj},
		Buses: buses, Runs: []MessagingRun{}, Summary: []MessagingSummary{}, FaultRuns: []FaultRun{}, Memory: []MemoryFig{},
		Notes: append([]string{
			"latency per turn is timed from the previous turn's send to this turn's arrival; in a pair both ends are the same agent's clock, in a ring of three they are two containers on one host, which share the kernel's clock",
		}, notes...)}
}

// ctrReport is one report line and the container that printed it.
type ctrReport struct {
	Container string
	agent.Report
}

// latest keeps, per container and phase, the newest report (reports are cumulative within a phase).
func latest(rs []ctrReport) map[string][]agent.Report {
	type key struct{ c, p string }
	last := map[key]agent.Report{}
	var order []key
	for _, r := range rs {
		k := key{r.Container, r.Phase}
		if _, ok := last[k]; !ok {
			order = append(order, k)
		}
		last[k] = r.Report
	}
	out := map[string][]agent.Report{}
	for _, k := range order {
		out[k.p] = append(out[k.p], last[k])
	}
	return out
}

// absorb turns the agents' reports of bus into the runs' figures.
func (r *Result) absorb(rs []ctrReport, bus string) {
	byPhase := latest(rs)
	for i := range r.Runs {
		run := &r.Runs[i]
		if run.Bus != bus {
			continue
		}
		run.hist = stats.NewHist()
		run.Errors.BusErrors = map[string]int64{}
		conv := map[string]*convAgg{}
		for _, ph := range run.Phases {
			reps := byPhase[ph]
			run.Errors.MissingRpts += max(run.Agents-len(reps), 0)
			for _, rep := range reps {
				c := rep.Counts
				run.Sent += c.Sent
				run.Received += c.Received
				run.FirstTry += c.FirstTry
				run.Errors.Timeouts += c.Retransmits + c.ResendsUp
				run.Errors.Duplicate += c.Duplicate
				run.Errors.Reorder += c.Reorder
				run.Errors.Gap += c.Gap
				run.Errors.Corrupt += c.Corrupt
				run.Errors.Lost += c.Lost
				for k, n := range c.BusErrors {
					run.Errors.BusErrors[k] += n
				}
				for _, e := range rep.Events {
					if e.Kind == "reconnect" {
						run.Errors.Reconnects++
					}
				}
				run.hist.Merge(rep.Latency)
				for _, cr := range rep.Convs {
					conv[cr.ID] = conv[cr.ID].add(cr)
				}
			}
		}
		run.Errors.Hung = run.Hung
		run.Errors.total()
		run.Latency, run.LatencyHDR = run.hist.Summary(), run.hist
		if run.TurnsPlanned > 0 {
			run.SuccessPct = 100 * float64(run.FirstTry) / float64(run.TurnsPlanned)
		}
		if run.WallS > 0 {
			run.TurnsPerSec = float64(run.Received) / run.WallS
		}
		run.ConvTPS = []float64{}
		for _, id := range sortedKeys(conv) {
			if tps, ok := conv[id].tps(); ok {
				run.ConvTPS = append(run.ConvTPS, tps)
			}
		}
		e := run.Errors
		run.ContextOK = e.Duplicate+e.Reorder+e.Gap+e.Corrupt+e.Lost == 0 && e.MissingRpts == 0 && run.Received == run.TurnsPlanned
	}
	for i := range r.FaultRuns {
		if r.FaultRuns[i].Bus == bus {
			r.FaultRuns[i].analyse(byPhase[r.FaultRuns[i].Phase])
		}
	}
}

// convAgg is one conversation as all its members saw it.
type convAgg struct {
	members  []agent.ConvReport
	start    int64
	last     int64
	received int64
}

func (a *convAgg) add(cr agent.ConvReport) *convAgg {
	if a == nil {
		a = &convAgg{}
	}
	a.members = append(a.members, cr)
	if cr.FirstSentNS > 0 && (a.start == 0 || cr.FirstSentNS < a.start) {
		a.start = cr.FirstSentNS
	}
	a.last = max(a.last, cr.LastNS)
	a.received += cr.Received
	return a
}

func (a *convAgg) tps() (float64, bool) {
	if a.start == 0 || a.last <= a.start {
		return 0, false
	}
	return float64(a.received) / (float64(a.last-a.start) / 1e9), true
}

// firstAfter is the first turn to arrive at any member at or after t, Unix ns, to within agent.StallNS.
func (a *convAgg) firstAfter(t int64) (int64, bool) {
	best, ok := int64(0), false
	for _, m := range a.members {
		if m.FirstNS == 0 || t > m.LastNS {
			continue
		}
		v := t
		if t < m.FirstNS {
			v = m.FirstNS
		}
		for _, s := range m.Stalls {
			if s[0] <= t && t < s[1] {
				v = s[1]
				break
			}
		}
		if !ok || v < best {
			best, ok = v, true
		}
	}
	return best, ok
}

// affectedMinNS is how long a conversation must go quiet during a fault to count as affected by it.
const affectedMinNS = int64(100 * time.Millisecond)

// quiet lists the intervals (Unix ns, sorted; ±MaxInt64 for open ends) in which no turn arrived at any member,
// to within agent.StallNS.
func (a *convAgg) quiet() [][2]int64 {
	out := [][2]int64{{math.MinInt64, math.MaxInt64}}
	for _, m := range a.members {
		var mq [][2]int64
		if m.FirstNS == 0 {
			mq = [][2]int64{{math.MinInt64, math.MaxInt64}}
		} else {
			mq = append(mq, [2]int64{math.MinInt64, m.FirstNS})
			mq = append(mq, m.Stalls...)
			mq = append(mq, [2]int64{m.LastNS, math.MaxInt64})
		}
		out = intersect(out, mq)
	}
	return out
}

// intersect intersects two sorted lists of disjoint intervals.
func intersect(a, b [][2]int64) [][2]int64 {
	var out [][2]int64
	for i, j := 0, 0; i < len(a) && j < len(b); {
		lo, hi := max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
		if lo < hi {
			out = append(out, [2]int64{lo, hi})
		}
		if a[i][1] < b[j][1] {
			i++
		} else {
			j++
		}
	}
	return out
}

// analyse computes a fault's recovery and losses from the fault phase's reports.
func (f *FaultRun) analyse(reps []agent.Report) {
	f.OutageMS = float64(f.BackNS-f.InjectedNS) / 1e6
	f.PerConvMS, f.BusErrors, f.Hung = map[string]float64{}, map[string]int64{}, []string{}
	conv := map[string]*convAgg{}
	for _, rep := range reps {
		for _, cr := range rep.Convs {
			conv[cr.ID] = conv[cr.ID].add(cr)
		}
		for _, e := range rep.Events {
			if e.NS < f.InjectedNS || e.NS >= f.EndNS {
				continue
			}
			switch {
			case e.Kind == "taken-on-resend":
				f.TurnsLost++
			case e.Kind == "duplicate":
				f.TurnsRepeated++
			case e.Kind == "corrupt" || e.Kind == "reorder" || e.Kind == "gap":
				f.ContextErrors++
			case e.Kind == "retransmit" || e.Kind == "resend-after-reconnect":
				f.Resends++
			case e.Kind == "reconnect":
				f.Reconnects++
			case strings.HasPrefix(e.Kind, "bus-error:"):
				f.BusErrors[strings.TrimPrefix(e.Kind, "bus-error:")]++
			}
		}
		f.Unrecovered += rep.Counts.Lost
	}
	f.Conversations = len(conv)
	for _, a := range conv {
		for _, m := range a.members {
			if m.StallsTruncated {
				f.Note = "an agent's stall list was truncated: recovery may be understated"
			}
		}
	}

	worst, all := 0.0, true
	for _, id := range sortedKeys(conv) {
		a := conv[id]
		// Affected: the conversation went quiet (no turn arrived at any member) for a while during the fault.
		for _, q := range a.quiet() {
			if q[1] > f.InjectedNS && q[0] < f.BackNS && q[1]-q[0] >= affectedMinNS {
				f.Affected++
				if q[1] < math.MaxInt64 {
					f.StallMS = max(f.StallMS, float64(q[1]-q[0])/1e6)
				}
				break
			}
		}
		t, ok := a.firstAfter(f.BackNS)
		if !ok || t >= f.EndNS {
			// A window cut short by Ctrl-C cannot show that a conversation hung: it only had no time to move.
			if !f.Interrupted {
				f.Hung = append(f.Hung, id)
			}
			all = false
			continue
		}
		ms := float64(t-f.BackNS) / 1e6
		f.PerConvMS[id] = ms
		worst = max(worst, ms)
		for _, m := range a.members {
			f.TurnsInWindow += countIn(m, f.InjectedNS, f.EndNS)
		}
	}
	if all && f.Conversations > 0 {
		f.RecoveryMS = &worst
	}
	if len(reps) == 0 {
		f.Note = "no agent report for this phase"
	}
}

// countIn estimates the turns a member took in [a, b) from its totals (reports carry no per-turn times): the
// share of its active time that falls in the window.
func countIn(m agent.ConvReport, a, b int64) int64 {
	if m.LastNS <= m.FirstNS || b <= m.FirstNS || a >= m.LastNS {
		return 0
	}
	lo, hi := max(a, m.FirstNS), min(b, m.LastNS)
	active, in := m.LastNS-m.FirstNS, hi-lo
	for _, s := range m.Stalls {
		active -= s[1] - s[0]
		in -= max(0, min(hi, s[1])-max(lo, s[0]))
	}
	if active <= 0 || in <= 0 {
		return 0
	}
	return int64(float64(m.Received) * float64(in) / float64(active))
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// finish builds the summaries.
func (r *Result) finish() {
	type key struct{ bus, pat string }
	groups := map[key][]MessagingRun{}
	var order []key
	for _, run := range r.Runs {
		k := key{run.Bus, run.Pattern}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], run)
	}
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].bus != order[j].bus {
			return order[i].bus < order[j].bus
		}
		return topologyIndex(order[i].pat) < topologyIndex(order[j].pat)
	})
	r.Summary = r.Summary[:0]
	for _, k := range order {
		runs := groups[k]
		var succ, p50, p95, p99, tps, ctps []float64
		s := MessagingSummary{Bus: k.bus, Pattern: k.pat, ContextOK: true}
		for _, run := range runs {
			succ = append(succ, run.SuccessPct)
			p50, p95, p99 = append(p50, run.Latency.P50MS), append(p95, run.Latency.P95MS), append(p99, run.Latency.P99MS)
			tps = append(tps, run.TurnsPerSec)
			if len(run.ConvTPS) > 0 {
				ctps = append(ctps, stats.Median(run.ConvTPS))
			}
			s.Errors += run.Errors.Total
			s.ContextOK = s.ContextOK && run.ContextOK
		}
		s.SuccessPct, s.P50MS, s.P95MS, s.P99MS = stats.MedianCI(succ), stats.MedianCI(p50), stats.MedianCI(p95), stats.MedianCI(p99)
		s.TurnsPerSec, s.ConvTPS = stats.MedianCI(tps), stats.MedianCI(ctps)
		r.Summary = append(r.Summary, s)
	}
}

func topologyIndex(p string) int {
	for i, q := range topologies {
		if q == p {
			return i
		}
	}
	return len(topologies)
}

// decisionInputs are Test 5's inputs: per bus, one value per clean run.
func (r *Result) decisionInputs() []decide.MessagingBus {
	var out []decide.MessagingBus
	for _, b := range r.Buses {
		in := decide.MessagingBus{Bus: b.Name, SuccessPct: []float64{}, P95MS: []float64{}}
		for _, run := range r.Runs {
			if run.Bus != b.Name || run.TurnsPlanned == 0 {
				continue
			}
			// A run whose turns never arrived (the bus lost its start or every turn) is a run at 0 % success, not a
			// missing sample: leaving it out would call a bus that loses whole runs viable on the runs it spared.
			// It has no latency to give.
			in.SuccessPct = append(in.SuccessPct, run.SuccessPct)
			if run.Latency.Count > 0 {
				in.P95MS = append(in.P95MS, run.Latency.P95MS)
			}
			in.Errors += run.Errors.Total
		}
		out = append(out, in)
	}
	return out
}

func memoryFigures(res memstat.Recording) []MemoryFig {
	out := []MemoryFig{}
	for _, c := range res.Containers {
		src := memstat.SourceCgroup
		sm, ok := c.Summary[src]
		if !ok {
			src = memstat.SourceDockerStats
			sm, ok = c.Summary[src]
		}
		if !ok {
			continue
		}
		out = append(out, MemoryFig{Name: c.Name, Role: c.Role, Source: src, Samples: sm.Samples,
			MeanBytes: sm.MemoryMeanBytes, MaxBytes: sm.MemoryMaxBytes})
	}
	return out
}

// WriteTable prints the tables: clean runs per bus and pattern, faults, memory, the decision.
func (r *Result) WriteTable(w io.Writer) error {
	p := r.Params
	fmt.Fprintf(w, "\nagent-messaging: %d %s agents per bus, %d conversations × %d turns per pattern, %d KiB of work per turn, %d repeats (interleaved)\n",
		p.Agents, runtimeWords(p.AgentRuntime), p.Conversations, p.Turns, p.TaskKiB, p.Repeat)
	fmt.Fprintln(w, "clean runs (median over repeats [95 % CI]; latency per turn: previous turn sent → this turn arrived, HDR, ms)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "bus\tpattern\tsuccess %\tp50 ms\tp95 ms\tp99 ms\tturns/s\tturns/s per conv\terrors\tcontext")
	for _, s := range r.Summary {
		ctx := "preserved"
		if !s.ContextOK {
			ctx = "NOT preserved"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.Bus, s.Pattern, compact(s.SuccessPct, "%.1f"),
			compact(s.P50MS, "%.2f"), compact(s.P95MS, "%.2f"), compact(s.P99MS, "%.2f"), compact(s.TurnsPerSec, "%.0f"),
			compact(s.ConvTPS, "%.0f"), s.Errors, ctx)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "  [a–b] = 95 %% CI of the median; (a–b) = range, fewer than %d repeats give no CI\n", stats.MinNForCI)
	if len(r.FaultRuns) > 0 {
		fmt.Fprintln(w, "\nfaults (parallel pattern, conversations without end; recovery = until every conversation moved again after the fault was over)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "bus\tfault\ttarget\toutage ms\taffected\tstalled ms\trecovery ms\thung\tturns lost\trepeated\tunrecovered\tcontext errors\treconnects\tbus errors")
		for _, f := range r.FaultRuns {
			rec := "never"
			switch {
			case f.Interrupted:
				rec = "interrupted"
			case f.RecoveryMS != nil:
				rec = fmt.Sprintf("%.0f", *f.RecoveryMS)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%d/%d\t%.0f\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", f.Bus, f.Fault, f.Target, f.OutageMS,
				f.Affected, f.Conversations, f.StallMS, rec, len(f.Hung), f.TurnsLost, f.TurnsRepeated, f.Unrecovered, f.ContextErrors,
				reconnects(f), fmtCounts(f.BusErrors))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, f := range r.FaultRuns {
			if f.Error != "" {
				fmt.Fprintf(w, "  %s %s: %s\n", f.Bus, f.Fault, f.Error)
			}
		}
	}
	if len(r.SwarmTasks) > 0 {
		if err := r.writePlacement(w); err != nil {
			return err
		}
	}
	if len(r.Memory) > 0 {
		fmt.Fprintln(w, "\nmemory over the run (usage − inactive_file, MiB)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "role\tcontainers\tmean (sum)\tmax of one\tsource")
		roles := map[string][]MemoryFig{}
		for _, m := range r.Memory {
			roles[m.Role] = append(roles[m.Role], m)
		}
		for _, role := range sortedKeys(roles) {
			var sum, mx uint64
			for _, m := range roles[role] {
				sum += m.MeanBytes
				mx = max(mx, m.MaxBytes)
			}
			fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%s\n", role, len(roles[role]), float64(sum)/(1<<20), float64(mx)/(1<<20), roles[role][0].Source)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if r.Decision != nil {
		fmt.Fprintf(w, "\nDecision (seed Test 5, clean runs): %s\n", r.Decision.Question)
		for _, v := range r.Decision.Buses {
			for _, c := range []decide.Check{v.Success, v.P95, v.Zero} {
				fmt.Fprintf(w, "  %s bus: %-22s %-13s %s → %s\n", v.Bus, c.Question, c.Answer, c.Detail, c.Then)
			}
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

// reconnects is the table's reconnects cell: agents that registered again, and those replaced by new containers.
func reconnects(f FaultRun) string {
	if f.Replaced > 0 {
		return fmt.Sprintf("%d (+%d replaced)", f.Reconnects, f.Replaced)
	}
	return strconv.FormatInt(f.Reconnects, 10)
}

func fmtCounts(m map[string]int64) string {
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, ",")
}

// compact prints an interval for a table cell: "1.23 [1.10–1.40]" with a CI, "1.23 (1.10–1.40)" with a range only.
func compact(iv stats.Interval, verb string) string {
	f := func(x float64) string { return fmt.Sprintf(verb, x) }
	switch {
	case iv.N == 0:
		return "—"
	case iv.HasCI():
		return f(iv.Estimate) + " [" + f(*iv.Low95) + "–" + f(*iv.High95) + "]"
	case iv.N == 1 || iv.Min == iv.Max:
		return f(iv.Estimate)
	default:
		return f(iv.Estimate) + " (" + f(iv.Min) + "–" + f(iv.Max) + ")"
	}
}

// runtimeWords names the agents' runtime in the table's title.
func runtimeWords(rt string) string {
	switch rt {
	case RuntimeNode:
		return "Node.js"
	case RuntimeMixed:
		return "Go and Node.js (alternating)"
	case RuntimeGo, "":
		return "Go"
	}
	return rt
}

// writePlacement prints where each service's tasks ran on a swarm: per node, the services with a task there; a
// service whose task was replaced (a lost node's agent) shows each task and its state.
func (r *Result) writePlacement(w io.Writer) error {
	fmt.Fprintln(w, "\nswarm: where every task ran (tasks replaced after a node fault listed with their end)")
	byNode := map[string][]string{}
	for _, t := range r.SwarmTasks {
		what := t.Service
		if t.State != "" && t.State != "running" {
			what += fmt.Sprintf(" (%s, exit %d)", t.State, t.ExitCode)
		}
		byNode[t.Node] = append(byNode[t.Node], what)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "node	tasks	services")
	for _, n := range sortedKeys(byNode) {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", orDash(n), len(byNode[n]), strings.Join(byNode[n], ", "))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
