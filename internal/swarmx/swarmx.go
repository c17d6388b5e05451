// Package swarmx runs the lab's containers as Docker Swarm services when the lab's daemon is a swarm manager:
// an attachable overlay network per run, services that reach each other by DNS round robin (EndpointSpec dnsrr:
// VIPs and the ingress mesh need IPVS, which not every kernel has), host-mode published ports, placement by node
// label (agentlab.role=bus for the bus, the others for load), images never resolved against a registry. Every
// service, its containers and the network carry the run's labels; RemoveRun removes them.
package swarmx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/internal/dockerx"
)

// Node labels the lab places by (internal/cluster sets them on its test cluster; on another swarm:
// `docker node update --label-add agentlab.role=bus NODE`).
const (
	LabelRole = "agentlab.role"
	RoleBus   = "bus"
)

// ErrNotManager: the daemon is not a swarm manager (a plain Engine, or a worker).
var ErrNotManager = errors.New("not a swarm manager")

// ErrTaskFailed: a service's task failed, was rejected or orphaned — the run cannot go on.
var ErrTaskFailed = errors.New("swarm task failed")

// IsManager says whether cli talks to a swarm manager.
func IsManager(ctx context.Context, cli client.APIClient) (bool, error) {
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return false, fmt.Errorf("docker info: %w", err)
	}
	return info.Info.Swarm.LocalNodeState == swarm.LocalNodeStateActive && info.Info.Swarm.ControlAvailable, nil
}

// CreateNetwork creates the run's attachable overlay network.
func CreateNetwork(ctx context.Context, cli client.APIClient, name string, labels map[string]string) (string, error) {
	res, err := cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "overlay", Attachable: true, Labels: labels})
	if err != nil {
		return "", fmt.Errorf("create overlay network %s: %w", name, err)
	}
	return res.ID, nil
}

// Service is what the lab asks of one service.
type Service struct {
	Name     string
	Image    string
	Args     []string // after the image's entrypoint
	Env      []string // may use task templates, e.g. AGENTLAB_NODE={{.Node.Hostname}}
	Labels   map[string]string
	Network  string // the run's overlay network
	Replicas uint64
	// Constraints are placement constraints, e.g. node.labels.agentlab.role==bus.
	Constraints []string
	// MaxPerNode, when > 0, spreads replicas: at most this many on one node.
	MaxPerNode uint64
	// HostPorts are published in host mode on the task's node (target = published).
	HostPorts   []uint32
	MemoryBytes int64
	PidsLimit   int64
	// Restart: a task that ends, however it ends, is replaced at once on a node its constraints allow. Any end,
	// not only a failure: a node's restarted dockerd stops the containers it finds running with SIGTERM, and an
	// agent stopped so exits 0. Off by default: a task that ends is the end of a run (bus-load). agent-messaging's
	// agents set it, so that an agent whose node was lost comes back as the single-host scenario's killed agent
	// does: a new container with the same id, which registers again.
	Restart bool
}

// Create creates the service: replicated, not restarted unless Restart, dnsrr endpoints.
func Create(ctx context.Context, cli client.APIClient, s Service) (string, error) {
	ports := []swarm.PortConfig{}
	for _, p := range s.HostPorts {
		ports = append(ports, swarm.PortConfig{Protocol: "tcp", TargetPort: p, PublishedPort: p,
			PublishMode: swarm.PortConfigPublishModeHost})
	}
	replicas := s.Replicas
	if replicas == 0 {
		replicas = 1
	}
	restart := &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}
	if s.Restart {
		// No delay (the default is 5 s): the outage measured is the node's, not a back-off of ours.
		restart = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny, Delay: ptr(time.Duration(0))}
	}
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: s.Name, Labels: s.Labels},
		TaskTemplate: swarm.TaskSpec{
			// Hardened as internal/containers hardens the lab's containers: read-only root filesystem, every
			// capability dropped, no new privileges (older engines ignore the field), memory and pids limits.
			ContainerSpec: &swarm.ContainerSpec{Image: s.Image, Args: s.Args, Env: s.Env, Labels: s.Labels,
				StopGracePeriod: ptr(2 * time.Second), ReadOnly: true, CapabilityDrop: []string{"ALL"},
				Privileges: &swarm.Privileges{NoNewPrivileges: true}},
			RestartPolicy: restart,
			Placement:     &swarm.Placement{Constraints: s.Constraints, MaxReplicas: s.MaxPerNode},
			Networks:      []swarm.NetworkAttachmentConfig{{Target: s.Network}},
			Resources:     &swarm.ResourceRequirements{Limits: &swarm.Limit{MemoryBytes: s.MemoryBytes, Pids: s.PidsLimit}},
		},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR, Ports: ports},
	}
	// QueryRegistry false is `docker service create --no-resolve-image`: nothing is pulled or resolved.
	res, err := cli.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec, QueryRegistry: false})
	if err != nil {
		return "", fmt.Errorf("create service %s: %w", s.Name, err)
	}
	return res.ID, nil
}

func ptr[T any](v T) *T { return &v }

// Task is one task's state and where it runs.
type Task struct {
	ID, NodeID, Node string // Node: the node's hostname
	State            swarm.TaskState
	Err              string
	ExitCode         int
	ContainerID      string
}

// Tasks lists a service's tasks with their nodes' hostnames.
func Tasks(ctx context.Context, cli client.APIClient, service string) ([]Task, error) {
	res, err := cli.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", service)})
	if err != nil {
		return nil, fmt.Errorf("tasks of %s: %w", service, err)
	}
	names := map[string]string{}
	var ts []Task
	for _, t := range res.Items {
		host, ok := names[t.NodeID]
		if !ok && t.NodeID != "" {
			if n, err := cli.NodeInspect(ctx, t.NodeID, client.NodeInspectOptions{}); err == nil {
				host = n.Node.Description.Hostname
			}
			names[t.NodeID] = host
		}
		x := Task{ID: t.ID, NodeID: t.NodeID, Node: host, State: t.Status.State, Err: t.Status.Err}
		if cs := t.Status.ContainerStatus; cs != nil {
			x.ExitCode, x.ContainerID = cs.ExitCode, cs.ContainerID
		}
		ts = append(ts, x)
	}
	return ts, nil
}

// bad says whether a task ended in a way that fails the run.
func bad(t Task) bool {
	switch t.State {
	case swarm.TaskStateFailed, swarm.TaskStateRejected, swarm.TaskStateOrphaned:
		return true
	}
	return false
}

func taskErr(service string, t Task) error {
	return fmt.Errorf("%w: service %s task %.12s on node %s: %s (%s, exit %d)", ErrTaskFailed, service, t.ID,
		orUnknown(t.Node), t.State, orUnknown(t.Err), t.ExitCode)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// WaitRunning waits until n tasks of service run; a failed, rejected or orphaned task ends the wait with its
// error line.
func WaitRunning(ctx context.Context, cli client.APIClient, service string, n int) ([]Task, error) {
	return waitTasks(ctx, cli, service, func(ts []Task) (bool, error) {
		running := 0
		for _, t := range ts {
			if bad(t) {
				return false, taskErr(service, t)
			}
			if t.State == swarm.TaskStateRunning {
				running++
			}
		}
		return running >= n, nil
	})
}

// WaitComplete waits until n tasks of service have completed (exit 0); any other end fails.
func WaitComplete(ctx context.Context, cli client.APIClient, service string, n int) ([]Task, error) {
	return waitTasks(ctx, cli, service, func(ts []Task) (bool, error) {
		done := 0
		for _, t := range ts {
			if bad(t) {
				return false, taskErr(service, t)
			}
			if t.State == swarm.TaskStateComplete {
				done++
			}
		}
		return done >= n, nil
	})
}

func waitTasks(ctx context.Context, cli client.APIClient, service string, ok func([]Task) (bool, error)) ([]Task, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ts, err := Tasks(ctx, cli, service)
		if err != nil {
			return nil, err
		}
		if done, err := ok(ts); err != nil || done {
			return ts, err
		}
		select {
		case <-ctx.Done():
			return ts, fmt.Errorf("service %s: %w (tasks: %s)", service, ctx.Err(), describe(ts))
		case <-tick.C:
		}
	}
}

func describe(ts []Task) string {
	var parts []string
	for _, t := range ts {
		s := fmt.Sprintf("%.12s on %s %s", t.ID, orUnknown(t.Node), t.State)
		if t.Err != "" {
			s += " (" + t.Err + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// Logs returns a service's stdout, raw (no task prefix: `docker service logs --raw`), whole lines.
func Logs(ctx context.Context, cli client.APIClient, service string) ([]byte, error) {
	rc, err := cli.ServiceLogs(ctx, service, client.ServiceLogsOptions{ShowStdout: true})
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", service, err)
	}
	defer rc.Close()
	return demux(rc)
}

// TaskLogs returns one task's stdout, raw, whole lines: the logs of one container of a service, a replaced one
// too while the swarm keeps its task (task history).
func TaskLogs(ctx context.Context, cli client.APIClient, task string) ([]byte, error) {
	rc, err := cli.TaskLogs(ctx, task, client.TaskLogsOptions{ShowStdout: true})
	if err != nil {
		return nil, fmt.Errorf("logs of task %.12s: %w", task, err)
	}
	defer rc.Close()
	return demux(rc)
}

// WaitNodeReady waits until the swarm calls the node with hostname ready (after its daemon restarted, or its link
// came back).
func WaitNodeReady(ctx context.Context, cli client.APIClient, hostname string) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		ns, err := cli.NodeList(ctx, client.NodeListOptions{})
		if err == nil {
			for _, n := range ns.Items {
				if n.Description.Hostname == hostname && n.Status.State == swarm.NodeStateReady {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not ready: %w (last: %v)", hostname, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// demux reads the Engine's multiplexed log stream (8-byte frame headers; services have no TTY) and keeps stdout.
func demux(r io.Reader) ([]byte, error) {
	var out []byte
	hdr := make([]byte, 8)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		n := int(hdr[4])<<24 | int(hdr[5])<<16 | int(hdr[6])<<8 | int(hdr[7])
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return out, err
		}
		if hdr[0] == 1 {
			out = append(out, buf...)
		}
	}
}

// RemoveRun removes the run's services (their tasks and containers go with them, on every node) and then its
// overlay networks, waiting until the networks are free. Idempotent. The run's other objects (containers and
// local networks the lab made on the manager itself) are dockerx.RemoveRun's.
func RemoveRun(ctx context.Context, cli client.APIClient, runID string) error {
	return removeRun(ctx, cli, runID, "")
}

// removeRun is RemoveRun for the services and networks whose names start with prefix ("": all of the run's).
func removeRun(ctx context.Context, cli client.APIClient, runID, prefix string) error {
	f := make(client.Filters).Add("label", dockerx.LabelRunID+"="+runID)
	var errs []error
	var removed []string
	ss, err := cli.ServiceList(ctx, client.ServiceListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	for _, s := range ss.Items {
		if !strings.HasPrefix(s.Spec.Name, prefix) {
			continue
		}
		if _, err := cli.ServiceRemove(ctx, s.ID, client.ServiceRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove service %s: %w", s.Spec.Name, err))
			continue
		}
		removed = append(removed, s.ID)
	}
	// A network is removable once its tasks' containers are gone on every node, and the manager lists its local
	// copy until then: remove and list again until none is listed.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("list networks: %w", err))...)
		}
		var last error
		left := 0
		for _, nw := range ns.Items {
			if nw.Driver != "overlay" || !strings.HasPrefix(nw.Name, prefix) {
				continue
			}
			left++
			if _, err := cli.NetworkRemove(ctx, nw.ID, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
				last = fmt.Errorf("remove network %s: %w", nw.Name, err)
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if last == nil {
				last = fmt.Errorf("%d overlay networks still listed after 30 s", left)
			}
			errs = append(errs, last)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Tasks' containers leave with their services; wait until no task of them is listed so nothing outlives the call.
	for _, id := range removed {
		for time.Now().Before(deadline) && ctx.Err() == nil {
			ts, err := cli.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", id)})
			if err != nil || len(ts.Items) == 0 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}

// NodeURL returns a URL that reaches a host-mode published port of service's running task through its node's
// own address (the address the swarm knows the node by), e.g. "ws://10.0.0.1:8080/ws" for port 8080, path "/ws".
//
// Why not the overlay (ws://SERVICE:8080): on Engine 20.10 a node cut off long enough for the gossip layer
// (NetworkDB over memberlist) to declare its peers failed drops their service records and overlay peer entries,
// and after the heal they are not always restored (moby/moby#53141, fixed in 2026; the periodic rejoin did
// nothing on a real swarm, moby/moby#42459): the partitioned node's containers then resolve or route to the
// service no more, for minutes. The node address and a host-mode port depend on no gossip: once the link is back,
// the next dial works.
func NodeURL(ctx context.Context, cli client.APIClient, service, scheme string, port uint32, path string) (string, error) {
	ts, err := Tasks(ctx, cli, service)
	if err != nil {
		return "", err
	}
	for _, t := range ts {
		if t.State != swarm.TaskStateRunning || t.NodeID == "" {
			continue
		}
		n, err := cli.NodeInspect(ctx, t.NodeID, client.NodeInspectOptions{})
		if err != nil {
			return "", fmt.Errorf("node of %s: %w", service, err)
		}
		if n.Node.Status.Addr == "" {
			return "", fmt.Errorf("node %s of %s has no address", n.Node.Description.Hostname, service)
		}
		return fmt.Sprintf("%s://%s:%d%s", scheme, n.Node.Status.Addr, port, path), nil
	}
	return "", fmt.Errorf("service %s: no running task (tasks: %s)", service, describe(ts))
}
