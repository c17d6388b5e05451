package scenarios

import "context"

type spawnProcessScenario struct{}

// SpawnProcess forks and execs the agent binary per task (the seed's "Spawn-Kill CLI").
func SpawnProcess() Scenario { return spawnProcessScenario{} }

func (spawnProcessScenario) Name() string      { return "spawn-process" }
func (spawnProcessScenario) NeedsDocker() bool { return false }
func (spawnProcessScenario) Describe() string {
	return "fork/exec the agent binary per task (seed Test 3: spawn-kill CLI)"
}

func (spawnProcessScenario) Run(ctx context.Context, env *Env) (*Outcome, error) {
	return runLifecycle(ctx, env, lifecycleSet{spawnProcess: true})
}
