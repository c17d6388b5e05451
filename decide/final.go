package decide

import "sort"

// SchemaVersion of final-report.json. 2: typed sections (answers yes/no/inconclusive/not-evaluated with their
// intervals) replace version 1's booleans; a section not run in this run is null and listed under not_run.
// 3: the migration scenario (migration), the Docker cost analysis (docker_cost), the scenarios of a composed run.
const SchemaVersion = 3

// Decisions are the seed's four sections; nil means not run in this run.
type Decisions struct {
	MessageBus     *BusDecision       `json:"message_bus"`
	SpawnPatterns  *SpawnDecision     `json:"spawn_patterns"`
	AIStreaming    *StreamingDecision `json:"ai_streaming"`
	AgentMessaging *MessagingDecision `json:"agent_messaging"`
}

// Merge fills d's empty sections from o (the full lab gathers every scenario's).
func (d *Decisions) Merge(o Decisions) {
	if o.MessageBus != nil {
		d.MessageBus = o.MessageBus
	}
	if o.SpawnPatterns != nil {
		d.SpawnPatterns = o.SpawnPatterns
	}
	if o.AIStreaming != nil {
		d.AIStreaming = o.AIStreaming
	}
	if o.AgentMessaging != nil {
		d.AgentMessaging = o.AgentMessaging
	}
}

// NotRun names the sections this run did not evaluate, sorted.
func (d Decisions) NotRun() []string {
	out := []string{}
	for name, set := range map[string]bool{
		"message_bus": d.MessageBus != nil, "spawn_patterns": d.SpawnPatterns != nil,
		"ai_streaming": d.AIStreaming != nil, "agent_messaging": d.AgentMessaging != nil,
	} {
		if !set {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// ScenarioRun is how one scenario of the run ended.
type ScenarioRun struct {
	Name   string  `json:"name"`
	Status string  `json:"status"` // ok | failed | interrupted | skipped | not-run
	Reason string  `json:"reason,omitempty"`
	WallS  float64 `json:"wall_s"`
}

// Scenario statuses.
const (
	StatusOK          = "ok"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted"
	StatusSkipped     = "skipped" // left out before the run (--skip-docker)
	StatusNotRun      = "not-run" // the run was interrupted before it started
)

// FinalReport is final-report.json: the decision tree evaluated on this run, with its inputs.
type FinalReport struct {
	SchemaVersion int       `json:"schema_version"`
	Scenario      string    `json:"scenario"`
	Parameters    any       `json:"parameters"` // the run's typed parameters (scenarios.Params)
	Decisions     Decisions `json:"decisions"`
	// Scenarios says how each scenario of a composed run (all) ended; absent for a single scenario.
	Scenarios []ScenarioRun `json:"scenarios,omitempty"`
	NotRun    []string      `json:"not_run"` // sections of Decisions that are null: not run in this run
	// Migration is the seed's migration scenario 1–4 chosen from Decisions; DockerCost its cost analysis.
	Migration   MigrationDecision `json:"migration"`
	DockerCost  CostAnalysis      `json:"docker_cost"`
	Files       []string          `json:"files"`
	Interrupted bool              `json:"interrupted"`
	Error       string            `json:"error,omitempty"`
}

// NewFinalReport assembles the report; the runner fills Files, Interrupted and Error.
func NewFinalReport(scenario string, params any, d Decisions, cost CostInput) FinalReport {
	return FinalReport{SchemaVersion: SchemaVersion, Scenario: scenario, Parameters: params, Decisions: d, NotRun: d.NotRun(),
		Migration: Migration(d), DockerCost: Cost(cost, d)}
}
