package busload

import (
	"bytes"
	"strings"
	"testing"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/scenarios/buses"
)

// fakeWithNode adds the Node.js bus to a fake go/rust result: its open-model p95 and saturation throughput.
func fakeWithNode(nodeP95, nodeSat float64) *Result {
	res := fakeResult(12, 100e3, 300e3, false)
	res.Buses = append(res.Buses, buses.Spec{Name: buses.Node, Impl: "nodebus"})
	for rep := 1; rep <= fakeRepeats; rep++ {
		jitter := float64(rep) / 100
		res.add(buses.Node, fakeRun(buses.Node, rep, 1000, "targeted", "closed", nodeSat*(1+jitter), 60, 40000, false))
		for _, pt := range []string{"targeted", "broadcast"} {
			res.add(buses.Node, fakeRun(buses.Node, rep, 1000, pt, "open", 1000, nodeP95*(1+jitter), 40000, false))
		}
	}
	res.finish(false)
	return res
}

// The seed's Test 2 verbatim: "Node.js handles 1000 agents with P95 < 50 ms?", with Rust measured against the
// Node.js bus. Planted figures flip it; the Go decision is unchanged by the Node.js bus.
func TestNodeDecision(t *testing.T) {
	res := fakeWithNode(20, 50e3)
	nd := res.nodeDecision
	if nd == nil || nd.GoHandles != decide.Yes || !strings.HasPrefix(nd.Recommendation, "Stick with Node.js") ||
		nd.GoBus != buses.Node {
		t.Fatalf("fast node: %+v", nd)
	}
	if res.decision.GoBus != "go" || !strings.HasPrefix(res.decision.Recommendation, "Stick with Go") {
		t.Errorf("the Go decision changed: %+v", res.decision)
	}
	slow := fakeWithNode(120, 50e3).nodeDecision
	if slow.GoHandles != decide.No || !strings.HasPrefix(slow.Recommendation, "Build Rust message bus") ||
		slow.Rust2x != decide.Yes || strings.Contains(slow.HandlesAnswer+slow.Recommendation, "Go") {
		t.Fatalf("slow node (Rust 6× its throughput): %+v", slow)
	}
	var b bytes.Buffer
	if err := fakeWithNode(120, 50e3).WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Node.js bus in Go's place", "Node.js handles 1000 agents with P95 < 50 ms? NO",
		"Rust uses < 50 % of Node.js's memory?"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	if fakeResult(12, 100e3, 300e3, false).nodeDecision != nil {
		t.Error("a decision for a Node.js bus that did not run")
	}
}
