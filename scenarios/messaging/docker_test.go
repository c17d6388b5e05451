package messaging

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/agentlab/agentlab/internal/clustertest"

	"github.com/agentlab/agentlab/internal/cluster"
	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/labtest"
	"github.com/agentlab/agentlab/scenarios/scenario"
	"github.com/moby/moby/client"
)

// TestMessagingBothBuses runs the scenario small on both bus images — three agents, every pattern once, one bus
// restart — and checks what a user gets: every turn delivered and verified on the clean runs, the conversations
// moving again after the restart, the decision made, and nothing left on the daemon.
func TestMessagingBothBuses(t *testing.T) {
	r := labtest.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b := r.Builder(t)

	p := msgParams()
	p.Agents, p.Conversations, p.Turns, p.Repeat, p.Quick, p.Faults = 3, 2, 20, 1, true, faultBusRestart
	want := []string{"go", "rust"}
	if _, err := b.Ensure(ctx, "rustbus"); errors.Is(err, images.ErrNoCargo) {
		t.Log("Rust bus skipped: cargo is not installed (images.ErrNoCargo); the Go bus only")
		p.Bus, want = "go", want[:1]
	} else if err != nil {
		t.Fatal(err)
	}
	env := &scenario.Env{RunID: r.ID, Params: p.Params, Docker: r.Client, Images: b, Log: labtest.Log(t), Now: time.Now}
	out, err := New(&p.Flags).Run(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := out.File("agent-messaging.json")
	res, ok := v.(*Result)
	if !ok {
		t.Fatalf("no agent-messaging.json in %v", out.Files)
	}
	if len(res.Runs) != len(want)*len(topologies) {
		t.Fatalf("%d clean runs, want %d", len(res.Runs), len(want)*len(topologies))
	}
	for _, run := range res.Runs {
		name := run.Bus + " " + run.Pattern
		if run.Received != run.TurnsPlanned || run.SuccessPct != 100 || !run.ContextOK || run.Errors.Total != 0 {
			t.Errorf("%s: received %d of %d, success %.1f %%, errors %+v", name, run.Received, run.TurnsPlanned,
				run.SuccessPct, run.Errors)
		}
		if run.Latency.Count != run.TurnsPlanned-int64(run.Conversations) || run.Latency.P95MS <= 0 || run.TurnsPerSec <= 0 {
			t.Errorf("%s: latency %+v, %.0f turns/s", name, run.Latency, run.TurnsPerSec)
		}
	}
	if len(res.FaultRuns) != len(want) {
		t.Fatalf("%d fault runs, want %d", len(res.FaultRuns), len(want))
	}
	for _, f := range res.FaultRuns {
		if f.Error != "" || f.RecoveryMS == nil || len(f.Hung) != 0 || f.Affected == 0 || f.Reconnects < int64(p.Agents) {
			t.Errorf("%s %s: %+v", f.Bus, f.Fault, f)
		}
		if f.ContextErrors != 0 || f.Unrecovered != 0 {
			t.Errorf("%s %s: context lost across the restart: %+v", f.Bus, f.Fault, f)
		}
	}
	if d := out.Decisions.AgentMessaging; d == nil || len(d.Buses) != len(want) {
		t.Errorf("decision %+v", d)
	}
	// The scenario removed its containers and network itself.
	r.NothingLeft(ctx, t)
}

// TestIntegrationSwarmNodeFaults runs the scenario on a 3-node test cluster (the lab's DOCKER_HOST its manager):
// the Go bus on node 1, four agents as services on nodes 2 and 3, every pattern once, then node 3 partitioned
// and healed, then node 3's dockerd killed and started again. What a user gets: every clean turn delivered, the
// node of every task in the results, each node fault recovered with 0 hung (a lost node's agents replaced by
// new tasks that register again), and nothing of the run left on the swarm.
func TestIntegrationSwarmNodeFaults(t *testing.T) {
	r := labtest.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	opts := cluster.Options{Name: "alx", Nodes: 3, Log: labtest.Log(t), Subnet: netip.MustParsePrefix("192.168.215.0/24")}
	refs := []string{r.Image(t, "gobus"), r.Image(t, "agent")}
	c := clustertest.Up(ctx, t, opts, r.Client, refs...)
	mgr, err := c.Manager().Client()
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()

	p := msgParams()
	p.Agents, p.Conversations, p.Turns, p.Repeat, p.Quick, p.Bus = 4, 2, 20, 1, true, "go"
	p.Faults = faultNodePartition + "," + faultNodeLost
	b := images.NewBuilder(mgr, r.Root, labtest.Log(t)) // finds the images loaded above by their hash tags
	t.Cleanup(func() { b.Close() })
	env := &scenario.Env{RunID: r.ID, Params: p.Params, Docker: mgr, Images: b, Log: labtest.Log(t), Now: time.Now}
	t0 := time.Now()
	out, err := New(&p.Flags).Run(ctx, env)
	t.Logf("scenario on the swarm: %v", time.Since(t0).Round(time.Millisecond))
	v, _ := out.File("agent-messaging.json")
	res, _ := v.(*Result)
	if res != nil {
		var tb bytes.Buffer
		_ = res.WriteTable(&tb)
		t.Log(tb.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range res.Runs {
		if run.Received != run.TurnsPlanned || !run.ContextOK || run.Errors.Total != 0 {
			t.Errorf("%s %s: received %d of %d, errors %+v", run.Bus, run.Pattern, run.Received, run.TurnsPlanned, run.Errors)
		}
	}
	// Where every task ran: the bus on the manager (the bus node), agents alternating over nodes 2 and 3.
	nodes := map[string]string{}
	replaced := 0
	for _, tk := range res.SwarmTasks {
		if tk.State == "running" {
			nodes[tk.Service] = tk.Node
		} else {
			replaced++
		}
	}
	n1, n2, n3 := c.Nodes[0].Name, c.Nodes[1].Name, c.Nodes[2].Name
	for svc, want := range map[string]string{"bus-go": n1, "go/a0": n2, "go/a1": n3, "go/a2": n2, "go/a3": n3} {
		if nodes[svc] != want {
			t.Errorf("%s ran on %q, want %s (tasks %+v)", svc, nodes[svc], want, res.SwarmTasks)
		}
	}
	if len(res.FaultRuns) != 2 {
		t.Fatalf("%d fault runs, want 2: %+v", len(res.FaultRuns), res.FaultRuns)
	}
	for _, f := range res.FaultRuns {
		// Partitioned agents register again; a lost node's agents are new containers (a first registration).
		back := f.Reconnects >= 2
		if f.Fault == faultNodeLost {
			back = f.Replaced == 2
		}
		if f.Target != n3 || f.Error != "" || f.RecoveryMS == nil || len(f.Hung) != 0 || f.Affected == 0 || !back {
			t.Errorf("%s: %+v", f.Fault, f)
		}
		if f.ContextErrors != 0 {
			t.Errorf("%s: context lost: %+v", f.Fault, f)
		}
	}
	// The lost node's two agents were replaced: their first tasks ended when its daemon came back.
	if replaced != 2 {
		t.Errorf("%d tasks replaced after node-lost, want ≥ 2 (tasks %+v)", replaced, res.SwarmTasks)
	}
	f := client.Filters{}.Add("label", dockerx.LabelRunID+"="+r.ID)
	if ss, err := mgr.ServiceList(ctx, client.ServiceListOptions{Filters: f}); err != nil || len(ss.Items) != 0 {
		t.Errorf("services left: %v %v", ss, err)
	}
	if ns, err := mgr.NetworkList(ctx, client.NetworkListOptions{Filters: f}); err != nil || len(ns.Items) != 0 {
		t.Errorf("networks left: %v %v", ns, err)
	}
	// Nor a container on any node: the scenario waited for every node to remove its tasks' containers.
	nctx, ncancel := context.WithTimeout(ctx, time.Second)
	defer ncancel()
	if err := c.WaitNoContainers(nctx, r.ID); err != nil {
		t.Error(err)
	}
}
