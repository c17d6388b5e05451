package scenarios

import "context"

type spawnScenario struct{}

// Spawn runs all four lifecycle patterns (plus the raw Engine API path) interleaved, with ratios and the seed's
// decision.
func Spawn() Scenario { return spawnScenario{} }

func (spawnScenario) Name() string      { return "spawn" }
func (spawnScenario) NeedsDocker() bool { return true }
func (spawnScenario) Describe() string {
	return "all four lifecycle patterns interleaved, with ratios and the seed's Test 3 decision"
}

func (spawnScenario) Run(ctx context.Context, env *Env) (*Outcome, error) {
	return runLifecycle(ctx, env, lifecycleSet{
		spawnProcess: true, persistentProcess: true, spawnDocker: true, spawnDockerRaw: true, persistentDocker: true,
	})
}
