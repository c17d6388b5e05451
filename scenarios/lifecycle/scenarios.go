package lifecycle

import (
	"context"

	"github.com/agentlab/agentlab/scenarios/scenario"
)

// lifecycleScenario is one of the seed's Test 3 scenarios: a set of lifecycle patterns run interleaved.
type lifecycleScenario struct {
	flags          *Flags
	name, describe string
	docker         bool
	set            lifecycleSet
}

// SpawnProcess forks and execs the agent binary per task (the seed's "Spawn-Kill CLI").
func SpawnProcess(f *Flags) scenario.Scenario {
	return lifecycleScenario{flags: f, name: "spawn-process", set: lifecycleSet{spawnProcess: true, spawnNpx: true},
		describe: "fork/exec the agent per task, per --runtime, and node's npx path (seed Test 3: spawn-kill CLI)"}
}

// PersistentProcess keeps --agents agent processes up and sends them tasks over loopback TCP.
func PersistentProcess(f *Flags) scenario.Scenario {
	return lifecycleScenario{flags: f, name: "persistent-process", set: lifecycleSet{persistentProcess: true},
		describe: "long-running agent processes, tasks over loopback TCP (seed Test 3: persistent)"}
}

// SpawnDocker creates, starts, waits for and removes an agent container per task through testcontainers-go, and
// times the raw Engine API doing the same in the same run, interleaved, so the report shows what testcontainers adds.
func SpawnDocker(f *Flags) scenario.Scenario {
	return lifecycleScenario{flags: f, name: "spawn-docker", docker: true, set: lifecycleSet{spawnDocker: true, spawnDockerRaw: true},
		describe: "a container per task via testcontainers-go, and via the raw Engine API (seed Test 3: spawn-kill Docker)"}
}

// PersistentDocker keeps --agents agent containers up and sends them tasks through testcontainers' Host/MappedPort.
func PersistentDocker(f *Flags) scenario.Scenario {
	return lifecycleScenario{flags: f, name: "persistent-docker", docker: true, set: lifecycleSet{persistentDocker: true},
		describe: "long-running agent containers, tasks over their mapped ports (seed Test 3: persistent Docker)"}
}

// Spawn runs all four lifecycle patterns (plus the raw Engine API path) interleaved, with ratios and the seed's
// decision.
func Spawn(f *Flags) scenario.Scenario {
	return lifecycleScenario{flags: f, name: "spawn", docker: true,
		set:      lifecycleSet{spawnProcess: true, persistentProcess: true, spawnDocker: true, spawnDockerRaw: true, persistentDocker: true, spawnNpx: true},
		describe: "all four lifecycle patterns interleaved, with ratios and the seed's Test 3 decision"}
}

func (s lifecycleScenario) Name() string      { return s.name }
func (s lifecycleScenario) Describe() string  { return s.describe }
func (s lifecycleScenario) NeedsDocker() bool { return s.docker }
func (s lifecycleScenario) Run(ctx context.Context, senv *scenario.Env) (*scenario.Outcome, error) {
	return runLifecycle(ctx, &Env{Env: senv, Params: Params{senv.Params, *s.flags}}, s.set)
}

// WithoutDocker implements scenario.DockerSkipper: the scenario's process patterns.
func (s lifecycleScenario) WithoutDocker() scenario.Scenario {
	set := lifecycleSet{spawnProcess: s.set.spawnProcess, persistentProcess: s.set.persistentProcess, spawnNpx: s.set.spawnNpx}
	if set == (lifecycleSet{}) {
		return s
	}
	return lifecycleScenario{flags: s.flags, name: s.name + " (process only)", set: set,
		describe: s.describe + " (process patterns only: --skip-docker)"}
}

// --quick sizes of the lifecycle scenarios. Six rounds is the fewest for which the per-round savings get a 95 %
// interval (stats.MinNForCI), so even --quick can decide Test 3's time question.
const (
	quickIterations = 20
	quickAgents     = 3
	quickRounds     = 6
)

// ApplyQuick implements Quicker.
func (s lifecycleScenario) ApplyQuick(p *scenario.Params, set func(string) bool) {
	if !set("iterations") {
		p.Iterations = quickIterations
	}
	if !set("agents") {
		p.Agents = quickAgents
	}
	if !set("rounds") {
		s.flags.Rounds = quickRounds
	}
}

// Check implements scenario.Checker: the lifecycle flags.
func (s lifecycleScenario) Check(scenario.Params) error { return s.flags.check() }
