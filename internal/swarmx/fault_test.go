package swarmx

import (
	"context"
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

// Node faults under a distributed run: a generator node partitioned (its link cut) mid-run, then healed; and a
// generator node lost (its dockerd killed), then restarted. Each run ends — aborted with a line naming the node,
// or complete — within its budget (nothing hangs), the node is back in the swarm after the heal, and the next run
// succeeds with a generator on it again. The timings are logged (detection, heal, next run).
func TestIntegrationNodeFaults(t *testing.T) {
	r := labtest.Docker(t)
	opts := cluster.Options{Name: "alf", Nodes: 3, Log: testLog{t}}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	busImg, genImg := r.Image(t, "gobus"), r.Image(t, "loadgen")
	c := clustertest.Up(ctx, t, opts, r.Client, busImg, genImg)
	mgr, err := c.Manager().Client()
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	run := loadgen.DefaultConfig()
	run.Agents, run.Rate, run.Warmup, run.Hold, run.Drain = 40, 1000, 500*time.Millisecond, 200*time.Millisecond, 5*time.Second
	victim := c.Nodes[2]

	for _, fault := range []struct {
		name         string
		inject, heal func() error
	}{
		{"partition", func() error { return c.SetLink(ctx, victim, false) }, func() error { return c.SetLink(ctx, victim, true) }},
		{"node-lost", func() error { return c.KillDaemon(victim) }, func() error { _, err := cluster.Up(ctx, opts); return err }},
	} {
		t.Run(fault.name, func(t *testing.T) {
			run := run
			run.Duration = 20 * time.Second
			lo := LoadOptions{RunID: dockerx.NewRunID(time.Now()), BusImage: busImg, LoadgenImage: genImg, Generators: 2,
				Run: run, Log: testLog{t}}
			done := make(chan error, 1)
			go func() { _, err := RunLoad(ctx, mgr, lo); done <- err }()
			waitGeneratorContainer(t, ctx, mgr, lo.RunID)
			t0 := time.Now()
			if err := fault.inject(); err != nil {
				t.Fatal(err)
			}
			var runErr error
			budget := run.Hold + run.Warmup + run.Duration + run.Drain + 3*time.Minute
			select {
			case runErr = <-done:
			case <-time.After(budget):
				t.Fatalf("run still going %v after the %s: hung", budget, fault.name)
			}
			ended := time.Since(t0)
			if runErr != nil && !strings.Contains(runErr.Error(), victim.Name) {
				t.Errorf("run failed without naming %s: %v", victim.Name, runErr)
			}
			t.Logf("%s of %s: run ended %v after the fault: %v", fault.name, victim.Name, ended.Round(time.Millisecond), runErr)
			t1 := time.Now()
			if err := fault.heal(); err != nil {
				t.Fatal(err)
			}
			if err := waitNodeReady(ctx, mgr, victim.Name); err != nil {
				t.Fatal(err)
			}
			healed := time.Since(t1)
			lo.RunID = dockerx.NewRunID(time.Now())
			lo.Run.Duration = 2 * time.Second
			t2 := time.Now()
			res, err := RunLoad(ctx, mgr, lo)
			if err != nil {
				t.Fatalf("the run after the heal: %v", err)
			}
			if !strings.Contains(strings.Join(res.Placement["generator"], ","), victim.Name) || res.Merged.Received == 0 {
				t.Errorf("after the heal: placement %v, received %d", res.Placement, res.Merged.Received)
			}
			t.Logf("%s: node %s ready again %v after the heal; next run ok in %v (generators on %v, %d delivered)",
				fault.name, victim.Name, healed.Round(time.Millisecond), time.Since(t2).Round(time.Millisecond),
				res.Placement["generator"], res.Merged.Received)
		})
	}
}

// waitNodeReady waits until the swarm says node name is ready, at most 2 minutes.
func waitNodeReady(ctx context.Context, mgr client.APIClient, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return WaitNodeReady(ctx, mgr, name)
}
