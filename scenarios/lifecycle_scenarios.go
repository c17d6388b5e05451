package scenarios

import "context"

// lifecycleScenario is one of the seed's Test 3 scenarios: a set of lifecycle patterns run interleaved.
type lifecycleScenario struct {
	name, describe string
	docker         bool
	set            lifecycleSet
}

// SpawnProcess forks and execs the agent binary per task (the seed's "Spawn-Kill CLI").
func SpawnProcess() Scenario {
	return lifecycleScenario{name: "spawn-process", set: lifecycleSet{spawnProcess: true},
		describe: "fork/exec the agent binary per task (seed Test 3: spawn-kill CLI)"}
}

// PersistentProcess keeps --agents agent processes up and sends them tasks over loopback TCP.
func PersistentProcess() Scenario {
	return lifecycleScenario{name: "persistent-process", set: lifecycleSet{persistentProcess: true},
		describe: "long-running agent processes, tasks over loopback TCP (seed Test 3: persistent)"}
}

// SpawnDocker creates, starts, waits for and removes an agent container per task through testcontainers-go, and
// times the raw Engine API doing the same in the same run, interleaved, so the report shows what testcontainers adds.
func SpawnDocker() Scenario {
	return lifecycleScenario{name: "spawn-docker", docker: true, set: lifecycleSet{spawnDocker: true, spawnDockerRaw: true},
		describe: "a container per task via testcontainers-go, and via the raw Engine API (seed Test 3: spawn-kill Docker)"}
}

// PersistentDocker keeps --agents agent containers up and sends them tasks through testcontainers' Host/MappedPort.
func PersistentDocker() Scenario {
	return lifecycleScenario{name: "persistent-docker", docker: true, set: lifecycleSet{persistentDocker: true},
		describe: "long-running agent containers, tasks over their mapped ports (seed Test 3: persistent Docker)"}
}

// Spawn runs all four lifecycle patterns (plus the raw Engine API path) interleaved, with ratios and the seed's
// decision.
func Spawn() Scenario {
	return lifecycleScenario{name: "spawn", docker: true,
		set:      lifecycleSet{spawnProcess: true, persistentProcess: true, spawnDocker: true, spawnDockerRaw: true, persistentDocker: true},
		describe: "all four lifecycle patterns interleaved, with ratios and the seed's Test 3 decision"}
}

func (s lifecycleScenario) Name() string      { return s.name }
func (s lifecycleScenario) Describe() string  { return s.describe }
func (s lifecycleScenario) NeedsDocker() bool { return s.docker }
func (s lifecycleScenario) Run(ctx context.Context, env *Env) (*Outcome, error) {
	return runLifecycle(ctx, env, s.set)
}

// --quick sizes of the lifecycle scenarios. Six rounds is the fewest for which the per-round savings get a 95 %
// interval (stats.MinNForCI), so even --quick can decide Test 3's time question.
const (
	quickIterations = 20
	quickAgents     = 3
	quickRounds     = 6
)

// ApplyQuick implements Quicker.
func (lifecycleScenario) ApplyQuick(p *Params, set func(string) bool) {
	if !set("iterations") {
		p.Iterations = quickIterations
	}
	if !set("agents") {
		p.Agents = quickAgents
	}
	if !set("rounds") {
		p.Rounds = quickRounds
	}
}
