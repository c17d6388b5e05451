package dockerx

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestConnectNamedDaemonMissing: a DOCKER_HOST that does not answer is a fast one-line ErrNoDocker naming it,
// even when testcontainers' resolution would fall back to another daemon (the default socket).
func TestConnectNamedDaemonMissing(t *testing.T) {
	for _, host := range []string{"unix:///nonexistent/docker.sock", "tcp://127.0.0.1:1"} {
		t.Setenv("DOCKER_HOST", host)
		start := time.Now()
		cli, err := Connect(context.Background())
		if err == nil {
			cli.Close()
			t.Fatalf("%s: connected", host)
		}
		if !errors.Is(err, ErrNoDocker) || !strings.Contains(err.Error(), "DOCKER_HOST="+host) ||
			strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %q, want one line wrapping ErrNoDocker and naming DOCKER_HOST", host, err)
		}
		if d := time.Since(start); d > PingTimeout+time.Second {
			t.Errorf("%s: took %v", host, d)
		}
	}
}

// TestConnectResolvesLikeTestcontainers: with DOCKER_HOST unset the daemon is the one testcontainers finds.
func TestConnectResolvesLikeTestcontainers(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Docker (skipped with -short)")
	}
	t.Setenv("DOCKER_HOST", "")
	cli, err := Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if cli.DaemonHost() == "" || cli.ClientVersion() == "" {
		t.Errorf("daemon host %q, API version %q", cli.DaemonHost(), cli.ClientVersion())
	}
}
