package containers

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/agentlab/agentlab/internal/prom"
)

// BusPort is the port both buses listen on (docs/protocol.md).
const BusPort = "8080/tcp"

// Bus readiness: /health polled every BusPollInterval up to BusStartupTimeout.
const (
	BusPollInterval   = 50 * time.Millisecond
	BusStartupTimeout = 30 * time.Second
)

// Bus is a running bus container (agentlab/gobus or agentlab/rustbus).
type Bus struct {
	*testcontainers.DockerContainer
}

// RunBus starts bus image img: defaults (8080/tcp exposed, wait for GET /health, no testcontainers log output,
// Hardened(BusMemory, BusPids)), then opts. On error the returned Bus, if not nil, must still be terminated.
func RunBus(ctx context.Context, img string, opts ...testcontainers.ContainerCustomizer) (*Bus, error) {
	defaults := []testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts(BusPort),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/health").WithPort(BusPort).
			WithPollInterval(BusPollInterval).WithStartupTimeout(BusStartupTimeout)),
		testcontainers.WithLogger(tclog.NewNoopLogger()),
		Hardened(BusMemory, BusPids),
	}
	c, err := testcontainers.Run(ctx, img, append(defaults, opts...)...)
	var b *Bus
	if c != nil {
		b = &Bus{DockerContainer: c}
	}
	if err != nil {
		return b, fmt.Errorf("run bus %s: %w", img, err)
	}
	return b, nil
}

// WithMaxConnections sets the bus's connection limit (BUS_MAX_CONNECTIONS).
func WithMaxConnections(n int) testcontainers.CustomizeRequestOption {
	return WithBusEnv(map[string]string{"BUS_MAX_CONNECTIONS": strconv.Itoa(n)})
}

// WithQueueLen sets the bus's outbound queue per connection, in frames (BUS_QUEUE_LEN).
func WithQueueLen(n int) testcontainers.CustomizeRequestOption {
	return WithBusEnv(map[string]string{"BUS_QUEUE_LEN": strconv.Itoa(n)})
}

// WithBusEnv adds environment variables (docs/protocol.md's BUS_* settings); later values win.
func WithBusEnv(env map[string]string) testcontainers.CustomizeRequestOption {
	return testcontainers.WithEnv(env)
}

// WithNetworkAlias attaches the container to nw under the given aliases (other containers on nw reach it by
// name, e.g. ws://bus:8080/ws).
func WithNetworkAlias(nw *testcontainers.DockerNetwork, aliases ...string) testcontainers.CustomizeRequestOption {
	return network.WithNetwork(aliases, nw)
}

// HTTPURL is the bus's base URL as reached from this process: http://host:mapped-port.
func (b *Bus) HTTPURL(ctx context.Context) (string, error) {
	u, err := b.PortEndpoint(ctx, BusPort, "http")
	if err != nil {
		return "", fmt.Errorf("bus endpoint: %w", err)
	}
	return u, nil
}

// WSURL is the bus's WebSocket endpoint as reached from this process: ws://host:mapped-port/ws.
func (b *Bus) WSURL(ctx context.Context) (string, error) {
	u, err := b.PortEndpoint(ctx, BusPort, "ws")
	if err != nil {
		return "", fmt.Errorf("bus endpoint: %w", err)
	}
	return u + "/ws", nil
}

// MetricsURL is the bus's /metrics as reached from this process.
func (b *Bus) MetricsURL(ctx context.Context) (string, error) {
	u, err := b.HTTPURL(ctx)
	if err != nil {
		return "", err
	}
	return u + "/metrics", nil
}

// scrapeClient has a timeout of its own: a bus that accepts and never answers must not hang a caller whose
// context has no deadline.
var scrapeClient = &http.Client{Timeout: 5 * time.Second}

// Scrape reads the bus's /metrics once.
func (b *Bus) Scrape(ctx context.Context) (prom.Metrics, error) {
	u, err := b.MetricsURL(ctx)
	if err != nil {
		return prom.Metrics{}, err
	}
	return prom.Scrape(ctx, scrapeClient, u)
}

// Terminate stops and removes the container with no stop grace (SIGKILL at once) unless opts give one, e.g.
// testcontainers.StopTimeout(10*time.Second) for a test of the bus's SIGTERM handling.
func (b *Bus) Terminate(ctx context.Context, opts ...testcontainers.TerminateOption) error {
	if b == nil {
		return nil
	}
	return terminate(ctx, b.DockerContainer, opts...)
}
