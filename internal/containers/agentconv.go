package containers

import (
	"context"
	"fmt"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"
)

// ConvAgent is a conversing agent container (agentlab/agent converse): it dials the bus by name on a lab network,
// registers as its id and says ready to the lab through the bus, so it needs no port of its own.
type ConvAgent struct {
	*testcontainers.DockerContainer
	ID string // the agent's id on the bus
}

// RunConvAgent starts agent id of image img talking to busURL (ws://name:8080/ws, reached on the caller's
// network, e.g. WithNetworkAlias(nw)): defaults (`converse --bus busURL --id id --lab lab`, no wait — readiness is
// the agent's ready message to the lab —, a silent logger, Hardened(AgentMemory, AgentPids)), then opts, which may
// add flags with WithConverseArgs. On error the returned agent, if not nil, must still be terminated.
func RunConvAgent(ctx context.Context, img, id, busURL string, opts ...testcontainers.ContainerCustomizer) (*ConvAgent, error) {
	defaults := []testcontainers.ContainerCustomizer{
		testcontainers.WithCmd("converse", "--bus", busURL, "--id", id, "--lab", "lab"),
		testcontainers.WithWaitStrategy(wait.ForNop(func(context.Context, wait.StrategyTarget) error { return nil })),
		testcontainers.WithLogger(tclog.NewNoopLogger()),
		Hardened(AgentMemory, AgentPids),
	}
	c, err := testcontainers.Run(ctx, img, append(defaults, opts...)...)
	var a *ConvAgent
	if c != nil {
		a = &ConvAgent{DockerContainer: c, ID: id}
	}
	if err != nil {
		return a, fmt.Errorf("run conversing agent %s: %w", id, err)
	}
	return a, nil
}

// WithConverseArgs appends flags to the converse command (--kib, --retransmit, --ping, --dead, --max-run).
func WithConverseArgs(args ...string) testcontainers.CustomizeRequestOption {
	return testcontainers.WithCmdArgs(args...)
}

// ConvAgentMaxRun is the default --max-run a caller should pass: an agent left behind by a crashed lab exits by
// itself (the next lab run removes the container by label).
const ConvAgentMaxRun = 30 * time.Minute

// Terminate stops and removes the container with no stop grace unless opts give one.
func (a *ConvAgent) Terminate(ctx context.Context, opts ...testcontainers.TerminateOption) error {
	if a == nil {
		return nil
	}
	return terminate(ctx, a.DockerContainer, opts...)
}
