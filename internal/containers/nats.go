package containers

import (
	"context"
	"fmt"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/agentlab/agentlab/internal/loadgen"
)

// NATS ports (cmd/natsbus): clients and the monitoring endpoint.
const (
	NATSPort        = "4222/tcp"
	NATSMonitorPort = "8222/tcp"
)

// NATS is a running agentlab/nats container, the reference bus.
type NATS struct {
	*testcontainers.DockerContainer
}

// RunNATS starts image img (agentlab/nats) like RunBus starts a bus: defaults (4222 and 8222 exposed, wait for
// GET /healthz on the monitoring port, no testcontainers log output, Hardened(BusMemory, BusPids)), then opts.
// On error the returned NATS, if not nil, must still be terminated.
func RunNATS(ctx context.Context, img string, opts ...testcontainers.ContainerCustomizer) (*NATS, error) {
	defaults := []testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts(NATSPort, NATSMonitorPort),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/healthz").WithPort(NATSMonitorPort).
			WithPollInterval(BusPollInterval).WithStartupTimeout(BusStartupTimeout)),
		testcontainers.WithLogger(tclog.NewNoopLogger()),
		Hardened(BusMemory, BusPids),
	}
	c, err := testcontainers.Run(ctx, img, append(defaults, opts...)...)
	var n *NATS
	if c != nil {
		n = &NATS{DockerContainer: c}
	}
	if err != nil {
		return n, fmt.Errorf("run nats %s: %w", img, err)
	}
	return n, nil
}

// WithNATSMaxConnections sets nats-server's connection limit (the buses' BUS_MAX_CONNECTIONS).
func WithNATSMaxConnections(n int) testcontainers.CustomizeRequestOption {
	return testcontainers.WithCmdArgs("--max-connections", fmt.Sprint(n))
}

// ClientURL is the NATS endpoint as reached from this process: nats://host:mapped-port (the load generator's
// --url for NATS).
func (n *NATS) ClientURL(ctx context.Context) (string, error) {
	u, err := n.PortEndpoint(ctx, NATSPort, "nats")
	if err != nil {
		return "", fmt.Errorf("nats endpoint: %w", err)
	}
	return u, nil
}

// MonitorURL is the monitoring endpoint's base URL as reached from this process.
func (n *NATS) MonitorURL(ctx context.Context) (string, error) {
	u, err := n.PortEndpoint(ctx, NATSMonitorPort, "http")
	if err != nil {
		return "", fmt.Errorf("nats monitoring endpoint: %w", err)
	}
	return u, nil
}

// Varz reads /varz once (loadgen.Varz: messages in and out, connections, slow consumers, cpu, mem).
func (n *NATS) Varz(ctx context.Context) (loadgen.Varz, error) {
	base, err := n.MonitorURL(ctx)
	if err != nil {
		return loadgen.Varz{}, err
	}
	return loadgen.ReadVarz(ctx, scrapeClient, base+"/varz")
}

// Terminate stops and removes the container with no stop grace unless opts give one.
func (n *NATS) Terminate(ctx context.Context, opts ...testcontainers.TerminateOption) error {
	if n == nil {
		return nil
	}
	return terminate(ctx, n.DockerContainer, opts...)
}
