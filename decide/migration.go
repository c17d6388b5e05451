package decide

import (
	"fmt"
	"strings"

	"github.com/agentlab/agentlab/internal/stats"
)

// The seed's "Migration Recommendations": four scenarios, each with the criteria that point to it. Node.js there is
// Go here (the agents' and the bus's current language).
//
//	Scenario 1: Full Rust Migration    — WebSocket test shows 3x+ improvement; Memory savings >60%;
//	                                     High concurrent agent count (>500)
//	Scenario 2: Hybrid Approach        — WebSocket test shows 2x improvement; AI streaming is network-bound;
//	                                     Persistent pattern saves 50%+ time
//	Scenario 3: Stay with Node.js      — WebSocket test shows <50% improvement; AI streaming is CPU-efficient;
//	                                     Spawn-kill pattern is acceptable
//	Scenario 4: Persistent Architecture Only — Persistent pattern saves >50% time; Memory is stable;
//	                                     Agent messaging success >95%
const (
	// FullRustImprovementMin: "WebSocket test shows 3x+ improvement" — Rust/Go on Test 2's improvement basis.
	FullRustImprovementMin = 3.0
	// FullRustMemorySavingsPct: "Memory savings >60%" — 100·(1 − Rust/Go memory per connection).
	FullRustMemorySavingsPct = 60.0
	// FullRustAgentsMin: "High concurrent agent count (>500)" — the agent count Test 2 was decided at.
	FullRustAgentsMin = 500
	// HybridImprovementMin: "WebSocket test shows 2x improvement" — Test 2's own 2× question.
	HybridImprovementMin = RustImprovementMin
	// StayImprovementMax: "WebSocket test shows <50% improvement" — Rust/Go below 1.5.
	StayImprovementMax = 1.5
)

// The scenarios, in the order they are chosen: the first whose criteria are all met. Full Rust before Hybrid (it
// asks more of the same measurements), Persistent-only before Stay (both leave the bus in Go; persistent asks for a
// measured gain).
const (
	MigrationFullRust       = "1-full-rust"
	MigrationHybrid         = "2-hybrid"
	MigrationPersistentOnly = "4-persistent-only"
	MigrationStay           = "3-stay-with-go"
)

// Criterion is one of a scenario's criteria with its answer.
type Criterion struct {
	Criterion string `json:"criterion"` // the seed's words
	Answer    Answer `json:"answer"`    // met = yes, unmet = no, inconclusive, not-evaluated
	From      string `json:"from"`      // the decision it is read from
	Detail    string `json:"detail"`
}

// MigrationScenario is one of the seed's four scenarios with its criteria.
type MigrationScenario struct {
	ID             string      `json:"id"`
	Name           string      `json:"name"`
	Recommendation string      `json:"recommendation"`
	Criteria       []Criterion `json:"criteria"`
	Met            Answer      `json:"all_met"` // yes when every criterion is met
}

// MigrationDecision is the migration scenario chosen by the seed's criteria.
type MigrationDecision struct {
	Rule      string              `json:"rule"`
	Scenarios []MigrationScenario `json:"scenarios"`
	// Chosen is the first scenario whose criteria are all met; empty when none is.
	Chosen string `json:"chosen"`
	// Candidates are the scenarios with no unmet criterion when none is chosen: more data may choose among them.
	Candidates []string `json:"candidates,omitempty"`
	Answer     string   `json:"answer"`
}

// fromCheck turns a decided check into a criterion, negated when the criterion is the check's opposite.
func fromCheck(criterion, from string, a Answer, detail string, negate bool) Criterion {
	if negate {
		switch a {
		case Yes:
			a = No
		case No:
			a = Yes
		}
	}
	return Criterion{Criterion: criterion, Answer: a, From: from, Detail: detail}
}

// fromInterval answers a criterion on an interval against a threshold (the same rule as every check).
func fromInterval(criterion, from string, iv *stats.Interval, t float64, dir Direction, verb string) Criterion {
	c := Criterion{Criterion: criterion, From: from}
	if iv == nil {
		c.Answer, c.Detail = NotEvaluated, "not measured"
		return c
	}
	c.Answer, c.Detail = against(*iv, t, dir, verb)
	return c
}

// savingsOf turns an interval of Rust/Go fractions into one of 100·(1 − fraction) (bounds swap: it decreases).
func savingsOf(iv *stats.Interval) *stats.Interval {
	if iv == nil {
		return nil
	}
	f := func(x float64) float64 { return 100 * (1 - x) }
	out := stats.Interval{Estimate: f(iv.Estimate), Min: f(iv.Max), Max: f(iv.Min), N: iv.N, Confidence: iv.Confidence}
	if iv.HasCI() {
		lo, hi := f(*iv.High95), f(*iv.Low95)
		out.Low95, out.High95 = &lo, &hi
	}
	return &out
}

// Migration chooses the seed's migration scenario from the four sections of the decision tree.
func Migration(d Decisions) MigrationDecision {
	notRun := func(section string) Criterion {
		return Criterion{Answer: NotEvaluated, From: section, Detail: section + " was not run"}
	}
	var improv, memSave *stats.Interval
	var rust2x, busAgents Criterion
	if b := d.MessageBus; b != nil {
		if b.Improvement.Answer != NotEvaluated {
			improv = b.Improvement.Value
		}
		if b.Memory.Answer != NotEvaluated {
			memSave = savingsOf(b.Memory.Value)
		}
		rust2x = fromCheck("WebSocket test shows 2x improvement", "message_bus.rust_2x_or_better", b.Rust2x, b.Improvement.Detail, false)
		busAgents = Criterion{Criterion: "High concurrent agent count (>500)", From: "message_bus.agents", Answer: No,
			Detail: "Test 2 " + AnsweredAt(b.Agents)}
		if b.Agents > FullRustAgentsMin {
			busAgents.Answer = Yes
		}
	} else {
		rust2x, busAgents = notRun("message_bus"), notRun("message_bus")
		rust2x.Criterion, busAgents.Criterion = "WebSocket test shows 2x improvement", "High concurrent agent count (>500)"
	}
	bus3x := fromInterval("WebSocket test shows 3x+ improvement", "message_bus.rust_improvement", improv, FullRustImprovementMin, YesAbove, "%.2f×")
	memOver60 := fromInterval("Memory savings >60%", "message_bus.rust_over_go_memory", memSave, FullRustMemorySavingsPct, YesAbove, "%.1f %%")
	busUnder50 := fromInterval("WebSocket test shows <50% improvement", "message_bus.rust_improvement", improv, StayImprovementMax, YesBelow, "%.2f×")

	var netBound, cpuEff, saves, spawnOK, memStable Criterion
	if s := d.AIStreaming; s != nil {
		netBound = fromCheck("AI streaming is network-bound", "ai_streaming.under_1ms", s.NetworkBound.Answer, s.NetworkBound.Detail, false)
		cpuEff = fromCheck("AI streaming is CPU-efficient", "ai_streaming.under_1ms", s.NetworkBound.Answer, s.NetworkBound.Detail, false)
	} else {
		netBound, cpuEff = notRun("ai_streaming"), notRun("ai_streaming")
		netBound.Criterion, cpuEff.Criterion = "AI streaming is network-bound", "AI streaming is CPU-efficient"
	}
	if s := d.SpawnPatterns; s != nil {
		saves = fromCheck("Persistent pattern saves >50% time", "spawn_patterns.persistent_saves_over_50pct", s.PersistentSaves50, s.TimeAnswer, false)
		spawnOK = fromCheck("Spawn-kill pattern is acceptable (persistent does not save >50%)", "spawn_patterns.persistent_saves_over_50pct", s.PersistentSaves50, s.TimeAnswer, true)
		memStable = fromCheck("Memory is stable", "spawn_patterns.memory_stable", s.MemoryStable, s.MemoryAnswer, false)
	} else {
		saves, spawnOK, memStable = notRun("spawn_patterns"), notRun("spawn_patterns"), notRun("spawn_patterns")
		saves.Criterion, spawnOK.Criterion, memStable.Criterion = "Persistent pattern saves >50% time", "Spawn-kill pattern is acceptable (persistent does not save >50%)", "Memory is stable"
	}
	success := Criterion{Criterion: "Agent messaging success >95%", From: "agent_messaging", Answer: NotEvaluated, Detail: "agent_messaging was not run"}
	if m := d.AgentMessaging; m != nil && len(m.Buses) > 0 {
		// The persistent architecture keeps the current (Go) bus: its verdict, else the first bus measured.
		v := m.Buses[0]
		for _, b := range m.Buses {
			if b.Bus == "go" {
				v = b
			}
		}
		success = fromCheck("Agent messaging success >95%", "agent_messaging.buses["+v.Bus+"].success_over_95pct", v.Success.Answer, v.Success.Detail, false)
	}

	out := MigrationDecision{
		Rule: "a scenario is chosen when every criterion is met (each answered on its 95 % interval as in the decision tree); the first such in the order full Rust, hybrid, persistent only, stay with Go",
		Scenarios: []MigrationScenario{
			{ID: MigrationFullRust, Name: "Full Rust Migration", Recommendation: "Build Rust message bus, keep Go agents (Rust core + Go application layer)",
				Criteria: []Criterion{bus3x, memOver60, busAgents}},
			{ID: MigrationHybrid, Name: "Hybrid Approach", Recommendation: "Rust for the message bus (routing, presence, coordination), Go for agents (AI calls, business logic, stateful memory)",
				Criteria: []Criterion{rust2x, netBound, saves}},
			{ID: MigrationPersistentOnly, Name: "Persistent Architecture Only", Recommendation: "Move to persistent agents in Go with the message bus; skip the Rust migration (not needed yet)",
				Criteria: []Criterion{saves, memStable, success}},
			{ID: MigrationStay, Name: "Stay with Go", Recommendation: "Optimize the Go bus (WebSocket implementation, connection pooling, caching layers); defer Rust; revisit beyond 1000 concurrent agents",
				Criteria: []Criterion{busUnder50, cpuEff, spawnOK}},
		},
	}
	for i := range out.Scenarios {
		s := &out.Scenarios[i]
		as := make([]Answer, len(s.Criteria))
		for j, c := range s.Criteria {
			as[j] = c.Answer
		}
		s.Met = all(as...)
		if s.Met == Yes && out.Chosen == "" {
			out.Chosen = s.ID
			out.Answer = fmt.Sprintf("Scenario %s (%s): every criterion met → %s", s.ID[:1], s.Name, s.Recommendation)
		}
	}
	if out.Chosen == "" {
		for _, s := range out.Scenarios {
			if s.Met != No {
				out.Candidates = append(out.Candidates, s.ID)
			}
		}
		switch {
		case len(out.Candidates) == 0:
			out.Answer = "none: every scenario has an unmet criterion (see the criteria)"
		default:
			out.Answer = "inconclusive: no scenario has every criterion met; not ruled out: " + strings.Join(out.Candidates, ", ") +
				" (their open criteria are inconclusive or not evaluated: more repeats/rounds, or the missing scenarios, decide)"
		}
	}
	return out
}
