package scenarios

import "context"

type spawnDockerScenario struct{}

// SpawnDocker creates, starts, waits for and removes an agent container per task through testcontainers-go, and
// times the raw Engine API doing the same in the same run, interleaved, so the report shows what testcontainers adds.
func SpawnDocker() Scenario { return spawnDockerScenario{} }

func (spawnDockerScenario) Name() string      { return "spawn-docker" }
func (spawnDockerScenario) NeedsDocker() bool { return true }
func (spawnDockerScenario) Describe() string {
	return "a container per task via testcontainers-go, and via the raw Engine API (seed Test 3: spawn-kill Docker)"
}

func (spawnDockerScenario) Run(ctx context.Context, env *Env) (*Outcome, error) {
	return runLifecycle(ctx, env, lifecycleSet{spawnDocker: true, spawnDockerRaw: true})
}
