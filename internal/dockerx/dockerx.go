// Package dockerx connects to the Docker daemon and owns everything the lab leaves on it: every container and
// network the lab creates carries LabelRunID, and this package removes them by that label — at the end of a run,
// after a signal, and (for runs that died with kill -9) at the start of the next run.
package dockerx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// Labels every lab container and network carries.
const (
	// LabelRunID names the lab run that created the object; cleanup is by this label.
	LabelRunID = "agentlab.run-id"
	// LabelHost is the hostname of the machine the lab ran on: a dead run is only judged from the same host.
	LabelHost = "agentlab.host"
	// LabelRole says what the object is for (agent, bus, loadgen, cadvisor, network).
	LabelRole = "agentlab.role"
)

// ErrNoDocker is returned by Connect when the daemon does not answer.
var ErrNoDocker = errors.New("docker daemon unreachable")

// PingTimeout bounds how long Connect waits for the daemon: the lab must fail fast, not hang.
const PingTimeout = 4 * time.Second

// Connect returns a client for the daemon testcontainers resolves — ~/.testcontainers.properties tc.host,
// DOCKER_HOST, the current docker context, the default socket, docker.host, rootless Docker, in its order — so
// the lab's own Engine API calls and testcontainers' containers go to one daemon. The daemon must answer a ping
// within PingTimeout (the whole resolution shares that bound), with the API version negotiated down to its
// own. A DOCKER_HOST that does not answer is an error, never quietly replaced by another daemon testcontainers
// would fall back to. Errors wrap ErrNoDocker and are one line naming DOCKER_HOST.
func Connect(ctx context.Context) (*client.Client, error) {
	// The lab owns cleanup by label; Ryuk's image cannot be pulled here anyway. Set it for every testcontainers
	// call this process makes, so the user sets nothing.
	_ = os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	pctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	tc, err := testcontainers.NewDockerClientWithOpts(pctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s%s", ErrNoDocker, hostDescription(""), oneLine(err), permissionHint(err))
	}
	cli := tc.Client
	if env := os.Getenv("DOCKER_HOST"); env != "" && !sameHost(env, cli.DaemonHost()) {
		cli.Close()
		return nil, fmt.Errorf("%w: %s does not answer or is overridden (testcontainers resolves %s; tc.host in "+
			"~/.testcontainers.properties comes first): the lab and testcontainers must use one daemon",
			ErrNoDocker, hostDescription(""), cli.DaemonHost())
	}
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, fmt.Errorf("%w: %s: %s", ErrNoDocker, hostDescription(cli.DaemonHost()), oneLine(err))
	}
	identifySelf(pctx, cli)
	if _, set := os.LookupEnv("TESTCONTAINERS_HOST_OVERRIDE"); !set && daemonInOurNetns(pctx, cli) {
		// testcontainers sees /.dockerenv and assumes the daemon is on another host, reached through the default
		// gateway. When the daemon's bridge is one of our own interfaces, it runs in our network namespace and
		// published ports are on loopback: say so, or Host() would name the gateway, where nothing listens.
		_ = os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "localhost")
	}
	return cli, nil
}

// daemonInOurNetns reports whether the daemon's default bridge subnet holds an address of a local interface.
func daemonInOurNetns(ctx context.Context, cli *client.Client) bool {
	if !strings.HasPrefix(cli.DaemonHost(), "unix://") {
		return false
	}
	nw, err := cli.NetworkInspect(ctx, "bridge", client.NetworkInspectOptions{})
	if err != nil {
		return false
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, c := range nw.Network.IPAM.Config {
		if !c.Subnet.IsValid() {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP); ok && c.Subnet.Contains(ip.Unmap()) {
					return true
				}
			}
		}
	}
	return false
}

// permissionHint says how to get the socket's group, when the socket refused this user.
func permissionHint(err error) string {
	if !strings.Contains(err.Error(), "permission denied") {
		return ""
	}
	return fmt.Sprintf(" (uid %d, groups %s: add the socket's group — docker-compose.yml: DOCKER_GID=$(stat -c %%g /var/run/docker.sock))",
		os.Getuid(), groups())
}

func groups() string {
	gs, err := os.Getgroups()
	if err != nil {
		return "unknown"
	}
	out := fmt.Sprint(os.Getgid())
	for _, g := range gs {
		if g != os.Getgid() {
			out += fmt.Sprintf(",%d", g)
		}
	}
	return out
}

// hostDescription names the daemon tried: DOCKER_HOST when set, else what was resolved (a docker context or
// ~/.testcontainers.properties), else the default socket.
func hostDescription(resolved string) string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return "DOCKER_HOST=" + h
	}
	if resolved != "" {
		return "DOCKER_HOST is unset, tried " + resolved + " (docker context, ~/.testcontainers.properties or default)"
	}
	return "DOCKER_HOST is unset and no docker context or ~/.testcontainers.properties names a daemon, tried " +
		client.DefaultDockerHost
}

// sameHost compares two daemon addresses as written (unix:///var/run/docker.sock, tcp://h:p).
func sameHost(a, b string) bool { return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/") }

// oneLine flattens a (possibly joined) error onto one line: the lab's usage errors are one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// Labels returns the labels for an object of the given role created by run runID.
// A lab inside a container adds LabelLabContainer, by which other labs judge whether the run is alive.
func Labels(runID, role string) map[string]string {
	host, _ := os.Hostname()
	l := map[string]string{LabelRunID: runID, LabelHost: host, LabelRole: role}
	if id := SelfContainer(); id != "" {
		l[LabelLabContainer] = id
		// With the host network the container's hostname is the host's: a lab on the host would take this run
		// for one of its own and, finding no lock file, reap it while it runs.
		l[LabelHost] = "container " + id
	}
	return l
}
