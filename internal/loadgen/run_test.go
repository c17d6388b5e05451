package loadgen

import (
	"context"
	"io"
	"net"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/agentlab/agentlab/gobus"
	"github.com/agentlab/agentlab/gobus/gobustest"
	"github.com/agentlab/agentlab/internal/prom"
)

// startBus runs the Go bus in-process on loopback: the generator's end-to-end behaviour without Docker.
func startBus(t *testing.T) string { return gobustest.Start(t, gobus.Options{}).Addr }

func smallConfig(addr string) Config {
	c := DefaultConfig()
	c.URL = "ws://" + addr + "/ws"
	c.Agents = 20
	c.GroupSize = 5
	c.Rate = 400
	c.Window = 2
	// The drain ends as soon as everything has arrived; its deadline only bounds a broken run, so it is generous
	// (a loaded machine under -race once took over 1 s to deliver a broadcast's 3,040 copies).
	c.Hold, c.Warmup, c.Duration, c.Drain = 50*time.Millisecond, 100*time.Millisecond, 400*time.Millisecond, 10*time.Second
	c.ConnectRate = 2000
	return c
}

func TestRunDeliversEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("timing-based (skipped with -short)")
	}
	for _, tc := range []struct{ pattern, model string }{
		{PatternTargeted, ModelOpen}, {PatternBroadcast, ModelOpen}, {PatternRoundRobin, ModelOpen},
		{PatternTargeted, ModelClosed}, {PatternRoundRobin, ModelClosed},
	} {
		t.Run(tc.pattern+"-"+tc.model, func(t *testing.T) {
			// A bus per run, as bus-load starts a container per run: the previous run's agents may still be
			// registered while the bus reads their closes, and the ids repeat.
			cfg := smallConfig(startBus(t))
			cfg.Pattern, cfg.Model = tc.pattern, tc.model
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := Run(ctx, cfg, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if res.Sessions.Registered != 20 || res.Sessions.ActiveAtEnd != 20 || res.Connecting.Count() != 20 {
				t.Fatalf("sessions %+v, %d connect times", res.Sessions, res.Connecting.Count())
			}
			want := res.Sent
			if tc.pattern == PatternBroadcast {
				want = res.Sent * 19
			}
			if res.Sent == 0 || res.Received != want || res.Latency.Count() != res.Received {
				t.Fatalf("sent %d, received %d (want %d), %d latencies; errors %v, notes %v", res.Sent, res.Received,
					want, res.Latency.Count(), res.Errors, res.Notes)
			}
			if tc.model == ModelOpen {
				// The schedule fixes the count: 400/s over the 400 ms window.
				if res.Sent != 160 {
					t.Errorf("open model sent %d in the window, want 160", res.Sent)
				}
				if res.SendLag.Count() != res.Sent {
					t.Errorf("%d send lags for %d messages", res.SendLag.Count(), res.Sent)
				}
			}
			if len(res.Errors) != 0 || res.ReadErrors != 0 || res.WriteErrors != 0 || res.Malformed != 0 {
				t.Errorf("errors %v, read %d, write %d, malformed %d", res.Errors, res.ReadErrors, res.WriteErrors, res.Malformed)
			}
			// The CPU window starts when its goroutine wakes, which a loaded machine delays: only its presence is a fact.
			if res.CPU.WallS <= 0 || res.CPU.WallS > 1 || res.CPU.AllowanceCores <= 0 {
				t.Errorf("cpu %+v", res.CPU)
			}
			mw := time.Unix(0, res.Times.MeasureEnd).Sub(time.Unix(0, res.Times.MeasureStart))
			if mw != cfg.Duration || res.Times.TrafficStart > res.Times.MeasureStart || res.Times.End < res.Times.MeasureEnd {
				t.Errorf("times %+v", res.Times)
			}
		})
	}
}

func TestRunReportsRefusedConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg := smallConfig(addr)
	cfg.Agents = 3
	res, err := Run(context.Background(), cfg, io.Discard)
	if err == nil {
		t.Fatal("no error with no bus")
	}
	if res == nil || res.Sessions.Attempted != 3 || res.Sessions.Failed != 3 || res.Sessions.Failures["dial"] != 3 ||
		res.Sessions.FirstError == "" {
		t.Fatalf("result %+v", res)
	}
}

func TestParseArgsRoundTrip(t *testing.T) {
	c := smallConfig("bus:8080")
	c.Generator, c.Generators, c.TotalAgents, c.Pattern, c.Model = 1, 2, 40, PatternBroadcast, ModelClosed
	c.CPUAllowance = 1.5
	if err := c.normalize(); err != nil {
		t.Fatal(err)
	}
	back, err := Parse(c.Args(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("Parse(Args()) = %+v\nwant %+v", back, c)
	}
	for _, bad := range [][]string{{"--agents", "1"}, {"--pattern", "fanout"}, {"--model", "open", "--rate", "0"},
		{"--url", "http://x/ws"}, {"--generator", "2", "--generators", "2"}, {"extra"}} {
		if _, err := Parse(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// Issue 15: at 10,000 agents the Go bus counted tens of thousands of unknown_target errors for agents that were
// all registered and connected. The cause was the teardown, not the routing: the generator closed its connections
// at the drain deadline while the bus still held a backlog of sends, every close unregistered an agent, and the
// backlog's sends to it were then answered unknown_target — and the lab read the bus's counters after that. Small
// here: 50 agents with a 256-message window each and a 1 ms drain leave a backlog at the deadline. The bus's
// counters read at the drain end (before any connection closes) show no unknown_target and no error frame reached
// an agent; the closed model never had more in flight than its window (no slot re-opened on a timeout).
func TestClosedBacklogAtDeadlineIsNoUnknownTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("timing-based (skipped with -short)")
	}
	b := gobustest.Start(t, gobus.Options{})
	cfg := smallConfig(b.Addr)
	cfg.Model, cfg.Agents, cfg.Window, cfg.TokenTimeout, cfg.Drain = ModelClosed, 50, 256, 20*time.Millisecond, time.Millisecond
	// One message per send, not the whole window at once: every returned slot is refilled at once, so the bus is
	// never idle and still holds a backlog when the window ends.
	cfg.Batch = 1
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.BusAtDrainEnd == nil {
		t.Fatalf("no bus counters at the drain end: %s", res.BusScrapeErr)
	}
	unknown := prom.Key("bus_errors_total", "code", "unknown_target")
	if n := res.BusAtDrainEnd[unknown]; n != 0 || len(res.Errors) != 0 {
		t.Errorf("unknown_target at the drain end %v, error frames %v: a registered agent was refused", n, res.Errors)
	}
	if res.DrainEnd != DrainDeadline || res.Outstanding == 0 {
		t.Fatalf("drain %s with %d outstanding: no backlog at the deadline, the test shows nothing", res.DrainEnd, res.Outstanding)
	}
	if max := int64(cfg.Agents * cfg.Window); res.Outstanding > max {
		t.Errorf("%d outstanding > the %d slots: the closed model sent past its window", res.Outstanding, max)
	}
	if res.PresumedLost == 0 {
		t.Errorf("no message presumed lost with a %v token timeout under a backlog", cfg.TokenTimeout)
	}
	// What the old lab read after the teardown: the backlog's sends to agents that had left (logged, not asserted:
	// how much of the backlog the bus still held when each agent left is timing).
	var m prom.Metrics
	for {
		if m, err = prom.Scrape(ctx, http.DefaultClient, "http://"+b.Addr+"/metrics"); err != nil {
			t.Fatal(err)
		}
		if m.Get("bus_registered_agents") == 0 {
			break // every agent has left
		}
		select {
		case <-ctx.Done():
			t.Fatal("agents still registered after the generator closed")
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Logf("outstanding at the deadline %d; unknown_target after the agents left: %v; dropped %v", res.Outstanding,
		m.Values[unknown], m.Sum("bus_dropped_total"))
}

// A bounded total in flight keeps the closed model closed: never more than InFlight outstanding, everything
// delivered in a full drain.
func TestClosedInFlightBound(t *testing.T) {
	if testing.Short() {
		t.Skip("timing-based (skipped with -short)")
	}
	addr := startBus(t)
	cfg := smallConfig(addr)
	cfg.Model, cfg.Agents, cfg.Window, cfg.InFlight = ModelClosed, 50, 16, 20
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.DrainEnd != DrainComplete || res.Outstanding != 0 || res.Sent == 0 || res.Received != res.Sent {
		t.Fatalf("drain %s, outstanding %d, sent %d, received %d", res.DrainEnd, res.Outstanding, res.Sent, res.Received)
	}
	if res.BusAtDrainEnd == nil || res.BusAtDrainEnd[prom.Key("bus_registered_agents")] != 50 {
		t.Errorf("bus at drain end: %v (%s)", res.BusAtDrainEnd[prom.Key("bus_registered_agents")], res.BusScrapeErr)
	}
}

// The several-generator barrier reads bus_registered_agents through the lab's one Prometheus parser.
func TestRegisteredAgents(t *testing.T) {
	addr := startBus(t)
	n, err := registeredAgents(context.Background(), http.DefaultClient, "http://"+addr+"/metrics")
	if err != nil || n != 0 {
		t.Fatalf("registered agents %d, %v", n, err)
	}
	if _, err := registeredAgents(context.Background(), http.DefaultClient, "http://"+addr+"/health"); err == nil {
		t.Error("a page without the metric was accepted")
	}
}

// A run that cannot start (a bus at its connection limit: only one of two agents gets in) says why and leaves
// nothing behind: the agent that did connect is closed, its reader and the rx loop are gone.
func TestRunTooFewAgentsCleansUp(t *testing.T) {
	b := gobustest.Start(t, gobus.Options{MaxConnections: 1})
	cfg := smallConfig(b.Addr)
	cfg.Agents = 2
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "only 1 of 2 agents registered") {
		t.Fatalf("err %v, want only 1 of 2 agents registered", err)
	}
	if res.Sessions.Failures["http_503"] != 1 {
		t.Errorf("failures %v, want one http_503", res.Sessions.Failures)
	}
	// The bus sees the agent leave once the generator closed it. (No keep-alive: an idle scrape connection would
	// keep goroutines of its own.)
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		m, err := prom.Scrape(ctx, cl, "http://"+b.Addr+"/metrics")
		if err != nil {
			t.Fatal(err)
		}
		left := generatorGoroutines()
		if m.Get("bus_registered_agents") == 0 && left == "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("after the run: %v agents registered; the generator's goroutines left:\n%s",
				m.Get("bus_registered_agents"), left)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// generatorGoroutines returns the stacks of goroutines running the generator's code (a method of one of its
// types: the rx loop, a reader, a sender), or "".
func generatorGoroutines() string {
	buf := make([]byte, 1<<20)
	var out []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "internal/loadgen.(*") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
