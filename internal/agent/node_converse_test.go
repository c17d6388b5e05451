package agent

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The Node.js agent's conversation mode (agents/node/converse.js) speaks the Go agent's protocol: these tests put
// Node.js and Go agents in the same rings under the Go controller and read the Node.js reports with DecodeReports.

// nodeAgent is a `node agent.js converse` process.
type nodeAgent struct {
	id  string
	cmd *exec.Cmd
	out *syncBuf
}

func needNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH (apt-get install nodejs node-ws)")
	}
	if _, err := os.Stat("/usr/share/nodejs/ws"); err != nil {
		t.Skip("the ws library is missing (/usr/share/nodejs/ws: apt-get install node-ws)")
	}
	if testing.Short() {
		t.Skip("starts Node.js processes")
	}
	return node
}

func startNodeAgent(t *testing.T, node, busAddr, id string, retransmit time.Duration) *nodeAgent {
	t.Helper()
	script, err := filepath.Abs("../../agents/node/agent.js")
	if err != nil {
		t.Fatal(err)
	}
	a := &nodeAgent{id: id, out: &syncBuf{}}
	a.cmd = exec.Command(node, script, "converse", "--bus", "ws://"+busAddr+"/ws", "--id", id, "--kib", "1",
		"--retransmit", retransmit.String(), "--ping", "100ms", "--dead", "400ms", "--max-run", "2m")
	a.cmd.Env = append(os.Environ(), "NODE_PATH=/usr/share/nodejs")
	a.cmd.Stdout = a.out
	var stderr strings.Builder
	a.cmd.Stderr = &stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start node agent %s: %v", id, err)
	}
	t.Cleanup(func() {
		a.stop(syscall.SIGKILL)
		if stderr.Len() > 0 {
			t.Logf("node agent %s stderr: %s", id, stderr.String())
		}
	})
	return a
}

// stop signals the agent and waits for it (a second stop is a no-op).
func (a *nodeAgent) stop(sig syscall.Signal) {
	if a.cmd.ProcessState != nil {
		return
	}
	_ = a.cmd.Process.Signal(sig)
	_ = a.cmd.Wait()
}

func TestNodeConverseMixedRings(t *testing.T) {
	node := needNode(t)
	bus := startProcBus(t, "127.0.0.1:0")
	defer bus.stop()
	f := startFleet(t, bus.addr, 2, 3*time.Second) // a0, a1: Go agents
	defer f.stop()
	for _, id := range []string{"n0", "n1", "n2"} {
		a := startNodeAgent(t, node, bus.addr, id, 3*time.Second)
		f.ids, f.outs = append(f.ids, id), append(f.outs, a.out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.ctl.WaitReady(ctx, f.ids); err != nil {
		t.Fatal(err)
	}
	const turns = 30
	for _, p := range []struct {
		name  string
		convs []ConvSpec
	}{
		{"node-pair", []ConvSpec{{ID: "d0", Members: []string{"n0", "n1"}, Turns: turns}}},
		{"mixed-pair", []ConvSpec{{ID: "m0", Members: []string{"n0", "a0"}, Turns: turns}, {ID: "m1", Members: []string{"a1", "n2"}, Turns: turns}}},
		{"mixed-ring", []ConvSpec{{ID: "r0", Members: []string{"a0", "n1", "n2"}, Turns: turns}, {ID: "r1", Members: []string{"n0", "a1", "n1"}, Turns: turns}}},
	} {
		if err := f.ctl.Go(p.name, p.convs, 1); err != nil {
			t.Fatal(err)
		}
		if err := f.ctl.WaitDone(ctx, p.name, len(p.convs)); err != nil {
			t.Fatalf("%s: %v (%d done)", p.name, err, f.ctl.Done(p.name))
		}
		rs := f.collect(ctx, p.name)
		checkCleanPhase(t, p.name, rs, turns, len(p.convs))
		nodeTurns := map[string]int64{}
		for _, r := range rs {
			if strings.HasPrefix(r.Agent, "n") {
				nodeTurns[r.Agent] += r.Counts.Received
				if q := r.Latency.Quantiles(50); r.Counts.Received > 1 && q[0] <= 0 {
					t.Errorf("%s: %s's latency histogram has no median", p.name, r.Agent)
				}
			}
		}
		t.Logf("%s: %d turns, Node.js agents took %v", p.name, turns*len(p.convs), nodeTurns)
	}
}

// A Node.js agent killed (SIGKILL) mid-conversation and replaced by a fresh one with the same id: the Go peer's
// resend reaches the replacement, which joins from the trail and says the very same turn; then the bus restarts
// on the same address and every agent, Node.js ones included, registers again and the conversation moves on.
func TestNodeConverseReplacementAndBusRestart(t *testing.T) {
	node := needNode(t)
	bus := startProcBus(t, "127.0.0.1:0")
	defer func() { bus.stop() }()
	f := startFleet(t, bus.addr, 1, 100*time.Millisecond) // a0 (Go)
	defer f.stop()
	first := startNodeAgent(t, node, bus.addr, "n1", 100*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.ctl.WaitReady(ctx, []string{"a0", "n1"}); err != nil {
		t.Fatal(err)
	}
	if err := f.ctl.Go("faults", []ConvSpec{{ID: "k0", Members: []string{"a0", "n1"}}}, 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the conversation runs before the kill
	first.stop(syscall.SIGKILL)
	second := startNodeAgent(t, node, bus.addr, "n1", 100*time.Millisecond)
	if err := f.ctl.wait(ctx, func() bool { return f.ctl.ready["n1"] >= 2 }); err != nil {
		t.Fatalf("the replacement did not register: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // the conversation runs after the replacement

	addr := bus.addr
	bus.stop()
	bus = startProcBus(t, addr)
	restarted := time.Now()
	if err := f.ctl.wait(ctx, func() bool { return f.ctl.ready["n1"] >= 3 && f.ctl.ready["a0"] >= 2 }); err != nil {
		t.Fatalf("agents did not register again after the bus restart: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // the conversation runs after the restart
	if err := f.ctl.Stop("faults"); err != nil {
		t.Fatal(err)
	}
	f.outs = append(f.outs, second.out)
	f.ids = append(f.ids, "n1")
	rs := f.collect(ctx, "faults")
	var nodeRep Report
	for _, r := range rs {
		if r.Agent == "n1" {
			nodeRep = r
		}
		if bad := r.Counts.Corrupt + r.Counts.Gap + r.Counts.Reorder + r.Counts.Lost; bad != 0 {
			t.Errorf("%s saw %d context errors: %+v", r.Agent, bad, r.Counts)
		}
	}
	if nodeRep.Counts.Received == 0 || nodeRep.Counts.Link.Reconnects < 1 {
		t.Errorf("the Node.js replacement took %d turns, %d reconnects", nodeRep.Counts.Received, nodeRep.Counts.Link.Reconnects)
	}
	var last int64
	for _, r := range rs {
		for _, c := range r.Convs {
			last = max(last, c.LastNS)
		}
	}
	if last < restarted.UnixNano() {
		t.Error("the conversation did not move after the bus restart")
	}
	b, _ := json.Marshal(nodeRep.Counts)
	t.Logf("n1 (replacement): %s", b)
}
