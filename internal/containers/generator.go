package containers

import (
	"context"
	"fmt"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Generator is a load-generator container (agentlab/loadgen): a one-shot program whose result is its stdout.
type Generator struct {
	*testcontainers.DockerContainer
}

// RunGenerator starts load generator image img: defaults (no wait strategy — the caller waits for the exit and
// reads the logs —, no testcontainers log output, Hardened(GeneratorMemory, GeneratorPids)), then opts (the
// caller gives the command: testcontainers.WithCmd(cfg.Args()...)). On error the returned Generator, if not
// nil, must still be terminated.
func RunGenerator(ctx context.Context, img string, opts ...testcontainers.ContainerCustomizer) (*Generator, error) {
	defaults := []testcontainers.ContainerCustomizer{
		// No wait: the generator may finish before any strategy would look, and its result is read after exit.
		testcontainers.WithWaitStrategy(wait.ForNop(func(context.Context, wait.StrategyTarget) error { return nil })),
		testcontainers.WithLogger(tclog.NewNoopLogger()),
		Hardened(GeneratorMemory, GeneratorPids),
	}
	c, err := testcontainers.Run(ctx, img, append(defaults, opts...)...)
	var g *Generator
	if c != nil {
		g = &Generator{DockerContainer: c}
	}
	if err != nil {
		return g, fmt.Errorf("run generator %s: %w", img, err)
	}
	return g, nil
}

// Terminate stops and removes the container with no stop grace unless opts give one.
func (g *Generator) Terminate(ctx context.Context, opts ...testcontainers.TerminateOption) error {
	if g == nil {
		return nil
	}
	return terminate(ctx, g.DockerContainer, opts...)
}
