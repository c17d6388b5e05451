package messaging

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/labtest"
	"github.com/agentlab/agentlab/scenarios/scenario"
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
