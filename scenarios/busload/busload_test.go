package busload

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/loadgen"
	"github.com/agentlab/agentlab/internal/memstat"
	"github.com/agentlab/agentlab/internal/prom"
	"github.com/agentlab/agentlab/internal/stats"
	"github.com/agentlab/agentlab/scenarios/buses"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// busParams are the lab's defaults for bus-load (as internal/cli sets them).
func busParams() Params {
	return Params{scenario.Params{Agents: 10, Bus: "both", Repeat: 3, Sample: 100 * time.Millisecond},
		Flags{Duration: 5 * time.Second, Patterns: "targeted,broadcast,roundrobin", Model: "both", Window: 16,
			InFlight: 1000, Generators: 1, ConnectRate: 1000, BusCPUs: "0", GenCPUs: "1", BusMemory: "1g", GenMemory: "2g"}}
}

func TestCheckBusLoad(t *testing.T) {
	if err := checkBusLoad(busParams()); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	for name, mod := range map[string]func(*Params){
		"bus":      func(p *Params) { p.Bus = "ruby" },
		"bus-list": func(p *Params) { p.Bus = "go,ruby" },
		"bus-img":  func(p *Params) { p.BusImages = "go=agentlab/gobus" },
		"repeat":   func(p *Params) { p.Repeat = 0 },
		"rate":     func(p *Params) { p.Rate = -1 },
		"duration": func(p *Params) { p.Duration = 0 },
		"patterns": func(p *Params) { p.Patterns = "targeted,fanout" },
		"model":    func(p *Params) { p.Model = "half-open" },
		"window":   func(p *Params) { p.Window = 0 },
		"gens":     func(p *Params) { p.Generators = 0 },
		"connect":  func(p *Params) { p.ConnectRate = 0 },
		"cpuset":   func(p *Params) { p.GenCPUs = "1-0" },
		"memory":   func(p *Params) { p.BusMemory = "lots" },
	} {
		p := busParams()
		mod(&p)
		if err := checkBusLoad(p); err == nil {
			t.Errorf("%s: bad value accepted", name)
		}
	}
}

func TestBusPlan(t *testing.T) {
	p := busParams()
	pl, err := newBusPlan(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slicesEqual(pl.agents, []int{100, 500, 1000}) || pl.closedPattern != loadgen.PatternTargeted || !pl.open || !pl.closed ||
		pl.ladderAgents != 1000 || pl.ladderModel != loadgen.ModelClosed || !slicesEqual(pl.ladderSteps, []int{0, 250, 500, 750, 1000}) {
		t.Fatalf("default plan %+v", pl)
	}
	// 3 counts × (1 closed + 3 open) × 3 repeats × 2 buses.
	two := []buses.Spec{{Name: "go"}, {Name: "rust"}}
	if n := pl.runs(two); n != 72 {
		t.Errorf("runs = %d, want 72", n)
	}
	if pl.busMem != 1<<30 || pl.genMem != 2<<30 || !slicesEqual(pl.genCPUs, []int{1}) {
		t.Errorf("limits %+v", pl)
	}
	p.Quick = true
	pl, _ = newBusPlan(p)
	if !slicesEqual(pl.agents, []int{1000}) || pl.warmup != busWarmupQuick || pl.ladderAgents != 1000 ||
		!slicesEqual(pl.ladderSteps, []int{0, 250, 500, 1000}) || !pl.openBest {
		t.Errorf("quick plan %+v", pl)
	}
	// Quick, four designs: 4 saturation runs, open runs on the two families' best only: (4 + 2×3) × 3 repeats.
	four := []buses.Spec{{Name: "go"}, {Name: "go-netpoll"}, {Name: "rust"}, {Name: buses.RustEpoll}}
	if n := pl.runs(four); n != 30 {
		t.Errorf("quick runs = %d, want 30", n)
	}
	p.AgentsSet, p.Agents = true, 10000
	if pl, _ := newBusPlan(p); !slicesEqual(pl.agents, []int{10000}) || !slicesEqual(pl.ladderSteps, []int{0, 2500, 5000, 10000}) {
		t.Errorf("--agents 10000: %v, ladder %v", pl.agents, pl.ladderSteps)
	}
	p.Agents = 30000
	if _, err := newBusPlan(p); err == nil {
		t.Error("30000 agents in one generator accepted")
	}
	p.Agents, p.Patterns, p.Model = 100, "broadcast", "closed"
	if _, err := newBusPlan(p); err == nil {
		t.Error("closed model with broadcast only accepted")
	}
	p.Patterns = "roundrobin,broadcast"
	if pl, _ := newBusPlan(p); pl.closedPattern != loadgen.PatternRoundRobin || !slicesEqual(pl.patterns, []string{"broadcast", "roundrobin"}) {
		t.Errorf("closed pattern %q, patterns %v", pl.closedPattern, pl.patterns)
	}
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCpusetCPUs(t *testing.T) {
	for in, want := range map[string][]int{"0": {0}, "0-2": {0, 1, 2}, "1,3": {1, 3}, "0-1,1": {0, 1}} {
		got, err := cpusetCPUs(in)
		if err != nil || !slicesEqual(got, want) {
			t.Errorf("cpusetCPUs(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "a", "-1", "2-1", "1,"} {
		if _, err := cpusetCPUs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestBusFromSamples(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ns := func(ms int) int64 { return at(ms).UnixNano() }
	times := loadgen.Times{ConnectStart: ns(300), Connected: ns(500), TrafficStart: ns(1000), MeasureStart: ns(1500),
		MeasureEnd: ns(2500), End: ns(3000)}
	var ss []busSample
	for ms := 0; ms <= 3000; ms += 100 {
		s := busSample{T: at(ms), Mem: 10e6, RSS: 8e6}
		switch {
		case ms >= 500 && ms <= 1000:
			s.Mem, s.RSS = 10e6+100*32768, 8e6+100*30000 // 100 agents connected, idle
		case ms > 1000:
			s.Mem, s.RSS = 20e6, 15e6
		}
		if ms == 2000 {
			s.Mem = 25e6
		}
		// The bus burns 0.75 core from traffic start; its CPU is 90 % busy, the generators' 50 %.
		if ms > 1000 {
			s.CPUNs = float64(ms-1000) * 0.75e6
		}
		s.BusCores, s.BusCoresOK = memstat.CPUTimes{Busy: float64(ms) * 0.9, Total: float64(ms)}, true
		s.GenCores, s.GenCoresOK = memstat.CPUTimes{Busy: float64(ms) * 0.5, Total: float64(ms)}, true
		ss = append(ss, s)
	}
	var f busFigures
	genBusy := busFromSamples(&f, ss, times, 100)
	if f.MemIdle != 10e6 || f.MemConnected != 10e6+100*32768 || f.MemPerConn != 32768 || f.MemPeak != 25e6 {
		t.Errorf("memory %+v", f)
	}
	if f.RSSPerConn != 30000 {
		t.Errorf("rss per conn %v", f.RSSPerConn)
	}
	if math.Abs(f.CPUCores-0.75) > 1e-9 || math.Abs(f.CoresBusy-0.9) > 1e-9 || math.Abs(genBusy-0.5) > 1e-9 {
		t.Errorf("cpu %v cores, bus cpuset %v busy, generators' %v", f.CPUCores, f.CoresBusy, genBusy)
	}
	if f.Samples != len(ss) {
		t.Errorf("samples %d", f.Samples)
	}
	// A sampler that fell behind: no sample inside the window; the samples around it bracket it.
	var sparse []busSample
	for _, s := range ss {
		if ms := s.T.Sub(t0).Milliseconds(); ms <= 1400 || ms >= 2600 {
			sparse = append(sparse, s)
		}
	}
	f = busFigures{}
	busFromSamples(&f, sparse, times, 100)
	if math.Abs(f.CPUCores-0.75) > 1e-9 {
		t.Errorf("bracketed window: cpu %v cores, want 0.75", f.CPUCores)
	}
}

// A source that answered once before the connections and not again before traffic (Docker stats over a remote
// daemon, about once a second) has no second reading: memory per connection is not measured — 0, and left out of
// the summary, not a 0 median or a 0 per GiB.
func TestMemPerConnNeedsTwoReadings(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	ns := func(ms int) int64 { return t0.Add(time.Duration(ms) * time.Millisecond).UnixNano() }
	times := loadgen.Times{ConnectStart: ns(300), Connected: ns(500), TrafficStart: ns(600), MeasureStart: ns(700),
		MeasureEnd: ns(1700), End: ns(2000)}
	ss := []busSample{{T: t0.Add(100 * time.Millisecond), Mem: 10e6, RSS: 8e6}, {T: t0.Add(1500 * time.Millisecond), Mem: 12e6, RSS: 9e6}}
	var f busFigures
	busFromSamples(&f, ss, times, 100)
	if f.MemPerConn != 0 || f.RSSPerConn != 0 {
		t.Fatalf("per connection from one reading: %+v", f)
	}
	d, err := LookupMetric(string(MetricMemPerConn))
	if err != nil {
		t.Fatal(err)
	}
	runs := []*RunResult{{BusFig: busFigures{MemPerConn: 0}}, {BusFig: busFigures{MemPerConn: 32768}}}
	if v := values(runs, d); len(v) != 1 || v[0] != 32768 {
		t.Errorf("values %v: the unmeasured run must be left out", v)
	}
}

func TestMetricsCountersAndCores(t *testing.T) {
	parse := func(s string) map[string]float64 {
		m, err := prom.Parse(strings.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		return m.Values
	}
	m0 := parse(`# HELP bus_dropped_total Frames dropped.
bus_dropped_total{reason="slow_consumer"} 5
bus_errors_total{code="unknown_target"} 1
bus_errors_total{code="malformed"} 0
bus_rejected_connections_total{reason="max_connections"} 0
bus_deliveries_total{mode="direct"} 10
process_resident_memory_bytes 1.2e+07
`)
	m1 := parse(`bus_dropped_total{reason="slow_consumer"} 12
bus_errors_total{code="unknown_target"} 4
bus_errors_total{code="malformed"} 0
bus_rejected_connections_total{reason="max_connections"} 2
bus_deliveries_total{mode="direct"} 110
bus_deliveries_total{mode="broadcast"} 50 1700000000000
`)
	if m0["process_resident_memory_bytes"] != 12e6 {
		t.Errorf("rss %v", m0["process_resident_memory_bytes"])
	}
	var f busFigures
	busCounters(&f, m0, m1)
	if f.Dropped != 7 || f.Rejected != 2 || f.Deliveries != 150 || len(f.Errors) != 2 || f.Errors["unknown_target"] != 3 ||
		f.Errors["malformed"] != 0 {
		t.Errorf("counters %+v", f)
	}
}

// fakeParams are a run's parameters with the idle ladder in the closed runs at 1000 agents.
func fakeParams() busLoadParams {
	return busLoadParams{ClosedPattern: "targeted", Repeat: fakeRepeats, LadderAgents: 1000, LadderPattern: "targeted",
		LadderModel: "closed", LadderSteps: []int{0, 250, 500, 750, 1000}}
}

// fakeRun makes a successful run of bus with the figures the decision reads; a closed run at 1000 agents steps
// through the idle ladder, its slope memPerConn/2 (the per-run figure holds fixed costs too).
func fakeRun(bus string, rep, agents int, pattern, model string, deliv, p95, memPerConn float64, bound bool) *RunResult {
	r := fakeRunNoLadder(bus, rep, agents, pattern, model, deliv, p95, memPerConn, bound)
	if agents == 1000 && model == "closed" {
		r.Ladder = &ladderResult{Fit: &stats.ConnFit{SlopeBytes: memPerConn / 2, InterceptBytes: 4 << 20, Points: 4, MinConns: 250, MaxConns: 1000}}
	}
	return r
}

func fakeRunNoLadder(bus string, rep, agents int, pattern, model string, deliv, p95, memPerConn float64, bound bool) *RunResult {
	h := stats.NewHist()
	h.RecordUS(int64(p95 * 1000))
	r := &RunResult{Bus: bus, Repeat: rep, Agents: agents, Pattern: pattern, Model: model, DeliveredPerS: deliv,
		DeliveryRatio: 1, Latency: stats.Summary{P50MS: p95 / 2, P95MS: p95, P99MS: p95 * 2}, LatencyHDR: h,
		Sessions: loadgen.Sessions{Registered: agents}, GeneratorBound: bound,
		BusFig: busFigures{MemPerConn: memPerConn, CPUCores: 1, DeliveriesPerCPUSecond: deliv / 2}}
	if bound && model == "open" { // a generator short of CPU sends late: most of the latency is its own
		r.SendLag = stats.Summary{P95MS: p95 * 0.8, P99MS: p95 * 0.9}
	}
	return r
}

func fakeResult(goP95, goSat, rustSat float64, satBound bool) *Result {
	return fakeResultOpen(goP95, goSat, rustSat, satBound, false)
}

// fakeResultOpen: openBound marks Go's open-model runs generator-bound.
func fakeResultOpen(goP95, goSat, rustSat float64, satBound, openBound bool) *Result {
	res := &Result{Buses: []buses.Spec{{Name: "go", Impl: "gobus"}, {Name: "rust", Impl: "rustbus"}},
		runs: map[string][]*RunResult{}, Params: fakeParams()}
	for rep := 1; rep <= fakeRepeats; rep++ {
		jitter := float64(rep) / 100
		res.add("go", fakeRun("go", rep, 1000, "targeted", "closed", goSat*(1+jitter), 30, 32768, satBound))
		res.add("rust", fakeRun("rust", rep, 1000, "targeted", "closed", rustSat*(1+jitter), 10, 8192, satBound))
		for _, pt := range []string{"targeted", "broadcast"} {
			res.add("go", fakeRun("go", rep, 1000, pt, "open", 1000, goP95*(1+jitter), 32768, openBound))
			res.add("rust", fakeRun("rust", rep, 1000, pt, "open", 1000, goP95/3, 8192, false))
		}
	}
	res.finish(false)
	return res
}

// fakeRepeats is enough repeats for a 95 % interval, so the decisions can be yes or no.
const fakeRepeats = 6

// TestBusDecision checks what bus-load hands decide.Bus (decide's own tests cover the tree).
func TestBusDecision(t *testing.T) {
	// Go fast enough: stick with Go, whatever Rust does; Rust's memory is a quarter of Go's.
	d := fakeResult(12, 100e3, 300e3, false).decision
	if d.Agents != 1000 || d.AgentsNote != "" || d.GoHandles != decide.Yes || !strings.HasPrefix(d.Recommendation, "Stick with Go") {
		t.Fatalf("decision %+v", d)
	}
	if d.Rust2x != decide.Yes || d.Improvement.Value == nil || math.Abs(d.Improvement.Value.Estimate-3) > 0.1 ||
		!strings.HasPrefix(d.ImprovementBasis, "saturation throughput") || d.Improvement.P == nil {
		t.Errorf("improvement %+v (%s)", d.Improvement, d.ImprovementBasis)
	}
	if d.RustUnderHalfMem != decide.Yes || d.Memory.Value.Estimate != 0.25 {
		t.Errorf("memory %+v", d.Memory)
	}
	if len(d.Patterns) != 2 || len(d.Patterns[0].P95MS.Go) != fakeRepeats || d.Patterns[1].Undelivered[0] != 0 {
		t.Errorf("inputs %+v", d.Patterns)
	}
	// Go too slow, Rust 3× the throughput: build Rust.
	d = fakeResult(80, 100e3, 300e3, false).decision
	if d.GoHandles != decide.No || !strings.HasPrefix(d.Recommendation, "Build Rust message bus") {
		t.Fatalf("slow Go: %+v", d)
	}
	// Go too slow, Rust only 1.5×: optimize Go first.
	d = fakeResult(80, 100e3, 150e3, false).decision
	if !strings.HasPrefix(d.Recommendation, "Optimize Go first") || d.Rust2x != decide.No {
		t.Fatalf("small gain: %+v", d)
	}
	// Generator-bound saturation runs: the improvement comes from the bus's cost per delivery instead.
	d = fakeResult(12, 100e3, 150e3, true).decision
	if !strings.Contains(d.ImprovementBasis, "CPU-second") || d.GeneratorBoundRuns != 2*fakeRepeats {
		t.Errorf("generator-bound: %+v", d)
	}
	// Generator-bound open-model runs: a p95 under the target still answers YES (an upper bound), a miss is
	// inconclusive.
	d = fakeResultOpen(12, 100e3, 300e3, false, true).decision
	if d.GoHandles != decide.Yes || !strings.Contains(d.HandlesP95[0].Detail, "upper bound") {
		t.Errorf("bound, under target: %+v", d)
	}
	d = fakeResultOpen(80, 100e3, 300e3, false, true).decision
	if d.GoHandles != decide.Inconclusive || !strings.HasPrefix(d.Recommendation, "inconclusive") {
		t.Errorf("bound, over target: %+v", d)
	}
	// The same runs with a generator that sent on time (send lag p99 1 ms): the miss is the bus's.
	res := fakeResultOpen(80, 100e3, 300e3, false, true)
	for _, r := range res.runs["go"] {
		if r.Model == "open" {
			r.SendLag = stats.Summary{P99MS: 1}
		}
	}
	res.finish(false)
	if d = res.decision; d.GoHandles != decide.No || len(d.Patterns[0].GoP95FloorMS) != fakeRepeats ||
		!strings.Contains(d.HandlesP95[0].Detail, "the miss is the bus's") {
		t.Errorf("bound, over target, generator on time: handles %s, floors %v, %s", d.GoHandles, d.Patterns[0].GoP95FloorMS, d.HandlesP95[0].Detail)
	}
}

func TestBusRatiosAndReport(t *testing.T) {
	res := fakeResult(12, 100e3, 300e3, false)
	if len(res.ratios) != 3 {
		t.Fatalf("%d ratio rows, want 3", len(res.ratios))
	}
	for _, r := range res.ratios {
		if r.Model == "closed" {
			f := r.Metrics["ws_msgs_received_per_s"]
			if f.Ratio == nil || math.Abs(*f.Ratio-1.0/3) > 1e-9 || f.Paired == nil || f.Paired.N != fakeRepeats || !f.Significant {
				t.Errorf("throughput ratio %+v", f)
			}
			if f := r.Metrics["bus_dropped"]; f.Ratio != nil {
				t.Errorf("0/0 ratio is %v, want null", *f.Ratio)
			}
		}
	}
	var buf bytes.Buffer
	if err := res.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go/rust", "0.33×", "decision (seed Test 2) at 1000 agents", "YES → Stick with Go",
		"Strong case for Rust"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, buf.String())
		}
	}
	out := res.outcome()
	for _, name := range []string{"go-ws-metrics.json", "rust-ws-metrics.json"} {
		res.Buses[0].File, res.Buses[1].File = "go-ws-metrics.json", "rust-ws-metrics.json"
		out = res.outcome()
		v, _ := out.File(name)
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var back struct {
			SchemaVersion int               `json:"schema_version"`
			Summaries     []Summary         `json:"summaries"`
			Runs          []json.RawMessage `json:"runs"`
		}
		if err := json.Unmarshal(b, &back); err != nil || back.SchemaVersion != busLoadSchema || len(back.Summaries) != 3 || len(back.Runs) != 3*fakeRepeats {
			t.Errorf("%s: %v, %+v", name, err, back)
		}
	}
	if out.Decisions.MessageBus == nil {
		t.Errorf("decisions %+v", out.Decisions)
	}
}

// Where the undelivered went: the bus's drops are lost; the rest is still queued when the drain hit its deadline,
// lost when it went quiet; error frames are refused. "Every message delivered" reads these, not the ratio.
func TestBusRunAccount(t *testing.T) {
	for _, tc := range []struct {
		drain                     string
		outstanding, dropped      int64
		lost, queued, undelivered int64
	}{
		{loadgen.DrainComplete, 0, 0, 0, 0, 0},
		{loadgen.DrainDeadline, 500, 0, 0, 500, 500},
		{loadgen.DrainDeadline, 500, 20, 20, 480, 500},
		{loadgen.DrainQuiet, 30, 20, 30, 0, 30},
	} {
		r := &RunResult{DrainEnd: tc.drain, BusFig: busFigures{Dropped: float64(tc.dropped)}}
		r.account(tc.outstanding)
		if r.Lost != tc.lost || r.StillQueued != tc.queued || r.Undelivered() != tc.undelivered {
			t.Errorf("%+v: lost %d, still queued %d, undelivered %d", tc, r.Lost, r.StillQueued, r.Undelivered())
		}
	}
}

// With NATS measured, every bus we build gets its ratios to NATS per configuration, the table its go/nats and
// rust/nats rows, and the decision its "a bus we build vs NATS" line per bus.
func TestBusRatiosToNATS(t *testing.T) {
	for _, bus := range []string{"nats", "all"} {
		p := busParams()
		p.Bus = bus
		if err := checkBusLoad(p); err != nil {
			t.Errorf("--bus %s rejected: %v", bus, err)
		}
	}
	res := fakeResult(12, 100e3, 300e3, false)
	res.Buses = append(res.Buses, buses.Spec{Name: buses.NATS, Impl: "nats-server"})
	for rep := 1; rep <= fakeRepeats; rep++ {
		jitter := float64(rep) / 100
		res.add(buses.NATS, fakeRun(buses.NATS, rep, 1000, "targeted", "closed", 200e3*(1+jitter), 20, 40960, false))
		for _, pt := range []string{"targeted", "broadcast"} {
			res.add(buses.NATS, fakeRun(buses.NATS, rep, 1000, pt, "open", 1000, 5, 40960, false))
		}
	}
	res.finish(false)
	if len(res.vsNATS) != 2*3 || len(res.ratios) != 3 {
		t.Fatalf("%d rows to NATS (want 6), %d go/rust rows", len(res.vsNATS), len(res.ratios))
	}
	for _, r := range res.vsNATS {
		if r.Model != "closed" {
			continue
		}
		f := r.Metrics[MetricPerCPUSecond]
		want := map[string]float64{"go": 0.5, "rust": 1.5}[r.Bus]
		if f.Ratio == nil || math.Abs(*f.Ratio-want) > 1e-9 || f.Paired == nil || f.Paired.N != fakeRepeats {
			t.Errorf("%s/nats per CPU-second %+v, want %v", r.Bus, f, want)
		}
	}
	d := res.decision
	if len(d.VsNATS) != 2 || d.VsNATS[0].Answer != decide.No || d.VsNATS[1].Answer != decide.Yes {
		t.Errorf("bus vs NATS %+v", d.VsNATS)
	}
	var buf bytes.Buffer
	if err := res.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go/nats", "rust/nats", "a bus we build vs NATS: go bus", "run NATS"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, buf.String())
		}
	}
}

// go-netpoll (gobus --transport=netpoll) is selectable alone and part of all; measured with go, it gets a
// go-netpoll/go row per configuration (and its go-netpoll/nats rows), and the decision takes the better Go bus.
func TestBusGoNetpoll(t *testing.T) {
	for _, bus := range []string{buses.GoNetpoll, "all"} {
		p := busParams()
		p.Bus = bus
		if err := checkBusLoad(p); err != nil {
			t.Errorf("--bus %s rejected: %v", bus, err)
		}
	}
	res := fakeResult(12, 100e3, 300e3, false)
	before := res.decision
	res.Buses = append(res.Buses, buses.Spec{Name: buses.GoNetpoll, Impl: "gobus --transport=netpoll", Args: []string{"--transport=netpoll"}})
	for rep := 1; rep <= fakeRepeats; rep++ {
		jitter := float64(rep) / 100
		res.add(buses.GoNetpoll, fakeRun(buses.GoNetpoll, rep, 1000, "targeted", "closed", 150e3*(1+jitter), 20, 4096, false))
		for _, pt := range []string{"targeted", "broadcast"} {
			res.add(buses.GoNetpoll, fakeRun(buses.GoNetpoll, rep, 1000, pt, "open", 1000, 8, 4096, false))
		}
	}
	res.finish(false)
	if len(res.vsGo) != 3 || len(res.ratios) != 3 || len(res.vsNATS) != 0 {
		t.Fatalf("%d go-netpoll/go rows (want 3), %d go/rust rows, %d to NATS", len(res.vsGo), len(res.ratios), len(res.vsNATS))
	}
	for _, r := range res.vsGo {
		if r.Model != "closed" {
			continue
		}
		f := r.Metrics[MetricMemPerConn]
		if r.Bus != buses.GoNetpoll || f.Ratio == nil || math.Abs(*f.Ratio-0.125) > 1e-9 || f.Go != 32768 || f.Bus != 4096 {
			t.Errorf("go-netpoll/go memory per connection %+v, want 4096/32768", f)
		}
	}
	// More deliveries per bus CPU-second than go: Test 2 is decided on go-netpoll (Go's best design).
	if before.GoBus != "go" || res.decision.GoBus != buses.GoNetpoll {
		t.Errorf("decided on %q (before go-netpoll: %q), want go-netpoll", res.decision.GoBus, before.GoBus)
	}
	var buf bytes.Buffer
	if err := res.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go-netpoll/go", "go-netpoll "} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, buf.String())
		}
	}
	// The file of each bus carries the rows, and the table is rebuilt from the files.
	for _, f := range res.outcome().Files {
		bf := f.Value.(File)
		if len(bf.ComparisonGo) != 3 {
			t.Errorf("%s: %d comparison_over_go rows", f.Name, len(bf.ComparisonGo))
		}
	}
}

// TestBusDecisionGoBest: with two Go designs measured, Test 2 is decided on the one with more deliveries per bus
// CPU-second at saturation, and says so.
func TestBusDecisionGoBest(t *testing.T) {
	for _, tc := range []struct {
		netpollSat float64
		want       string
	}{{200e3, "go-netpoll"}, {50e3, "go"}} {
		res := &Result{Buses: []buses.Spec{{Name: "go", Impl: "gobus"}, {Name: "go-netpoll", Impl: "gobus netpoll"},
			{Name: "rust", Impl: "rustbus"}}, runs: map[string][]*RunResult{},
			Params: fakeParams()}
		for rep := 1; rep <= fakeRepeats; rep++ {
			jitter := float64(rep) / 100
			res.add("go", fakeRun("go", rep, 1000, "targeted", "closed", 100e3*(1+jitter), 30, 32768, false))
			res.add("go-netpoll", fakeRun("go-netpoll", rep, 1000, "targeted", "closed", tc.netpollSat*(1+jitter), 30, 4096, false))
			res.add("rust", fakeRun("rust", rep, 1000, "targeted", "closed", 300e3*(1+jitter), 10, 8192, false))
		}
		res.finish(false)
		d := res.decision
		if d.GoBus != tc.want || !strings.Contains(d.GoBusNote, "Go = "+tc.want) {
			t.Fatalf("go-netpoll at %.0f/s: decided on %q (%s), want %s", tc.netpollSat, d.GoBus, d.GoBusNote, tc.want)
		}
		// The memory question uses the same design: go-netpoll's 4 KiB against Rust's 8, gorilla's 32.
		wantMem := map[string]float64{"go-netpoll": 2, "go": 0.25}[tc.want]
		if d.Memory.Value == nil || math.Abs(d.Memory.Value.Estimate-wantMem) > 1e-9 {
			t.Errorf("%s: memory ratio %+v, want %v", tc.want, d.Memory.Value, wantMem)
		}
	}
}

// TestBusDecisionRustBest: rust-epoll is selectable alone and part of all; with two Rust designs measured, Test 2
// is decided on the one with more deliveries per bus CPU-second at saturation, names both designs, and compares it
// with Go's best.
func TestBusDecisionRustBest(t *testing.T) {
	for _, bus := range []string{buses.RustEpoll, "all"} {
		p := busParams()
		p.Bus = bus
		if err := checkBusLoad(p); err != nil {
			t.Errorf("--bus %s rejected: %v", bus, err)
		}
	}
	if p := busParams(); func() bool { p.Bus = "rust-tokio"; return checkBusLoad(p) == nil }() {
		t.Error("--bus rust-tokio accepted")
	}
	for _, tc := range []struct {
		epollSat float64
		want     string
	}{{400e3, buses.RustEpoll}, {50e3, "rust"}} {
		res := &Result{Buses: []buses.Spec{{Name: "go", Impl: "gobus"}, {Name: "go-netpoll", Impl: "gobus netpoll"},
			{Name: "rust", Impl: "rustbus"}, {Name: buses.RustEpoll, Impl: "rust-bus-epoll"}}, runs: map[string][]*RunResult{},
			Params: fakeParams()}
		for rep := 1; rep <= fakeRepeats; rep++ {
			jitter := float64(rep) / 100
			res.add("go", fakeRun("go", rep, 1000, "targeted", "closed", 100e3*(1+jitter), 30, 32768, false))
			res.add("go-netpoll", fakeRun("go-netpoll", rep, 1000, "targeted", "closed", 200e3*(1+jitter), 30, 4096, false))
			res.add("rust", fakeRun("rust", rep, 1000, "targeted", "closed", 100e3*(1+jitter), 10, 8192, false))
			res.add(buses.RustEpoll, fakeRun(buses.RustEpoll, rep, 1000, "targeted", "closed", tc.epollSat*(1+jitter), 10, 2048, false))
		}
		res.finish(false)
		d := res.decision
		if d.GoBus != "go-netpoll" || d.RustBus != tc.want || !strings.Contains(d.RustBusNote, "Rust = "+tc.want) {
			t.Fatalf("rust-epoll at %.0f/s: decided on %q/%q (%s), want go-netpoll/%s", tc.epollSat, d.GoBus, d.RustBus,
				d.RustBusNote, tc.want)
		}
		if !strings.Contains(d.ImprovementBasis, "Rust = "+tc.want+", Go = go-netpoll") {
			t.Errorf("basis %q does not name both designs", d.ImprovementBasis)
		}
		// The improvement and memory questions use the designs decided on: rust-epoll 2× go-netpoll, 0.5 of its
		// memory; rust 0.5×, 2× the memory.
		wantX, wantMem := map[string]float64{buses.RustEpoll: 2, "rust": 0.5}[tc.want], map[string]float64{buses.RustEpoll: 0.5, "rust": 2}[tc.want]
		if v := d.Improvement.Value; v == nil || math.Abs(v.Estimate-wantX) > 0.01 {
			t.Errorf("%s: improvement %+v, want %v", tc.want, v, wantX)
		}
		if v := d.Memory.Value; v == nil || math.Abs(v.Estimate-wantMem) > 1e-9 {
			t.Errorf("%s: memory ratio %+v, want %v", tc.want, v, wantMem)
		}
		var buf bytes.Buffer
		if err := res.WriteTable(&buf); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), "Rust = "+tc.want+", Rust's best design here") {
			t.Errorf("table lacks the Rust design note:\n%s", buf.String())
		}
	}
}

// TestDefaultBusesAreBestAgainstBest: the default --bus (both) measures both designs of Go and of Rust, so the
// decision can take each language's best; the full run adds NATS.
func TestDefaultBusesAreBestAgainstBest(t *testing.T) {
	for _, tc := range []struct {
		quick bool
		want  string
	}{{true, "go,go-netpoll,rust,rust-epoll"}, {false, "go,go-netpoll,rust,rust-epoll,nats"}} {
		got, err := buses.Expand("both", nil, inBoth(tc.quick)...)
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("quick=%v: default buses %v (%v), want %s", tc.quick, got, err, tc.want)
		}
	}
}

// TestBestDesignWithoutBusCPU: where no bus CPU was read in the window (the lab in a container whose daemon answers
// only Docker stats, about once a second), Go's and Rust's best are ranked by saturation throughput and the note
// says so — never a silent fall back to the first design measured (issue 22: compose decided on gorilla).
func TestBestDesignWithoutBusCPU(t *testing.T) {
	res := &Result{Buses: []buses.Spec{{Name: "go", Impl: "gobus"}, {Name: "go-netpoll", Impl: "gobus netpoll"},
		{Name: "rust", Impl: "rustbus"}, {Name: buses.RustEpoll, Impl: "rust-bus-epoll"}}, runs: map[string][]*RunResult{},
		Params: fakeParams()}
	for rep := 1; rep <= fakeRepeats; rep++ {
		for bus, sat := range map[string]float64{"go": 100e3, "go-netpoll": 250e3, "rust": 150e3, buses.RustEpoll: 350e3} {
			r := fakeRun(bus, rep, 1000, "targeted", "closed", sat*(1+float64(rep)/100), 10, 4096, false)
			r.BusFig.CPUCores, r.BusFig.DeliveriesPerCPUSecond = 0, 0
			res.add(bus, r)
		}
	}
	res.finish(false)
	d := res.decision
	if d.GoBus != "go-netpoll" || d.RustBus != buses.RustEpoll {
		t.Fatalf("decided on %q/%q, want go-netpoll/rust-epoll", d.GoBus, d.RustBus)
	}
	for _, note := range []string{d.GoBusNote, d.RustBusNote} {
		if !strings.Contains(note, "saturation throughput") || !strings.Contains(note, "CPU was not read") {
			t.Errorf("note %q does not say the designs were ranked by throughput", note)
		}
	}
}

// TestQuickOpenRunsOnEachFamilysBest: quick's open-model runs go to the designs the decision reads — of each
// family the one with the most deliveries per bus CPU-second at saturation — and flip with the planted figures.
func TestQuickOpenRunsOnEachFamilysBest(t *testing.T) {
	all := []buses.Spec{{Name: "go"}, {Name: buses.GoNetpoll}, {Name: "rust"}, {Name: buses.RustEpoll}, {Name: buses.NATS}}
	if fs := families(all); len(fs) != 3 || !slicesEqual(fs[0], []string{"go", buses.GoNetpoll}) ||
		!slicesEqual(fs[1], []string{"rust", buses.RustEpoll}) || !slicesEqual(fs[2], []string{buses.NATS}) {
		t.Fatalf("families %v", fs)
	}
	for _, tc := range []struct {
		netpollSat, epollSat float64
		want                 []string
	}{{200e3, 400e3, []string{buses.GoNetpoll, buses.RustEpoll, buses.NATS}}, {50e3, 100e3, []string{"go", "rust", buses.NATS}}} {
		res := &Result{Buses: all, runs: map[string][]*RunResult{}, Params: fakeParams()}
		for rep := 1; rep <= fakeRepeats; rep++ {
			j := 1 + float64(rep)/100
			for bus, sat := range map[string]float64{"go": 100e3, buses.GoNetpoll: tc.netpollSat, "rust": 300e3,
				buses.RustEpoll: tc.epollSat, buses.NATS: 200e3} {
				res.add(bus, fakeRun(bus, rep, 1000, "targeted", "closed", sat*j, 30, 4096, false))
			}
		}
		l := &busLab{plan: busPlan{closedPattern: "targeted"}}
		var got []string
		for _, b := range l.familyBest(res, all, 1000) {
			got = append(got, b.Name)
		}
		if !slicesEqual(got, tc.want) || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "open-model latency at 1000 agents measured on "+strings.Join(tc.want, ", ")) {
			t.Errorf("netpoll %.0f, epoll %.0f: open runs on %v (notes %q), want %v", tc.netpollSat, tc.epollSat, got, res.Notes, tc.want)
		}
	}
}
