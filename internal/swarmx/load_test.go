package swarmx

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentlab/agentlab/internal/clustertest"

	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/internal/cluster"
	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/labtest"
	"github.com/agentlab/agentlab/internal/loadgen"
)

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// A 3-node test cluster of the test's own: the bus on node 1, a generator on each of nodes 2 and 3, results
// merged; then a generator killed mid-run fails the run with a line naming it; nothing of either run is left.
// On the same cluster: conversing agents on nodes 2 and 3 through a bus on node 1, node 3 partitioned for 3 s
// and healed: recovered, loss counted, 0 hung (conversePartition).
func TestIntegrationDistributedBusLoad(t *testing.T) {
	r := labtest.Docker(t)
	opts := cluster.Options{Name: "als", Nodes: 3, Log: testLog{t}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	busImg, genImg, agentImg := r.Image(t, "gobus"), r.Image(t, "loadgen"), r.Image(t, "agent")
	t0 := time.Now()
	c := clustertest.Up(ctx, t, opts, r.Client, busImg, genImg, agentImg)
	t.Logf("cluster up with images: %v", time.Since(t0).Round(time.Millisecond))
	mgr, err := c.Manager().Client()
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()

	run := loadgen.DefaultConfig()
	run.Agents, run.Rate, run.Duration, run.Warmup, run.Hold, run.Drain = 40, 2000, 2*time.Second, 500*time.Millisecond, 200*time.Millisecond, 5*time.Second
	lo := LoadOptions{RunID: dockerx.NewRunID(time.Now()), BusImage: busImg, LoadgenImage: genImg, Generators: 2, Run: run, Log: testLog{t}}

	t.Run("merged", func(t *testing.T) {
		res, err := RunLoad(ctx, mgr, lo)
		if err != nil {
			t.Fatal(err)
		}
		gens := slices.Clone(res.Placement["generator"])
		slices.Sort(gens)
		if !slices.Equal(res.Placement["bus"], []string{"als-n1"}) || !slices.Equal(gens, []string{"als-n2", "als-n3"}) {
			t.Fatalf("placement %v", res.Placement)
		}
		runs := res.Coordinated.Runs
		if len(runs) != 2 || runs[0].Node == runs[1].Node || runs[0].Result == nil || runs[1].Result == nil {
			t.Fatalf("runs %+v", runs)
		}
		a, b, m := runs[0].Result, runs[1].Result, res.Merged
		if m.Sent != a.Sent+b.Sent || m.Received != a.Received+b.Received || m.Latency.Count() != a.Latency.Count()+b.Latency.Count() ||
			m.Sessions.Registered != 40 || m.Received == 0 {
			t.Fatalf("merged sent %d recv %d reg %d; parts %d+%d, %d+%d", m.Sent, m.Received, m.Sessions.Registered, a.Sent, b.Sent, a.Received, b.Received)
		}
		s := m.Latency.Summary()
		t.Logf("converge %.1f s, run %.1f s, remove %.1f s; sent %d, received %d, p50 %.2f ms p99 %.2f ms; offsets %d/%d ns (rtt %d/%d); skew flag %v",
			res.ConvergeS, res.RunS, res.RemoveS, m.Sent, m.Received, s.P50MS, s.P99MS, runs[0].OffsetNS, runs[1].OffsetNS,
			runs[0].RTTNS, runs[1].RTTNS, res.Coordinated.Summary.SkewFlag)
		assertNothingLeft(t, ctx, c, lo.RunID)
	})

	t.Run("killed generator", func(t *testing.T) {
		lo := lo
		lo.RunID = dockerx.NewRunID(time.Now())
		lo.Run.Duration = 30 * time.Second
		done := make(chan error, 1)
		go func() { _, err := RunLoad(ctx, mgr, lo); done <- err }()
		node, id := waitGeneratorContainer(t, ctx, mgr, lo.RunID)
		n, _ := nodeByName(c, node)
		cli, err := n.Client()
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		if _, err := cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
			t.Fatal(err)
		}
		t.Logf("killed generator container %.12s on %s", id, node)
		err = <-done
		if err == nil || !strings.Contains(err.Error(), node) {
			t.Fatalf("run with a killed generator: %v", err)
		}
		t.Logf("run failed as it should: %v", err)
		assertNothingLeft(t, ctx, c, lo.RunID)
	})

	t.Run("conversations partition", func(t *testing.T) {
		conversePartition(t, ctx, c, mgr, busImg, agentImg, 3*time.Second)
	})
}

func nodeByName(c *cluster.Cluster, name string) (cluster.Node, bool) {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return cluster.Node{}, false
}

// waitGeneratorContainer waits until the coordinator has released the generators (its stderr says so) and
// returns the node and container of a running generator task: a kill then lands mid-run.
func waitGeneratorContainer(t *testing.T, ctx context.Context, mgr client.APIClient, runID string) (string, string) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if released(ctx, mgr, "al-"+runID+"-coord") {
			ts, err := Tasks(ctx, mgr, "al-"+runID+"-gen")
			if err == nil {
				for _, x := range ts {
					if x.State == "running" && x.ContainerID != "" {
						return x.Node, x.ContainerID
					}
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no generator was released")
	return "", ""
}

// released says whether the coordinator service's stderr has its release line.
func released(ctx context.Context, mgr client.APIClient, svc string) bool {
	rc, err := mgr.ServiceLogs(ctx, svc, client.ServiceLogsOptions{ShowStderr: true})
	if err != nil {
		return false
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return strings.Contains(string(b), "generators ready; start at")
}

// assertNothingLeft: no service, task, network or container of the run on the manager or any node.
func assertNothingLeft(t *testing.T, ctx context.Context, c *cluster.Cluster, runID string) {
	t.Helper()
	f := make(client.Filters).Add("label", dockerx.LabelRunID+"="+runID)
	mgr, _ := c.Manager().Client()
	defer mgr.Close()
	ss, _ := mgr.ServiceList(ctx, client.ServiceListOptions{Filters: f})
	ns, _ := mgr.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if len(ss.Items)+len(ns.Items) > 0 {
		t.Errorf("left: %d services, %d networks", len(ss.Items), len(ns.Items))
	}
	for _, n := range c.Nodes {
		cli, _ := n.Client()
		deadline := time.Now().Add(30 * time.Second)
		for {
			cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
			if err == nil && len(cs.Items) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: %d containers of the run left", n.Name, len(cs.Items))
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		cli.Close()
	}
}
