// Package cluster builds a multi-node Docker Swarm on one Linux host, for the lab's tests and for users without a
// cluster: N extra dockerds, each in a network namespace of its own, linked by veths to a bridge that lives in a
// namespace of its own too — the host's network, iptables and Docker daemon are never touched; the nodes' addresses
// exist only inside those namespaces. The host reaches each node's Engine API through its unix socket (a path
// socket is reachable from any network namespace). Up and Down are idempotent; Down leaves no namespace, process,
// mount, cgroup or file of the cluster. Needs root, iproute2 (ip) and util-linux (nsenter, unshare).
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

// ErrNotRoot is returned when the cluster cannot be built for want of privileges or tools.
var ErrNotRoot = errors.New("the test cluster needs root, ip (iproute2), nsenter and unshare (util-linux)")

// Node labels the cluster sets: the lab places the bus on the node labelled RoleBus and generators / agents on
// the others.
const (
	LabelRole = "agentlab.role"
	LabelNode = "agentlab.node"
	RoleBus   = "bus"
	RoleLoad  = "load"
)

// Options say which cluster: its name prefixes every namespace, directory and cgroup, so several clusters (a
// test's, a user's) can coexist.
type Options struct {
	Name  string // default "alc"
	Nodes int    // default 3; node 1 is the manager and the bus node
	// Subnet is the nodes' link network (inside the namespaces only); node i is .10+i.
	Subnet netip.Prefix // default 192.168.213.0/24
	// StateDir holds sockets, exec-roots, pidfiles and logs (short paths: unix socket paths are ≤ 107 bytes);
	// DataDir holds the data-roots (images, containers).
	StateDir, DataDir string // default /run/agentlab-cluster/<name>, /var/lib/agentlab-cluster/<name>
	StorageDriver     string // default vfs (no kernel overlay on top of the host's storage needed)
	// NoSwarm starts the daemons only (a test of several daemons on one host).
	NoSwarm bool
	Log     io.Writer // progress lines; nil: none
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "alc"
	}
	if o.Nodes <= 0 {
		o.Nodes = 3
	}
	if !o.Subnet.IsValid() {
		o.Subnet = netip.MustParsePrefix("192.168.213.0/24")
	}
	if o.StateDir == "" {
		o.StateDir = filepath.Join("/run/agentlab-cluster", o.Name)
	}
	if o.DataDir == "" {
		o.DataDir = filepath.Join("/var/lib/agentlab-cluster", o.Name)
	}
	if o.StorageDriver == "" {
		o.StorageDriver = "vfs"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// Cluster is a cluster's layout (what Up built or would build).
type Cluster struct {
	Options
	Nodes []Node
}

// Node is one dockerd of the cluster.
type Node struct {
	Name     string     // <name>-n<i>: the network namespace, the hostname and the swarm node's hostname
	Index    int        // 1-based
	Addr     netip.Addr // inside the namespaces only
	Socket   string     // the Engine API's unix socket
	StateDir string
	DataRoot string
	Link     string // the veth end in the bridge namespace: down cuts the node off
}

// Host is the node's DOCKER_HOST.
func (n Node) Host() string { return "unix://" + n.Socket }

// PIDFile is dockerd's pidfile.
func (n Node) PIDFile() string { return filepath.Join(n.StateDir, "dockerd.pid") }

// Layout computes the cluster's names and paths without touching anything.
func Layout(opts Options) *Cluster {
	o := opts.withDefaults()
	c := &Cluster{Options: o}
	base := o.Subnet.Addr().As4()
	for i := 1; i <= o.Nodes; i++ {
		a := base
		a[3] = byte(10 + i)
		name := fmt.Sprintf("%s-n%d", o.Name, i)
		st := filepath.Join(o.StateDir, fmt.Sprintf("n%d", i))
		c.Nodes = append(c.Nodes, Node{Name: name, Index: i, Addr: netip.AddrFrom4(a),
			Socket: filepath.Join(st, "docker.sock"), StateDir: st,
			DataRoot: filepath.Join(o.DataDir, fmt.Sprintf("n%d", i)), Link: fmt.Sprintf("v%d", i)})
	}
	return c
}

// BridgeNS is the namespace that holds the bridge the nodes' links meet on.
func (c *Cluster) BridgeNS() string { return c.Name + "-br" }

// Manager is node 1: the swarm manager, the lab's DOCKER_HOST.
func (c *Cluster) Manager() Node { return c.Nodes[0] }

// Client returns an Engine API client of node n (API version negotiated).
func (n Node) Client() (*client.Client, error) {
	return client.New(client.WithHost(n.Host()))
}

// Up builds the cluster, or completes a partly built one: namespaces and links, daemons, swarm, node labels.
func Up(ctx context.Context, opts Options) (*Cluster, error) {
	c := Layout(opts)
	if err := preflight(); err != nil {
		return c, err
	}
	t0 := time.Now()
	if err := c.network(ctx); err != nil {
		return c, fmt.Errorf("cluster network: %w", err)
	}
	for _, n := range c.Nodes {
		if err := c.startDaemon(ctx, n); err != nil {
			return c, fmt.Errorf("cluster node %s: %w", n.Name, err)
		}
	}
	fmt.Fprintf(c.Log, "cluster %s: %d daemons up after %v\n", c.Name, len(c.Nodes), time.Since(t0).Round(time.Millisecond))
	if err := c.save(); err != nil {
		return c, err
	}
	if c.NoSwarm {
		return c, nil
	}
	if err := c.swarm(ctx); err != nil {
		return c, fmt.Errorf("cluster swarm: %w", err)
	}
	fmt.Fprintf(c.Log, "cluster %s: swarm of %d nodes ready after %v; DOCKER_HOST=%s\n", c.Name, len(c.Nodes),
		time.Since(t0).Round(time.Millisecond), c.Manager().Host())
	return c, nil
}

func preflight() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: running as uid %d", ErrNotRoot, os.Geteuid())
	}
	for _, tool := range []string{"ip", "nsenter", "unshare", "dockerd"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s not found", ErrNotRoot, tool)
		}
	}
	return nil
}

// run runs a command, its output in the error.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// netnsExists says whether /run/netns/<name> is there.
func netnsExists(name string) bool {
	_, err := os.Stat(filepath.Join("/run/netns", name))
	return err == nil
}

// network creates the bridge namespace and, per node, its namespace and its link: a veth created inside the
// bridge namespace with its peer moved straight into the node's (nothing ever appears in the host's namespace).
func (c *Cluster) network(ctx context.Context) error {
	br := c.BridgeNS()
	if !netnsExists(br) {
		for _, args := range [][]string{
			{"netns", "add", br},
			{"-n", br, "link", "set", "lo", "up"},
			{"-n", br, "link", "add", "br0", "type", "bridge"},
			{"-n", br, "link", "set", "br0", "up"},
		} {
			if err := run(ctx, "ip", args...); err != nil {
				return err
			}
		}
	}
	for _, n := range c.Nodes {
		if netnsExists(n.Name) {
			continue
		}
		bits := c.Subnet.Bits()
		for _, args := range [][]string{
			{"netns", "add", n.Name},
			{"-n", n.Name, "link", "set", "lo", "up"},
			{"-n", br, "link", "add", n.Link, "type", "veth", "peer", "name", "eth0", "netns", n.Name},
			{"-n", br, "link", "set", n.Link, "master", "br0", "up"},
			{"-n", n.Name, "addr", "add", fmt.Sprintf("%s/%d", n.Addr, bits), "dev", "eth0"},
			{"-n", n.Name, "link", "set", "eth0", "up"},
		} {
			if err := run(ctx, "ip", args...); err != nil {
				return err
			}
		}
	}
	return nil
}

// SetLink brings node n's link up or down (a cut network cable: the node's daemon and containers keep running).
func (c *Cluster) SetLink(ctx context.Context, n Node, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return run(ctx, "ip", "-n", c.BridgeNS(), "link", "set", n.Link, state)
}

// IsNotRoot says whether err is the cluster's missing privileges or tools (tests skip on it).
func IsNotRoot(err error) bool { return errors.Is(err, ErrNotRoot) }

// stateFile records a cluster's options in its state directory, so a lab pointed at one of its nodes finds the
// others (FindBySocket).
const stateFile = "cluster.json"

type saved struct {
	Name          string `json:"name"`
	Nodes         int    `json:"nodes"`
	Subnet        string `json:"subnet"`
	StateDir      string `json:"state_dir"`
	DataDir       string `json:"data_dir"`
	StorageDriver string `json:"storage_driver"`
}

func (c *Cluster) save() error {
	b, err := json.Marshal(saved{c.Name, len(c.Nodes), c.Subnet.String(), c.StateDir, c.DataDir, c.StorageDriver})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.StateDir, stateFile), b, 0o600)
}

// StateRoot is where clusters with default directories keep their state.
const StateRoot = "/run/agentlab-cluster"

// FindBySocket returns the test cluster one of whose nodes serves docker host (unix://…), if any: the lab then
// reaches every node's API (to load images onto each).
func FindBySocket(host string) (*Cluster, bool) {
	files, _ := filepath.Glob(filepath.Join(StateRoot, "*", stateFile))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var s saved
		if json.Unmarshal(b, &s) != nil {
			continue
		}
		pfx, err := netip.ParsePrefix(s.Subnet)
		if err != nil {
			continue
		}
		c := Layout(Options{Name: s.Name, Nodes: s.Nodes, Subnet: pfx, StateDir: s.StateDir, DataDir: s.DataDir,
			StorageDriver: s.StorageDriver})
		for _, n := range c.Nodes {
			if n.Host() == host {
				return c, true
			}
		}
	}
	return nil, false
}

// KillDaemon SIGKILLs node n's dockerd (a node lost: its containers and containerd keep running, nothing speaks
// for the node in the swarm); Up starts it again.
func (c *Cluster) KillDaemon(n Node) error {
	pid, ok := c.daemonPID(n)
	if !ok {
		return fmt.Errorf("node %s: no dockerd running", n.Name)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("node %s: kill dockerd %d: %w", n.Name, pid, err)
	}
	if !waitGone(context.Background(), pid, 10*time.Second) {
		return fmt.Errorf("node %s: dockerd %d survived SIGKILL", n.Name, pid)
	}
	return nil
}
