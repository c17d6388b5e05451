package swarmx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/loadgen"
)

// CoordPort is the coordinator's port on the run's overlay network.
const CoordPort = 7000

// LoadOptions are one distributed bus-load run: a bus on the node labelled agentlab.role=bus, a coordinator next
// to it, and Generators generators spread over the other nodes (at most one per node while there are enough).
type LoadOptions struct {
	RunID string
	// Name prefixes the run's services and network (default al-<RunID>): several runs of one lab run differ.
	Name         string
	BusImage     string
	BusArgs      []string
	BusEnv       []string
	LoadgenImage string
	Generators   int // default 2
	// Run is the whole run's generator configuration: Agents and Rate are totals (each generator gets its shard);
	// URL is set here to the bus service.
	Run       loadgen.Config
	Heartbeat time.Duration // default 1 s
	Log       io.Writer
	// OnBus, when set, is called once the bus's task runs, before the coordinator and the generators exist (the
	// caller may start sampling the bus container: its idle readings come before any connection).
	OnBus func(ctx context.Context, bus Task)
}

func (o LoadOptions) withDefaults() LoadOptions {
	if o.Generators <= 0 {
		o.Generators = 2
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Name == "" {
		o.Name = "al-" + o.RunID
	}
	return o
}

// LoadResult is a distributed run's outcome: every generator's result, the merge, and the node of every container.
type LoadResult struct {
	Coordinated *loadgen.Coordinated `json:"coordinated"`
	Merged      *loadgen.Result      `json:"merged"`
	// Placement is the node (hostname) of every task: role → nodes (bus, coordinator, generators in task order).
	Placement map[string][]string `json:"placement"`
	// ConvergeS is service create → every bus/coordinator/generator task running, seconds; RunS is the
	// coordinator's whole run; RemoveS the removal of services and network.
	ConvergeS float64 `json:"converge_s"`
	RunS      float64 `json:"run_s"`
	RemoveS   float64 `json:"remove_s"`
}

// RunLoad runs one distributed bus-load run on the swarm cli manages and removes everything it created (also
// when it fails). A generator task that fails, is rejected or orphaned, or a generator that misses heartbeats,
// fails the run with one line naming it and its node.
func RunLoad(ctx context.Context, cli client.APIClient, opts LoadOptions) (res *LoadResult, err error) {
	o := opts.withDefaults()
	if ok, err := IsManager(ctx, cli); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("distributed bus-load: %w (docker host %s)", ErrNotManager, cli.DaemonHost())
	}
	loadNodes, err := LoadNodes(ctx, cli)
	if err != nil {
		return nil, err
	}
	if loadNodes == 0 {
		return nil, fmt.Errorf("distributed bus-load: no node without %s=%s for the generators", LabelRole, RoleBus)
	}
	res = &LoadResult{Placement: map[string][]string{}}
	prefix := o.Name
	defer func() {
		t := time.Now()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if rerr := removeRun(rctx, cli, o.RunID, prefix); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove run %s: %w", o.RunID, rerr))
		}
		res.RemoveS = time.Since(t).Seconds()
	}()
	nw, err := CreateNetwork(ctx, cli, prefix, dockerx.Labels(o.RunID, "network"))
	if err != nil {
		return res, err
	}
	bus, coord, gen := prefix+"-bus", prefix+"-coord", prefix+"-gen"
	run := o.Run
	run.URL = "ws://" + bus + ":8080/ws"
	run.MetricsURL = ""
	t0 := time.Now()
	busID, err := Create(ctx, cli, Service{Name: bus, Image: o.BusImage, Args: o.BusArgs, Env: o.BusEnv,
		Labels: dockerx.Labels(o.RunID, "bus"), Network: nw, Replicas: 1, MemoryBytes: 1 << 30, PidsLimit: 1024,
		Constraints: []string{"node.labels." + LabelRole + "==" + RoleBus}})
	if err != nil {
		return res, err
	}
	if o.OnBus != nil {
		bctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		ts, err := WaitRunning(bctx, cli, busID, 1)
		cancel()
		if err != nil {
			return res, fmt.Errorf("distributed bus-load: bus: %w", err)
		}
		for _, t := range ts {
			if t.State == "running" {
				o.OnBus(ctx, t)
				break
			}
		}
	}
	coordArgs := append([]string{"coordinate", "--generators", strconv.Itoa(o.Generators),
		"--listen", ":" + strconv.Itoa(CoordPort), "--heartbeat", o.Heartbeat.String(),
		"--wait-url", "http://" + bus + ":8080/health", "--"}, run.Args()...)
	coordID, err := Create(ctx, cli, Service{Name: coord, Image: o.LoadgenImage, Args: coordArgs,
		Env: []string{"AGENTLAB_NODE={{.Node.Hostname}}"}, Labels: dockerx.Labels(o.RunID, "coordinator"), Network: nw,
		Replicas: 1, MemoryBytes: 256 << 20, PidsLimit: 256,
		Constraints: []string{"node.labels." + LabelRole + "==" + RoleBus}})
	if err != nil {
		return res, err
	}
	perNode := uint64((o.Generators + loadNodes - 1) / loadNodes)
	genID, err := Create(ctx, cli, Service{Name: gen, Image: o.LoadgenImage,
		Args: []string{"--coordinator", "http://" + coord + ":" + strconv.Itoa(CoordPort)},
		Env:  []string{"AGENTLAB_NODE={{.Node.Hostname}}"}, Labels: dockerx.Labels(o.RunID, "loadgen"), Network: nw,
		Replicas: uint64(o.Generators), MaxPerNode: perNode, MemoryBytes: 2 << 30, PidsLimit: 1024,
		Constraints: []string{"node.labels." + LabelRole + "!=" + RoleBus}})
	if err != nil {
		return res, err
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, w := range []struct {
		role, id string
		n        int
	}{{"bus", busID, 1}, {"coordinator", coordID, 1}, {"generator", genID, o.Generators}} {
		ts, err := waitRunningOrDone(cctx, cli, w.id, w.n)
		if err != nil {
			return res, fmt.Errorf("distributed bus-load: %s: %w", w.role, err)
		}
		for _, t := range ts {
			res.Placement[w.role] = append(res.Placement[w.role], t.Node)
		}
	}
	res.ConvergeS = time.Since(t0).Seconds()
	fmt.Fprintf(o.Log, "swarm: bus on %v, coordinator on %v, %d generators on %v; converged in %.1f s\n",
		res.Placement["bus"], res.Placement["coordinator"], o.Generators, res.Placement["generator"], res.ConvergeS)
	t1 := time.Now()
	budget := run.Hold + run.Warmup + run.Duration + run.Drain + 3*time.Minute
	rctx, rcancel := context.WithTimeout(ctx, budget)
	defer rcancel()
	if err := waitCoordinator(rctx, cli, coordID, genID); err != nil {
		// The coordinator's own line says which generator was lost, when it got that far: give it the few
		// heartbeats it waits before printing.
		wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 4*o.Heartbeat+5*time.Second)
		_, _ = waitTasks(wctx, cli, coordID, func(ts []Task) (bool, error) {
			for _, t := range ts {
				if t.State == "running" || t.State == "starting" {
					return false, nil
				}
			}
			return true, nil
		})
		wcancel()
		out, lerr := Logs(context.WithoutCancel(ctx), cli, coordID)
		if lerr == nil {
			c, derr := loadgen.DecodeCoordinated(out)
			if derr == nil && c.Summary.Abort != "" {
				res.Coordinated = c
				return res, fmt.Errorf("distributed bus-load aborted: %s (%v)", c.Summary.Abort, err)
			}
			lerr = derr
		}
		return res, fmt.Errorf("distributed bus-load: %w (coordinator's output: %v)", err, lerr)
	}
	res.RunS = time.Since(t1).Seconds()
	out, err := Logs(ctx, cli, coordID)
	if err != nil {
		return res, err
	}
	c, err := loadgen.DecodeCoordinated(out)
	if err != nil {
		return res, err
	}
	res.Coordinated, res.Merged = c, c.Merged()
	if c.Summary.Abort != "" {
		return res, fmt.Errorf("distributed bus-load aborted: %s", c.Summary.Abort)
	}
	return res, nil
}

// LoadNodes counts the ready nodes generators may run on (not labelled as the bus's).
func LoadNodes(ctx context.Context, cli client.APIClient) (int, error) {
	ns, err := LoadNodeNames(ctx, cli)
	return len(ns), err
}

// LoadNodeNames returns the hostnames of the ready nodes that are not the bus node, sorted: where generators and
// agents run.
func LoadNodeNames(ctx context.Context, cli client.APIClient) ([]string, error) {
	ns, err := cli.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("node list: %w", err)
	}
	var out []string
	for _, x := range ns.Items {
		if x.Status.State == "ready" && x.Spec.Labels[LabelRole] != RoleBus {
			out = append(out, x.Description.Hostname)
		}
	}
	sort.Strings(out)
	return out, nil
}

// waitRunningOrDone is WaitRunning that also accepts tasks already complete (a fast run).
func waitRunningOrDone(ctx context.Context, cli client.APIClient, id string, n int) ([]Task, error) {
	return waitTasks(ctx, cli, id, func(ts []Task) (bool, error) {
		up := 0
		for _, t := range ts {
			if bad(t) {
				return false, taskErr(id, t)
			}
			if t.State == "running" || t.State == "complete" {
				up++
			}
		}
		return up >= n, nil
	})
}

// waitCoordinator waits for the coordinator's task to complete, failing at once when it or any generator task
// fails, is rejected or orphaned.
func waitCoordinator(ctx context.Context, cli client.APIClient, coordID, genID string) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		cs, err := Tasks(ctx, cli, coordID)
		if err != nil {
			return err
		}
		for _, t := range cs {
			if bad(t) {
				return taskErr("coordinator", t)
			}
			if t.State == "complete" {
				return nil
			}
		}
		gs, err := Tasks(ctx, cli, genID)
		if err != nil {
			return err
		}
		for _, t := range gs {
			if bad(t) {
				return taskErr("generator", t)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("coordinator not done: %w", ctx.Err())
		case <-tick.C:
		}
	}
}
