package scenarios

import "context"

type persistentProcessScenario struct{}

// PersistentProcess keeps --agents agent processes up and sends them tasks over loopback TCP.
func PersistentProcess() Scenario { return persistentProcessScenario{} }

func (persistentProcessScenario) Name() string      { return "persistent-process" }
func (persistentProcessScenario) NeedsDocker() bool { return false }
func (persistentProcessScenario) Describe() string {
	return "long-running agent processes, tasks over loopback TCP (seed Test 3: persistent)"
}

func (persistentProcessScenario) Run(ctx context.Context, env *Env) (*Outcome, error) {
	return runLifecycle(ctx, env, lifecycleSet{persistentProcess: true})
}
