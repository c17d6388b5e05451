package containers

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"
)

// MockLLMPort is the port the mock Messages API listens on.
const MockLLMPort = "8080/tcp"

// Mock readiness and limits. A stream costs the mock a goroutine and a socket (a few KiB): 2,000 streams stay far
// under the memory cap; pids bound OS threads.
const (
	MockLLMPollInterval         = 50 * time.Millisecond
	MockLLMStartupTimeout       = 30 * time.Second
	MockLLMMemory         int64 = 1 << 30
	MockLLMPids           int64 = 256
	StreamClientMemory    int64 = 1 << 30
	StreamClientPids      int64 = 8192 // the Rust client runs one thread per stream (--concurrent ≤ 5000)
)

// MockLLM is a running mock Messages API container (agentlab/mockllm).
type MockLLM struct {
	*testcontainers.DockerContainer
}

// RunMockLLM starts mock image img: defaults (8080/tcp exposed, wait for GET /health, no testcontainers log
// output, Hardened(MockLLMMemory, MockLLMPids)), then opts (WithMockDefaults for container-wide knobs; the
// caller's labels and network). On error the returned MockLLM, if not nil, must still be terminated.
func RunMockLLM(ctx context.Context, img string, opts ...testcontainers.ContainerCustomizer) (*MockLLM, error) {
	defaults := []testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts(MockLLMPort),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/health").WithPort(MockLLMPort).
			WithPollInterval(MockLLMPollInterval).WithStartupTimeout(MockLLMStartupTimeout)),
		testcontainers.WithLogger(tclog.NewNoopLogger()),
		Hardened(MockLLMMemory, MockLLMPids),
	}
	c, err := testcontainers.Run(ctx, img, append(defaults, opts...)...)
	var m *MockLLM
	if c != nil {
		m = &MockLLM{DockerContainer: c}
	}
	if err != nil {
		return m, fmt.Errorf("run mockllm %s: %w", img, err)
	}
	return m, nil
}

// WithMockDefaults sets the mock's container-wide knobs (request headers still override them per stream).
func WithMockDefaults(tokens, tokenBytes int, ttft, tokenDelay time.Duration) testcontainers.CustomizeRequestOption {
	return testcontainers.WithCmd("--tokens", strconv.Itoa(tokens), "--token-bytes", strconv.Itoa(tokenBytes),
		"--ttft", ttft.String(), "--token-delay", tokenDelay.String())
}

// URL is the mock's base URL as reached from this process: http://host:mapped-port.
func (m *MockLLM) URL(ctx context.Context) (string, error) {
	u, err := m.PortEndpoint(ctx, MockLLMPort, "http")
	if err != nil {
		return "", fmt.Errorf("mockllm endpoint: %w", err)
	}
	return u, nil
}

// Terminate stops and removes the container with no stop grace unless opts give one.
func (m *MockLLM) Terminate(ctx context.Context, opts ...testcontainers.TerminateOption) error {
	if m == nil {
		return nil
	}
	return terminate(ctx, m.DockerContainer, opts...)
}

// StreamClient is a one-shot stream-client container (agentlab/streamclient, or the Rust client): its result is
// its stdout.
type StreamClient struct {
	*testcontainers.DockerContainer
}

// RunStreamClient starts client image img: defaults (no wait strategy — the caller waits for the exit and reads
// the logs —, no testcontainers log output, Hardened(StreamClientMemory, StreamClientPids)), then opts (the
// caller gives the command). On error the returned StreamClient, if not nil, must still be terminated.
func RunStreamClient(ctx context.Context, img string, opts ...testcontainers.ContainerCustomizer) (*StreamClient, error) {
	defaults := []testcontainers.ContainerCustomizer{
		testcontainers.WithWaitStrategy(wait.ForNop(func(context.Context, wait.StrategyTarget) error { return nil })),
		testcontainers.WithLogger(tclog.NewNoopLogger()),
		Hardened(StreamClientMemory, StreamClientPids),
	}
	c, err := testcontainers.Run(ctx, img, append(defaults, opts...)...)
	var s *StreamClient
	if c != nil {
		s = &StreamClient{DockerContainer: c}
	}
	if err != nil {
		return s, fmt.Errorf("run stream client %s: %w", img, err)
	}
	return s, nil
}

// Terminate stops and removes the container with no stop grace unless opts give one.
func (s *StreamClient) Terminate(ctx context.Context, opts ...testcontainers.TerminateOption) error {
	if s == nil {
		return nil
	}
	return terminate(ctx, s.DockerContainer, opts...)
}
