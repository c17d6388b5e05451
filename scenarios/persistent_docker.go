package scenarios

import "context"

type persistentDockerScenario struct{}

// PersistentDocker keeps --agents agent containers up and sends them tasks through testcontainers' Host/MappedPort.
func PersistentDocker() Scenario { return persistentDockerScenario{} }

func (persistentDockerScenario) Name() string      { return "persistent-docker" }
func (persistentDockerScenario) NeedsDocker() bool { return true }
func (persistentDockerScenario) Describe() string {
	return "long-running agent containers, tasks over their mapped ports (seed Test 3: persistent Docker)"
}

func (persistentDockerScenario) Run(ctx context.Context, env *Env) (*Outcome, error) {
	return runLifecycle(ctx, env, lifecycleSet{persistentDocker: true})
}
