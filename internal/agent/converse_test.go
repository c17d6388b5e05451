package agent

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agentlab/agentlab/gobus"
)

// procBus is an in-process gobus this test can stop and replace (a "restart"), unlike gobustest's.
type procBus struct {
	addr   string
	cancel context.CancelFunc
	done   chan struct{}
}

func startProcBus(t *testing.T, addr string) *procBus {
	t.Helper()
	srv, err := gobus.New(gobus.Options{CloseGrace: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ { // the old bus's port may take a moment to be free again
		ln, err = net.Listen("tcp", addr)
		if err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &procBus{addr: ln.Addr().String(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		_ = srv.Serve(ctx, ln)
	}()
	return b
}

func (b *procBus) stop() {
	b.cancel()
	<-b.done
}

// syncBuf is an agent's stdout.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) reports(t *testing.T, phase string) []Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, err := DecodeReports(s.b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var out []Report
	for _, r := range rs {
		if r.Phase == phase {
			out = append(out, r)
		}
	}
	return out
}

type fleet struct {
	t      *testing.T
	url    atomic.Value // string
	ids    []string
	outs   []*syncBuf
	ctl    *Controller
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startFleet starts n conversing agents. retransmit is their resend interval: clean runs use a long one, so a
// scheduler stall under -race on a loaded CI machine is not resent (and then counted as a duplicate).
func startFleet(t *testing.T, busAddr string, n int, retransmit time.Duration) *fleet {
	f := &fleet{t: t}
	f.url.Store("ws://" + busAddr + "/ws")
	url := func(context.Context) (string, error) { return f.url.Load().(string), nil }
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	fast := LinkConfig{URL: url, ID: "lab", Ping: 100 * time.Millisecond, Dead: 400 * time.Millisecond,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond}
	f.ctl = NewController(fast)
	f.wg.Add(1)
	go func() { defer f.wg.Done(); _ = f.ctl.Link.Run(ctx) }()
	for i := 0; i < n; i++ {
		id, out := fmt.Sprintf("a%d", i), &syncBuf{}
		f.ids, f.outs = append(f.ids, id), append(f.outs, out)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			err := Converse(ctx, ConverseConfig{URL: url, ID: id, Lab: "lab", KiB: 1, Retransmit: retransmit,
				Ping: 100 * time.Millisecond, Dead: 400 * time.Millisecond, Out: out})
			if err != nil {
				t.Errorf("converse %s: %v", id, err)
			}
		}()
	}
	return f
}

func (f *fleet) stop() {
	f.cancel()
	f.wg.Wait()
}

// collect asks for phase's reports and waits for one from every agent.
func (f *fleet) collect(ctx context.Context, phase string) []Report {
	f.t.Helper()
	if err := f.ctl.Report(phase); err != nil {
		f.t.Fatal(err)
	}
	for {
		var all []Report
		for _, o := range f.outs {
			if rs := o.reports(f.t, phase); len(rs) > 0 {
				all = append(all, rs[len(rs)-1])
			}
		}
		if len(all) == len(f.outs) {
			return all
		}
		select {
		case <-ctx.Done():
			f.t.Fatalf("reports of %s: %d of %d", phase, len(all), len(f.outs))
		case <-time.After(10 * time.Millisecond): // reports land in buffers, which have no signal
		}
	}
}

func sum(rs []Report, f func(Counts) int64) int64 {
	var n int64
	for _, r := range rs {
		n += f(r.Counts)
	}
	return n
}

func TestConversePatterns(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	bus := startProcBus(t, "127.0.0.1:0")
	defer bus.stop()
	f := startFleet(t, bus.addr, 6, 3*time.Second)
	defer f.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.ctl.WaitReady(ctx, f.ids); err != nil {
		t.Fatal(err)
	}
	const turns = 30
	for _, p := range []struct {
		name  string
		convs []ConvSpec
	}{
		{"direct", []ConvSpec{{ID: "d0", Members: []string{"a0", "a1"}, Turns: turns}}},
		{"group", []ConvSpec{{ID: "g0", Members: []string{"a0", "a1", "a2"}, Turns: turns}}},
		{"parallel", []ConvSpec{{ID: "p0", Members: []string{"a0", "a1"}, Turns: turns},
			{ID: "p1", Members: []string{"a2", "a3"}, Turns: turns}, {ID: "p2", Members: []string{"a4", "a5", "a0"}, Turns: turns}}},
	} {
		if err := f.ctl.Go(p.name, p.convs, 1); err != nil {
			t.Fatal(err)
		}
		if err := f.ctl.WaitDone(ctx, p.name, len(p.convs)); err != nil {
			t.Fatalf("%s: %v (%d done)", p.name, err, f.ctl.Done(p.name))
		}
		checkCleanPhase(t, p.name, f.collect(ctx, p.name), turns, len(p.convs))
	}
}

// checkCleanPhase checks the reports of a clean phase of convs conversations of turns turns each: every turn said
// and received once, no context error, a latency for every turn but each conversation's first.
func checkCleanPhase(t *testing.T, name string, rs []Report, turns, convs int) {
	t.Helper()
	want := int64(turns * convs)
	got := func(g func(Counts) int64) int64 { return sum(rs, g) }
	if n := got(func(c Counts) int64 { return c.Received }); n != want {
		t.Errorf("%s: received %d turns, want %d", name, n, want)
	}
	if n := got(func(c Counts) int64 { return c.Sent }); n != want {
		t.Errorf("%s: said %d turns, want %d", name, n, want)
	}
	if bad := got(func(c Counts) int64 { return c.Duplicate + c.Reorder + c.Gap + c.Corrupt + c.Lost }); bad != 0 {
		t.Errorf("%s: %d context errors", name, bad)
	}
	var lat int64
	for _, r := range rs {
		lat += r.Latency.Count()
	}
	if lat != want-int64(convs) { // turn 0 has no previous turn to time from
		t.Errorf("%s: %d latencies, want %d", name, lat, want-int64(convs))
	}
}

// The bus goes away and comes back on another address: agents dial again with backoff, register again and the
// conversations go on from where they were, every turn accounted for.
func TestConverseReconnects(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	bus := startProcBus(t, "127.0.0.1:0")
	defer func() { bus.stop() }()
	f := startFleet(t, bus.addr, 4, 100*time.Millisecond)
	defer f.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.ctl.WaitReady(ctx, f.ids); err != nil {
		t.Fatal(err)
	}
	convs := []ConvSpec{{ID: "c0", Members: []string{"a0", "a1"}}, {ID: "c1", Members: []string{"a1", "a2", "a3"}}}
	if err := f.ctl.Go("faults", convs, 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the conversations run before the fault
	bus.stop()
	bus = startProcBus(t, "127.0.0.1:0")
	f.url.Store("ws://" + bus.addr + "/ws")
	restarted := time.Now()
	for _, id := range f.ids {
		if err := f.ctl.wait(ctx, func() bool { return f.ctl.ready[id] >= 2 }); err != nil {
			t.Fatalf("%s did not register again: %v", id, err)
		}
	}
	time.Sleep(300 * time.Millisecond) // run after the fault
	if err := f.ctl.Stop("faults"); err != nil {
		t.Fatal(err)
	}
	rs := f.collect(ctx, "faults")
	if n := sum(rs, func(c Counts) int64 { return c.Corrupt + c.Reorder + c.Gap + c.Lost }); n != 0 {
		t.Errorf("%d context errors", n)
	}
	if n := sum(rs, func(c Counts) int64 { return c.Link.Reconnects }); n < int64(len(f.ids)) {
		t.Errorf("%d reconnects, want ≥ %d", n, len(f.ids))
	}
	// Every conversation moved after the restart.
	last := map[string]int64{}
	for _, r := range rs {
		for _, c := range r.Convs {
			last[c.ID] = max(last[c.ID], c.LastNS)
		}
	}
	for _, c := range convs {
		if last[c.ID] < restarted.UnixNano() {
			t.Errorf("conversation %s did not move after the restart", c.ID)
		}
	}
}

// An agent killed mid-conversation and replaced by a fresh one with the same id: its peer's resend reaches the
// replacement, which joins the conversation from the trail and says the very same turn (content depends only on
// the context), so the chain goes on with no context error.
func TestConverseReplacement(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	bus := startProcBus(t, "127.0.0.1:0")
	defer bus.stop()
	f := startFleet(t, bus.addr, 1, 100*time.Millisecond) // a0 in the fleet; a1 run by hand below
	defer f.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := func(context.Context) (string, error) { return "ws://" + bus.addr + "/ws", nil }
	runA1 := func(out *syncBuf) (stop func()) {
		actx, acancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = Converse(actx, ConverseConfig{URL: url, ID: "a1", Lab: "lab", KiB: 1, Retransmit: 100 * time.Millisecond,
				Ping: 100 * time.Millisecond, Dead: 400 * time.Millisecond, Out: out})
		}()
		return func() { acancel(); <-done }
	}
	first := &syncBuf{}
	stopFirst := runA1(first)
	if err := f.ctl.WaitReady(ctx, []string{"a0", "a1"}); err != nil {
		t.Fatal(err)
	}
	if err := f.ctl.Go("kill", []ConvSpec{{ID: "k0", Members: []string{"a0", "a1"}}}, 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the conversation runs before the kill
	stopFirst()
	second := &syncBuf{}
	stopSecond := runA1(second)
	defer stopSecond()
	if err := f.ctl.wait(ctx, func() bool { return f.ctl.ready["a1"] >= 2 }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the conversation runs after the replacement
	if err := f.ctl.Stop("kill"); err != nil {
		t.Fatal(err)
	}
	f.outs = append(f.outs, second)
	rs := f.collect(ctx, "kill")
	var newRecv, a0Bad int64
	for _, r := range rs {
		if r.Agent == "a1" {
			newRecv = r.Counts.Received
		} else {
			a0Bad = r.Counts.Corrupt + r.Counts.Gap + r.Counts.Reorder + r.Counts.Lost
		}
	}
	if newRecv == 0 {
		t.Error("the replacement took no turn")
	}
	if a0Bad != 0 {
		t.Errorf("a0 saw %d context errors across the replacement", a0Bad)
	}
}

// A stalled bus releases many copies of one turn at once: the receiver repeats its reply once, not once per copy
// (else every turn would be multiplied along the ring for ever).
func TestConverseThrottlesRepeatedReplies(t *testing.T) {
	c := &converser{cfg: ConverseConfig{ID: "a1", Retransmit: time.Second, Now: time.Now, Out: &syncBuf{}}, kib: 1,
		convs: map[string]*convState{}, counts: Counts{BusErrors: map[string]int64{}}}
	c.link = NewBusLink(LinkConfig{URL: func(context.Context) (string, error) { return "", nil }, ID: "a1"})
	c.phase = "p"
	sc := []Turn{NextTurn(Genesis("c"), "c", 0, "a0", "hi")}
	m := Msg{K: KindTurn, Phase: "p", Conv: "c", Members: []string{"a0", "a1"}, Trail: sc}
	c.turn("a0", m)
	for i := 0; i < 5; i++ {
		m.Try = i + 1
		c.turn("a0", m)
	}
	if c.counts.Received != 1 || c.counts.Duplicate != 5 || c.counts.RepliesRepeat != 0 {
		t.Fatalf("copies just after the reply: %+v", c.counts)
	}
	c.convs["c"].pend.lastNS -= time.Second.Nanoseconds() // the reply went out a while ago
	for i := 0; i < 5; i++ {
		c.turn("a0", m)
	}
	if c.counts.RepliesRepeat != 1 {
		t.Fatalf("%d repeated replies for 5 copies, want 1", c.counts.RepliesRepeat)
	}
}
