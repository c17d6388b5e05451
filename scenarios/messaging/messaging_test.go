package messaging

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/agent"
	"github.com/agentlab/agentlab/internal/cluster"
	"github.com/agentlab/agentlab/internal/stats"
	"github.com/agentlab/agentlab/scenarios/buses"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

func msgParams() Params {
	return Params{scenario.Params{Agents: 10, TaskKiB: 64, Repeat: 6, Bus: "both", Iterations: 1, Sample: 100 * time.Millisecond},
		Flags{Conversations: 5, Turns: 100}}
}

func TestMessagingCheck(t *testing.T) {
	if err := msgParams().check(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	for name, mod := range map[string]func(*Params){
		"two agents":    func(p *Params) { p.Agents = 2 },
		"no turns":      func(p *Params) { p.Turns = 1 },
		"no convs":      func(p *Params) { p.Conversations = 0 },
		"bad bus":       func(p *Params) { p.Bus = "java" },
		"unknown fault": func(p *Params) { p.Faults = "bus-restart,meteor" },
		"huge task":     func(p *Params) { p.TaskKiB = 4096 },
	} {
		p := msgParams()
		mod(&p)
		if err := p.check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMessagingQuick(t *testing.T) {
	p := msgParams()
	p.applyQuick(func(string) bool { return false })
	if p.Agents != quickMsgAgents || p.Conversations != quickMsgConversations || p.Turns != quickMsgTurns ||
		p.Repeat != quickMsgRepeat || p.Faults != "all" {
		t.Fatalf("quick sizes %+v", p)
	}
	p = msgParams()
	p.Faults = ""
	p.applyQuick(func(f string) bool { return f == "faults" || f == "agents" })
	if p.Faults != "" || p.Agents != 10 {
		t.Fatalf("explicit flags overridden by --quick: %+v", p)
	}
}

func TestParseFaults(t *testing.T) {
	for in, want := range map[string]string{"": "", "none": "", "all": strings.Join(allFaults, ","),
		"bus-pause, agent-kill,bus-pause": "bus-pause,agent-kill"} {
		got, err := parseFaults(in)
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("%q: %v %v, want %q", in, got, err, want)
		}
	}
}

// What --faults means depends on the target: "all" is the single-host faults on one host, the node faults on the
// test cluster, none on another swarm; a fault the target cannot inject is refused with what it needs.
func TestTargetFaults(t *testing.T) {
	host, onCluster, otherSwarm := (*swarmSide)(nil), &swarmSide{c: cluster.Layout(cluster.Options{Name: "x"})}, &swarmSide{}
	for _, tc := range []struct {
		spec string
		sw   *swarmSide
		want string // the faults, or the error's start
	}{
		{"all", host, strings.Join(allFaults, ",")},
		{"all", onCluster, "node-partition,node-lost"},
		{"all", otherSwarm, ""},
		{"", onCluster, ""},
		{"node-lost", onCluster, "node-lost"},
		{"node-lost", host, "error: --faults node-lost needs a swarm"},
		{"node-partition", otherSwarm, "error: --faults node-partition needs the test cluster"},
		{"bus-pause", onCluster, "error: --faults bus-pause: not on a swarm"},
		{"node-gone", onCluster, "error: --faults: unknown fault"},
	} {
		got, err := targetFaults(tc.spec, tc.sw)
		s := strings.Join(got, ",")
		if err != nil {
			s = "error: " + err.Error()
		}
		if !strings.HasPrefix(s, tc.want) || (err == nil && s != tc.want) {
			t.Errorf("%q on %+v: %q, want %q", tc.spec, tc.sw, s, tc.want)
		}
	}
}

// On a swarm the table says where every task ran, a replaced task with how it ended.
func TestPlacementTable(t *testing.T) {
	r := &Result{SwarmTasks: []SwarmTask{{Service: "bus-go", Node: "n1", State: "running"},
		{Service: "go/a0", Node: "n2", State: "running"}, {Service: "go/a1", Node: "n3", State: "failed", ExitCode: 137},
		{Service: "go/a1", Node: "n3", State: "running"}}}
	var b bytes.Buffer
	if err := r.writePlacement(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"n1    1      bus-go", "n2    1      go/a0", "n3    2      go/a1 (failed, exit 137), go/a1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("placement lacks %q:\n%s", want, b.String())
		}
	}
}

func TestConvPlan(t *testing.T) {
	d := convPlan(topoDirect, 10, 5, 7)
	if len(d) != 5 || len(d[0]) != 1 || strings.Join(d[4][0].Members, ",") != "a8,a9" || d[0][0].Turns != 7 {
		t.Errorf("direct %+v", d)
	}
	g := convPlan(topoGroup, 4, 2, 7)
	if len(g) != 2 || strings.Join(g[1][0].Members, ",") != "a3,a0,a1" {
		t.Errorf("group %+v", g)
	}
	p := convPlan(topoParallel, 3, 4, 0)
	if len(p) != 1 || len(p[0]) != 4 {
		t.Fatalf("parallel %+v", p)
	}
	ids := map[string]bool{}
	for _, c := range p[0] {
		if c.Members[0] == c.Members[1] {
			t.Errorf("conversation %s with itself", c.ID)
		}
		ids[c.ID] = true
	}
	if len(ids) != 4 {
		t.Errorf("ids %v", ids)
	}
}

func TestIntersectQuiet(t *testing.T) {
	got := intersect([][2]int64{{0, 10}, {20, 30}}, [][2]int64{{5, 25}})
	if len(got) != 2 || got[0] != [2]int64{5, 10} || got[1] != [2]int64{20, 25} {
		t.Fatalf("intersect %v", got)
	}
	// Two members: quiet only where both are.
	a := (&convAgg{}).add(agent.ConvReport{FirstNS: 100, LastNS: 1000, Stalls: [][2]int64{{200, 500}}})
	a = a.add(agent.ConvReport{FirstNS: 110, LastNS: 990, Stalls: [][2]int64{{210, 600}}})
	q := a.quiet()
	if len(q) != 3 || q[0] != [2]int64{math.MinInt64, 100} || q[1] != [2]int64{210, 500} || q[2] != [2]int64{1000, math.MaxInt64} {
		t.Fatalf("quiet %v", q)
	}
	if v, ok := a.firstAfter(300); !ok || v != 500 {
		t.Errorf("firstAfter(300) = %d %v, want 500", v, ok)
	}
	if v, ok := a.firstAfter(700); !ok || v != 700 {
		t.Errorf("firstAfter(700) = %d %v, want 700 (moving)", v, ok)
	}
	if _, ok := a.firstAfter(2000); ok {
		t.Error("firstAfter past the end found a turn")
	}
}

// A fault that stops one of two conversations for 2 s: one affected, recovery measured from back, the events in
// the window counted by kind.
func TestFaultAnalyse(t *testing.T) {
	ms := int64(time.Millisecond)
	t0 := int64(1e18)
	f := FaultRun{InjectedNS: t0, BackNS: t0 + 1500*ms, EndNS: t0 + 5000*ms}
	reps := []agent.Report{
		{Agent: "a0", Convs: []agent.ConvReport{
			{ID: "p0", Received: 100, FirstNS: t0 - 1000*ms, LastNS: t0 + 6000*ms, Stalls: [][2]int64{{t0 + 20*ms, t0 + 2000*ms}}},
			{ID: "p1", Received: 100, FirstNS: t0 - 1000*ms, LastNS: t0 + 6000*ms},
		}, Events: []agent.Event{
			{NS: t0 + 2000*ms, Kind: "taken-on-resend"}, {NS: t0 + 2001*ms, Kind: "duplicate"},
			{NS: t0 + 2002*ms, Kind: "bus-error:unknown_target"}, {NS: t0 - ms, Kind: "duplicate"}, // before: not counted
			{NS: t0 + 1600*ms, Kind: "reconnect"},
		}},
		{Agent: "a1", Convs: []agent.ConvReport{
			{ID: "p0", Received: 100, FirstNS: t0 - 1000*ms, LastNS: t0 + 6000*ms, Stalls: [][2]int64{{t0 + 10*ms, t0 + 2100*ms}}},
		}},
	}
	f.analyse(reps)
	if f.Conversations != 2 || f.Affected != 1 || f.RecoveryMS == nil || *f.RecoveryMS != 500 || len(f.Hung) != 0 {
		t.Fatalf("recovery: %+v", f)
	}
	if f.StallMS < 1979 || f.StallMS > 1981 {
		t.Errorf("stall %v ms, want 1980", f.StallMS)
	}
	if f.TurnsLost != 1 || f.TurnsRepeated != 1 || f.BusErrors["unknown_target"] != 1 || f.Reconnects != 1 {
		t.Errorf("counts: %+v", f)
	}
	// A conversation that never moves after back is hung, and there is no recovery time.
	g := FaultRun{InjectedNS: t0, BackNS: t0 + 1500*ms, EndNS: t0 + 5000*ms}
	g.analyse([]agent.Report{{Convs: []agent.ConvReport{{ID: "p0", Received: 5, FirstNS: t0 - 1000*ms, LastNS: t0 + 5*ms}}}})
	if g.RecoveryMS != nil || len(g.Hung) != 1 || g.Affected != 1 {
		t.Errorf("hung: %+v", g)
	}
	// The same fault cut short by Ctrl-C: no recovery time, and no conversation called hung.
	h := FaultRun{InjectedNS: t0, BackNS: t0 + 1500*ms, EndNS: t0 + 1600*ms, Interrupted: true}
	h.analyse([]agent.Report{{Convs: []agent.ConvReport{{ID: "p0", Received: 5, FirstNS: t0 - 1000*ms, LastNS: t0 + 5*ms}}}})
	if h.RecoveryMS != nil || len(h.Hung) != 0 {
		t.Errorf("interrupted: %+v", h)
	}
}

func hist(us ...int64) *stats.Hist {
	h := stats.NewHist()
	for _, v := range us {
		h.RecordUS(v)
	}
	return h
}

// twoRunResult is a go bus result with two planned direct runs of 2 agents, phases ph0 and ph1.
func twoRunResult() *Result {
	env := &Env{Env: &scenario.Env{RunID: "r1"}, Params: msgParams()}
	res := newMessagingResult(env, []buses.Spec{{Name: "go"}}, nil, quickFaultTiming, nil)
	for rep := 0; rep < 2; rep++ {
		res.Runs = append(res.Runs, MessagingRun{Bus: "go", Pattern: topoDirect, Repeat: rep, Agents: 2, Conversations: 1,
			Phases: []string{"ph" + string(rune('0'+rep))}, TurnsPlanned: 4, WallS: 0.01})
	}
	return res
}

// absorb → finish → decision → table and JSON, from synthetic reports.
func TestMessagingResultPipeline(t *testing.T) {
	res := twoRunResult()
	var rs []ctrReport
	for rep := 0; rep < 2; rep++ {
		ph := "ph" + string(rune('0'+rep))
		for i, id := range []string{"a0", "a1"} {
			c := agent.Counts{Sent: 2, Received: 2, FirstTry: 2, BusErrors: map[string]int64{}}
			if rep == 1 && i == 1 {
				c.Duplicate = 1 // one context error in the second repeat
			}
			// An older snapshot of the same container and phase is superseded by the newer one.
			rs = append(rs, ctrReport{Container: id + ph, Report: agent.Report{Agent: id, Phase: ph, Counts: agent.Counts{Sent: 9}, Latency: hist()}})
			rs = append(rs, ctrReport{Container: id + ph, Report: agent.Report{Agent: id, Phase: ph, Counts: c, Latency: hist(1000, 2000),
				Convs: []agent.ConvReport{{ID: "d0", Received: 2, FirstSentNS: map[bool]int64{true: 1e9}[i == 0], FirstNS: 1e9 + 1, LastNS: 1e9 + 1e7}}}})
		}
	}
	res.absorb(rs, "go")
	res.finish()
	r0, r1 := res.Runs[0], res.Runs[1]
	if r0.Sent != 4 || r0.Received != 4 || r0.SuccessPct != 100 || !r0.ContextOK || r0.Errors.Total != 0 {
		t.Errorf("run 0: %+v", r0)
	}
	if r1.ContextOK || r1.Errors.Duplicate != 1 || r1.Errors.Total != 1 {
		t.Errorf("run 1: %+v", r1)
	}
	if r0.Latency.Count != 4 || r0.TurnsPerSec != 400 || len(r0.ConvTPS) != 1 || r0.ConvTPS[0] != 400 {
		t.Errorf("run 0 figures: latency %+v, %v turns/s, conv %v", r0.Latency, r0.TurnsPerSec, r0.ConvTPS)
	}
	if len(res.Summary) != 1 || res.Summary[0].Errors != 1 || res.Summary[0].ContextOK {
		t.Errorf("summary %+v", res.Summary)
	}
	in := res.decisionInputs()
	if len(in) != 1 || len(in[0].SuccessPct) != 2 || in[0].Errors != 1 {
		t.Fatalf("decision inputs %+v", in)
	}
	d := decide.Messaging(in)
	res.Decision = &d
	if d.Buses[0].Zero.Answer != decide.No {
		t.Errorf("zero errors answered %v with one duplicate", d.Buses[0].Zero.Answer)
	}
	var b bytes.Buffer
	if err := res.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"direct", "NOT preserved", "Zero errors?"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js, &back); err != nil || back["scenario"] != "agent-messaging" || back["decision"] == nil {
		t.Errorf("json: %v %v", err, back["scenario"])
	}
}

// A run whose turns never arrived (the bus lost its start: no agent reported) is a run at 0 % success in Test 5,
// not a missing sample; it gives no latency.
func TestMessagingLostRunCountsAsFailed(t *testing.T) {
	res := twoRunResult()
	var rs []ctrReport
	for _, id := range []string{"a0", "a1"} { // repeat 0 only: repeat 1's go was lost
		rs = append(rs, ctrReport{Container: id, Report: agent.Report{Agent: id, Phase: "ph0",
			Counts: agent.Counts{Sent: 2, Received: 2, FirstTry: 2, BusErrors: map[string]int64{}}, Latency: hist(1000, 2000)}})
	}
	res.absorb(rs, "go")
	res.finish()
	in := res.decisionInputs()
	if len(in) != 1 || len(in[0].SuccessPct) != 2 || in[0].SuccessPct[1] != 0 || len(in[0].P95MS) != 1 || in[0].Errors == 0 {
		t.Fatalf("decision inputs %+v: want success [100 0], one p95, the lost run's missing reports counted", in)
	}
}
