package memstat

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/agentlab/agentlab/internal/containers"
)

// CAdvisorPort is the port cAdvisor listens on inside its container, as upstream.
const CAdvisorPort = "8080/tcp"

// CAdvisorBinds returns the host paths the sidecar gets by default, all read-only: the host root (machine info),
// /var/run (the Docker socket), /sys (cgroups) and Docker's state (a container's layer id, which cAdvisor's docker
// provider insists on reading).
func CAdvisorBinds() []string {
	return []string{"/:/rootfs:ro", "/var/run:/var/run:ro", "/sys:/sys:ro", "/var/lib/docker:/var/lib/docker:ro"}
}

// CAdvisorReadyTimeout bounds how long the sidecar may take to answer /healthz.
const CAdvisorReadyTimeout = 20 * time.Second

// CAdvisorContainer is a running cAdvisor sidecar.
type CAdvisorContainer struct {
	*testcontainers.DockerContainer
	url string
	// ReadyAfter is how long it took from the create request to /healthz answering.
	ReadyAfter time.Duration
}

// URL is the sidecar's base URL as seen from this process (http://host:mapped-port).
func (c *CAdvisorContainer) URL() string { return c.url }

// Source returns a Source reading this sidecar, asking for count points per container (see NewCAdvisor).
func (c *CAdvisorContainer) Source(count int) *CAdvisor { return NewCAdvisor(c.url, count) }

// RunCAdvisor starts the lab's cAdvisor image img in the style of a testcontainers-go module: defaults (host
// binds, port 8080 exposed, 1 s housekeeping without dynamic back-off, wait for /healthz up to
// CAdvisorReadyTimeout, hardening), then the caller's options — the caller supplies the labels, e.g.
// testcontainers.WithLabels(dockerx.Labels(runID, "cadvisor")) — then the URL is resolved. On error the
// returned container, if not nil, must still be terminated.
//
// Hardening: read-only root filesystem, no-new-privileges, memory and pids limits, and every capability
// dropped, none added back. cAdvisor keeps only uid 0: Docker's socket (root:root 0660) and
// /var/lib/docker/image/<driver>/layerdb (root 0700) are reachable through their owner bits, which apply to uid 0
// without CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH, and the cgroup files it reads under /sys are world-readable,
// so it needs no capability at all (TestIntegrationAlloc64MiB checks it still returns every container's stats).
// It runs without --privileged, with every host path mounted read-only.
func RunCAdvisor(ctx context.Context, img string, opts ...testcontainers.ContainerCustomizer) (*CAdvisorContainer, error) {
	start := time.Now()
	moduleOpts := []testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts(CAdvisorPort),
		testcontainers.WithCmd("-housekeeping_interval=1s", "-allow_dynamic_housekeeping=false"),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.Binds = append(hc.Binds, CAdvisorBinds()...)
		}),
		testcontainers.WithWaitStrategyAndDeadline(CAdvisorReadyTimeout,
			wait.ForHTTP("/healthz").WithPort(CAdvisorPort).WithPollInterval(100*time.Millisecond)),
		containers.Hardened(containers.CAdvisorMemory, containers.CAdvisorPids),
	}
	ctr, err := testcontainers.Run(ctx, img, append(moduleOpts, opts...)...)
	var c *CAdvisorContainer
	if ctr != nil {
		c = &CAdvisorContainer{DockerContainer: ctr}
	}
	if err != nil {
		return c, fmt.Errorf("cadvisor: %w", err)
	}
	c.ReadyAfter = time.Since(start)
	if c.url, err = ctr.PortEndpoint(ctx, CAdvisorPort, "http"); err != nil {
		return c, fmt.Errorf("cadvisor: endpoint: %w", err)
	}
	return c, nil
}

// cadvisorPreflight says why the sidecar cannot work before trying: a bind source missing here, when here is the
// daemon's host (a local unix socket, and this process not inside a container). The daemon resolves the binds on
// its own host, so with a remote daemon (TCP) or from inside a container (the agentlab/lab image) there is nothing
// here to check: the sidecar is tried, and one that does not become ready degrades to the other sources.
func cadvisorPreflight(daemonHost string, inContainer bool, stat func(string) (os.FileInfo, error)) error {
	if !isLocalDaemon(daemonHost) || inContainer {
		return nil
	}
	for _, b := range CAdvisorBinds() {
		src, _, _ := strings.Cut(b, ":")
		if _, err := stat(src); err != nil {
			return fmt.Errorf("mount source missing: %w", err)
		}
	}
	return nil
}

// isLocalDaemon reports whether a daemon address (client.DaemonHost) is a unix socket on this machine.
func isLocalDaemon(host string) bool {
	u, err := url.Parse(host)
	return err == nil && u.Scheme == "unix"
}
