package containers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"
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

// Varz is the part of NATS's /varz the lab reads: counters that do not depend on CPU accounting (messages and
// bytes in and out, the NATS analogue of bus_messages_in_total and bus_deliveries_total), connections, slow
// consumers, and the server's own view of its CPU (percent of one core) and RSS (bytes).
type Varz struct {
	Connections   int     `json:"connections"`
	InMsgs        int64   `json:"in_msgs"`
	OutMsgs       int64   `json:"out_msgs"` // deliveries: one per recipient
	InBytes       int64   `json:"in_bytes"`
	OutBytes      int64   `json:"out_bytes"`
	SlowConsumers int64   `json:"slow_consumers"`
	CPU           float64 `json:"cpu"` // percent of one core, as nats-server samples it
	Mem           int64   `json:"mem"` // RSS, bytes
}

// Varz reads /varz once.
func (n *NATS) Varz(ctx context.Context) (Varz, error) {
	base, err := n.MonitorURL(ctx)
	if err != nil {
		return Varz{}, err
	}
	return ReadVarz(ctx, scrapeClient, base+"/varz")
}

// ReadVarz reads a /varz URL (also used against an in-process server in tests).
func ReadVarz(ctx context.Context, cl *http.Client, u string) (Varz, error) {
	var v Varz
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return v, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return v, fmt.Errorf("read %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("read %s: HTTP %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return v, fmt.Errorf("decode %s: %w", u, err)
	}
	return v, nil
}

// Terminate stops and removes the container with no stop grace unless opts give one.
func (n *NATS) Terminate(ctx context.Context, opts ...testcontainers.TerminateOption) error {
	if n == nil {
		return nil
	}
	return terminate(ctx, n.DockerContainer, opts...)
}
