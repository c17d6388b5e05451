package containers

import (
	"context"
	"fmt"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"
)

// AgentPort is the port a persistent agent serves tasks on (agent serve --addr :9000).
const AgentPort = "9000/tcp"

// AgentStartupTimeout bounds the wait for the agent's "listening" line.
const AgentStartupTimeout = 30 * time.Second

// Agent is a persistent agent container (agentlab/agent serve).
type Agent struct {
	*testcontainers.DockerContainer
}

// RunAgent starts a persistent agent from image img: defaults (`serve --addr :9000`, 9000/tcp exposed, wait for
// the log line "listening", no testcontainers log output, Hardened(AgentMemory, AgentPids)), then opts. On error
// the returned Agent, if not nil, must still be terminated.
func RunAgent(ctx context.Context, img string, opts ...testcontainers.ContainerCustomizer) (*Agent, error) {
	defaults := []testcontainers.ContainerCustomizer{
		testcontainers.WithCmd("serve", "--addr", ":9000"),
		testcontainers.WithExposedPorts(AgentPort),
		testcontainers.WithWaitStrategy(wait.ForLog("listening").WithStartupTimeout(AgentStartupTimeout)),
		testcontainers.WithLogger(tclog.NewNoopLogger()),
		Hardened(AgentMemory, AgentPids),
	}
	c, err := testcontainers.Run(ctx, img, append(defaults, opts...)...)
	var a *Agent
	if c != nil {
		a = &Agent{DockerContainer: c}
	}
	if err != nil {
		return a, fmt.Errorf("run agent %s: %w", img, err)
	}
	return a, nil
}

// Addr is the agent's task address as reached from this process: host:mapped-port.
func (a *Agent) Addr(ctx context.Context) (string, error) {
	addr, err := a.PortEndpoint(ctx, AgentPort, "")
	if err != nil {
		return "", fmt.Errorf("agent endpoint: %w", err)
	}
	return addr, nil
}

// Terminate stops and removes the container with no stop grace unless opts give one.
func (a *Agent) Terminate(ctx context.Context, opts ...testcontainers.TerminateOption) error {
	if a == nil {
		return nil
	}
	return terminate(ctx, a.DockerContainer, opts...)
}
