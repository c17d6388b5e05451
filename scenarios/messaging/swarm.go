package messaging

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/internal/agent"
	"github.com/agentlab/agentlab/internal/cluster"
	"github.com/agentlab/agentlab/internal/containers"
	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/swarmx"
)

// agent-messaging on a Docker Swarm: when the lab's daemon (DOCKER_HOST) is a swarm manager, each stack is
// services instead of containers. The bus runs on the node labelled agentlab.role=bus and publishes its port in
// host mode (each bus its own port: both stacks stand side by side); every agent is a one-replica service pinned
// to one of the other nodes in turn (agent i on load node i mod n), so every conversation of two crosses nodes.
// The agents dial the bus at its node's own address (swarmx.NodeURL: no gossip state on the path, so a healed
// partition is reconnected at the next dial). The lab's controller reaches the bus the same way; on the test
// cluster (lab cluster up), whose node addresses exist only inside its namespaces, through cluster.Forward.
//
// Agents' services restart whenever a task ends: a node lost (its dockerd killed) stops its containers when the
// daemon comes back (swarm mode refuses --live-restore; SIGTERM, so the agents exit 0), and the swarm then starts
// a new task of each agent on the same node, which registers again under the same id, the single-host
// "agent-kill" path. Reports come from every
// task's logs, replaced tasks included. The faults here are the node's: its link cut (node-partition) and its
// daemon killed (node-lost); they need the test cluster, whose links and daemons the lab reaches.

// Node faults (a swarm only).
const (
	faultNodePartition = "node-partition" // a load node's link cut for NodeHold, then restored
	faultNodeLost      = "node-lost"      // a load node's dockerd SIGKILLed for NodeHold, then started again
)

var nodeFaults = []string{faultNodePartition, faultNodeLost}

// swarmPort is the first bus's published port; stack i publishes swarmPort+i.
const swarmPort = 18080

// swarmSide is the run's swarm: where services go and how the lab reaches them.
type swarmSide struct {
	cli     *client.Client
	c       *cluster.Cluster // the test cluster the manager belongs to; nil on another swarm (no node faults)
	nw      string           // the run's overlay network
	prefix  string           // service names: al-<run id>-
	load    []string         // hostnames agents are pinned to (every ready node but the bus's), sorted
	runID   string
	fwdCtx  context.Context // the controller's forwarders (test cluster) listen until it ends
	stopFwd context.CancelFunc
}

// newSwarmSide returns the run's swarm when the daemon is a swarm manager (nil on one Docker host), with the
// agent and bus images present on every node of a test cluster.
func newSwarmSide(ctx context.Context, env *Env, refs []string) (*swarmSide, []string, error) {
	ok, err := swarmx.IsManager(ctx, env.Docker)
	if err != nil || !ok {
		return nil, nil, err
	}
	s := &swarmSide{cli: env.Docker, runID: env.RunID, prefix: "al-" + env.RunID + "-"}
	var notes []string
	if c, found := cluster.FindBySocket(env.Docker.DaemonHost()); found {
		if err := c.LoadImages(ctx, env.Docker, refs...); err != nil {
			return nil, nil, fmt.Errorf("swarm: images onto the nodes: %w", err)
		}
		s.c = c
		notes = append(notes, fmt.Sprintf("swarm: test cluster %s (%d nodes on one host: they share its CPUs and its clock)", c.Name, len(c.Nodes)))
	} else {
		notes = append(notes, "swarm: images are expected on every node (no registry: docker save | docker -H NODE load); latency across nodes is only as good as their clocks' agreement")
	}
	if s.load, err = swarmx.LoadNodeNames(ctx, env.Docker); err != nil {
		return nil, nil, err
	}
	if len(s.load) == 0 {
		return nil, nil, errors.New("swarm: no ready node other than the bus's (label one node agentlab.role=bus and add another)")
	}
	if s.nw, err = swarmx.CreateNetwork(ctx, env.Docker, s.prefix+"msg", dockerx.Labels(env.RunID, "network")); err != nil {
		return nil, nil, err
	}
	s.fwdCtx, s.stopFwd = context.WithCancel(context.WithoutCancel(ctx))
	notes = append(notes, "swarm: agents on nodes "+strings.Join(s.load, ", ")+" (agent i on node i mod "+strconv.Itoa(len(s.load))+"); only containers on the lab's daemon (the bus node) are sampled for memory")
	fmt.Fprintf(env.Log, "agent-messaging: %s is a swarm manager: buses and agents are services spread over its nodes\n", env.Docker.DaemonHost())
	return s, notes, nil
}

// close removes the run's services (their tasks on every node) and overlay network.
func (s *swarmSide) close(ctx context.Context) error {
	s.stopFwd()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	err := swarmx.RemoveRun(rctx, s.cli, s.runID)
	if s.c != nil {
		// Each node removes its tasks' containers on its own, a few seconds after the manager forgot the tasks:
		// on the test cluster, whose nodes the lab reaches, wait until none of the run's is left on any node.
		err = errors.Join(err, s.c.WaitNoContainers(rctx, s.runID))
	}
	return err
}

// targetFaults turns --faults into the faults this target can inject: "all" is every single-host fault on one
// host and every node fault on the test cluster (none on another swarm); a fault the target cannot inject is an
// error naming what it needs.
func targetFaults(spec string, s *swarmSide) ([]string, error) {
	faults, err := parseFaults(spec)
	if err != nil {
		return nil, err
	}
	all := strings.TrimSpace(spec) == "all"
	switch {
	case s == nil:
		for _, f := range faults {
			if slices.Contains(nodeFaults, f) {
				return nil, fmt.Errorf("--faults %s needs a swarm (DOCKER_HOST a manager of the test cluster: go run ./lab cluster up)", f)
			}
		}
		return faults, nil
	case all && s.c == nil:
		return nil, nil
	case all:
		return nodeFaults, nil
	}
	for _, f := range faults {
		if !slices.Contains(nodeFaults, f) {
			return nil, fmt.Errorf("--faults %s: not on a swarm (faults there: %s)", f, strings.Join(nodeFaults, ","))
		}
		if s.c == nil {
			return nil, fmt.Errorf("--faults %s needs the test cluster (go run ./lab cluster up): the lab cuts its nodes' links and kills their daemons", f)
		}
	}
	return faults, nil
}

// startBus starts st's bus as a service on the bus node, publishing port, and points the controller at it.
func (s *swarmSide) startBus(ctx context.Context, l *msgLab, st *convStack, port uint32) (func(context.Context) (string, error), error) {
	env := []string{"BUS_ADDR=:" + strconv.Itoa(int(port))}
	for k, v := range st.bus.Env {
		env = append(env, k+"="+v)
	}
	id, err := swarmx.Create(ctx, s.cli, swarmx.Service{Name: s.prefix + "bus-" + st.bus.Name, Image: st.bus.Image,
		Args: st.bus.Args, Env: env, Labels: dockerx.Labels(s.runID, "bus"), Network: s.nw, HostPorts: []uint32{port},
		Constraints: []string{"node.labels." + swarmx.LabelRole + "==" + swarmx.RoleBus},
		MemoryBytes: containers.BusMemory, PidsLimit: containers.BusPids})
	if err != nil {
		return nil, err
	}
	st.svc = id
	ts, err := swarmx.WaitRunning(ctx, s.cli, id, 1)
	if err != nil {
		return nil, fmt.Errorf("start %s bus: %w", st.bus.Name, err)
	}
	for _, t := range ts {
		if t.State == "running" {
			st.busNode = t.Node
			if l.mem.Add(ctx, t.ContainerID, "bus-"+st.bus.Name) != nil {
				l.res.Notes = append(l.res.Notes, "swarm: the "+st.bus.Name+" bus is not on the lab's daemon: its memory is not sampled")
			}
		}
	}
	if st.busURL, err = swarmx.NodeURL(ctx, s.cli, id, "ws", port, "/ws"); err != nil {
		return nil, err
	}
	ctlURL := st.busURL
	if s.c != nil { // node addresses exist only inside the cluster's namespaces: forward a local port in
		n, ok := s.c.NodeNamed(st.busNode)
		if !ok {
			return nil, fmt.Errorf("bus node %q is not a node of test cluster %s", st.busNode, s.c.Name)
		}
		addr, err := s.c.Forward(s.fwdCtx, n, netip.AddrPortFrom(n.Addr, uint16(port)).String())
		if err != nil {
			return nil, fmt.Errorf("forward to the %s bus: %w", st.bus.Name, err)
		}
		ctlURL = "ws://" + addr + "/ws"
	}
	if err := waitDial(ctx, strings.TrimSuffix(strings.TrimPrefix(ctlURL, "ws://"), "/ws")); err != nil {
		return nil, fmt.Errorf("%s bus: %w", st.bus.Name, err)
	}
	return func(context.Context) (string, error) { return ctlURL, nil }, nil
}

// waitDial waits until addr accepts a TCP connection (the bus listens).
func waitDial(ctx context.Context, addr string) error {
	t := time.NewTicker(containers.BusPollInterval)
	defer t.Stop()
	for {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bus at %s does not accept connections: %w (last: %v)", addr, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// startAgent starts agent id of st as a service pinned to its load node.
func (s *swarmSide) startAgent(ctx context.Context, l *msgLab, st *convStack, id string) error {
	p := l.env.Params
	node := s.load[max(agentIndex(id), 0)%len(s.load)]
	svc, err := swarmx.Create(ctx, s.cli, swarmx.Service{Name: s.prefix + st.bus.Name + "-" + id,
		Image: l.agentImgs[agentImageName(p.AgentRuntime, agentIndex(id))], Labels: dockerx.Labels(s.runID, "agent"),
		Network: s.nw, Constraints: []string{"node.hostname==" + node}, Restart: true,
		MemoryBytes: containers.AgentMemory, PidsLimit: containers.AgentPids,
		Args: []string{"converse", "--bus", st.busURL, "--id", id, "--lab", "lab", "--kib", strconv.Itoa(p.TaskKiB),
			"--max-run", containers.ConvAgentMaxRun.String()}})
	if err != nil {
		return fmt.Errorf("%s bus: %w", st.bus.Name, err)
	}
	st.mu.Lock()
	st.agentSvc[id], st.agentNode[id] = svc, node
	st.mu.Unlock()
	return nil
}

// victim is the node a node fault hits: the load node of agent a1 (a member of the first conversation of the
// parallel pattern, whose other member a0 is on another node when there are two load nodes or more).
func (s *swarmSide) victim() (cluster.Node, error) {
	name := s.load[1%len(s.load)]
	n, ok := s.c.NodeNamed(name)
	if !ok {
		return n, fmt.Errorf("node %q is not a node of test cluster %s", name, s.c.Name)
	}
	return n, nil
}

// nodeFault injects f on the victim node for hold and ends it: the link restored, or the daemon started again
// and the node ready. It returns the node's name.
func (s *swarmSide) nodeFault(ctx context.Context, f string, hold time.Duration) (string, error) {
	n, err := s.victim()
	if err != nil {
		return "", err
	}
	fctx, cancel := context.WithTimeout(ctx, hold+2*time.Minute)
	defer cancel()
	switch f {
	case faultNodePartition:
		if err := s.c.SetLink(fctx, n, false); err != nil {
			return n.Name, fmt.Errorf("cut %s's link: %w", n.Name, err)
		}
		sleepCtx(fctx, hold)
		// Restored even when ctx is done: a node left cut off would outlive the run.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer rcancel()
		if err := s.c.SetLink(rctx, n, true); err != nil {
			return n.Name, fmt.Errorf("restore %s's link: %w", n.Name, err)
		}
	case faultNodeLost:
		if err := s.c.KillDaemon(n); err != nil {
			return n.Name, err
		}
		sleepCtx(fctx, hold)
		// Started again even when ctx is done, for the same reason.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer rcancel()
		if _, err := cluster.Up(rctx, s.c.Options); err != nil {
			return n.Name, fmt.Errorf("start %s's dockerd again: %w", n.Name, err)
		}
		if err := swarmx.WaitNodeReady(rctx, s.cli, n.Name); err != nil {
			return n.Name, err
		}
	default:
		return n.Name, fmt.Errorf("not a node fault: %s", f)
	}
	return n.Name, nil
}

// running maps each agent of st to its running task (none: left out).
func (s *swarmSide) running(ctx context.Context, st *convStack) map[string]string {
	out := map[string]string{}
	for _, id := range st.ids {
		ts, _ := swarmx.Tasks(ctx, s.cli, st.agentSvc[id])
		for _, t := range ts {
			if t.State == "running" {
				out[id] = t.ID
			}
		}
	}
	return out
}

// replaced counts the agents of st whose running task is not the one in before (a new container took over).
func (s *swarmSide) replaced(ctx context.Context, st *convStack, before map[string]string) int {
	n := 0
	for id, task := range s.running(ctx, st) {
		if before[id] != task {
			n++
		}
	}
	return n
}

// reports reads the report lines of every task of st's agents (a replaced task's too).
func (s *swarmSide) reports(ctx context.Context, st *convStack) ([]ctrReport, error) {
	var out []ctrReport
	var errs []error
	for _, id := range st.ids {
		ts, err := swarmx.Tasks(ctx, s.cli, st.agentSvc[id])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, t := range ts {
			if t.ContainerID == "" {
				continue // never started: no output
			}
			b, err := swarmx.TaskLogs(ctx, s.cli, t.ID)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", id, err))
				continue
			}
			rs, err := agent.DecodeReports(b)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", id, err))
			}
			for _, r := range rs {
				out = append(out, ctrReport{Container: t.ID, Report: r})
			}
		}
	}
	return out, errors.Join(errs...)
}

// placement is where every task of st ran: its bus's and each agent's (replaced tasks included).
func (s *swarmSide) placement(ctx context.Context, st *convStack) []SwarmTask {
	out := []SwarmTask{{Service: "bus-" + st.bus.Name, Node: st.busNode}}
	if ts, err := swarmx.Tasks(ctx, s.cli, st.svc); err == nil {
		out = out[:0]
		for _, t := range ts {
			out = append(out, SwarmTask{Service: "bus-" + st.bus.Name, Task: shortID(t.ID), Node: t.Node, State: string(t.State), ExitCode: t.ExitCode})
		}
	}
	for _, id := range st.ids {
		ts, err := swarmx.Tasks(ctx, s.cli, st.agentSvc[id])
		if err != nil {
			out = append(out, SwarmTask{Service: st.bus.Name + "/" + id, Node: st.agentNode[id]})
			continue
		}
		for _, t := range ts {
			out = append(out, SwarmTask{Service: st.bus.Name + "/" + id, Task: shortID(t.ID), Node: t.Node, State: string(t.State), ExitCode: t.ExitCode})
		}
	}
	slices.SortStableFunc(out, func(a, b SwarmTask) int { return strings.Compare(a.Service, b.Service) })
	return out
}

func shortID(id string) string { return id[:min(len(id), 12)] }

// SwarmTask is one task of a stack on a swarm: which service, which node, how it ended (a task replaced after a
// node was lost shows as shutdown or failed beside its running successor).
type SwarmTask struct {
	Service  string `json:"service"` // bus-<bus>, or <bus>/<agent id>
	Task     string `json:"task,omitempty"`
	Node     string `json:"node"`
	State    string `json:"state,omitempty"` // the task's state when the run ended
	ExitCode int    `json:"exit_code,omitempty"`
}
