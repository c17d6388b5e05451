package conformance

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/agentlab/agentlab/internal/conformance/wsclient"
)

func limitCases() []Case {
	return []Case{
		{Name: "slow-consumer/drop-newest", Fresh: true, Options: Options{Flags: []string{"--queue-len=8"}},
			Run: testSlowConsumer},
		{Name: "max-connections/503", Fresh: true, Options: Options{Flags: []string{"--max-connections=5"}},
			Run: testMaxConnections},
		{Name: "robustness/abrupt-disconnects", Fresh: true, Run: testAbruptDisconnects},
		{Name: "flags/env-and-flag-precedence", Fresh: true, Options: Options{
			// The bus must listen on :8080 (the port the targets expose), so --addr winning over BUS_ADDR is
			// checked by the bus answering at all.
			Flags: []string{"--max-connections=3", "--addr=:8080"},
			Env:   map[string]string{"BUS_MAX_CONNECTIONS": "2", "BUS_MAX_MESSAGE_BYTES": "1000", "BUS_ADDR": ":9999"},
		}, Run: testFlagsEnv},
	}
}

// dropped is the slow-consumer drop counter's series key.
const dropped = `bus_dropped_total{reason="slow_consumer"}`

// testSlowConsumer: on a bus with --queue-len=8, a sender floods a connection that stops reading. Once the socket
// buffers and the queue are full, deliveries to it are dropped and counted, the sender is not told, and a third
// agent is served normally. When the slow one reads again it finds the oldest frames (seq 1, 2, … — the newest
// ones were the ones dropped), in order, and exactly sent − dropped of them.
func testSlowConsumer(t T, e *Env) {
	sender, slow, fast := e.Agent(t, "sender"), e.Agent(t, "slow"), e.Agent(t, "fast")
	// slow reads nothing from here on. Large frames fill the kernel's socket buffers (and any proxy's) quickly.
	payload := rawJSON(`"` + strings.Repeat("s", 32*1024) + `"`)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var sent uint64
	for {
		for range 32 {
			sent++
			if err := sender.Send(ctx, slow.ID, wsclient.Msg{Seq: seqPtr(sent), Payload: payload}); err != nil {
				t.Fatalf("flood after %d messages: %v", sent, err)
			}
		}
		// The sender's barrier makes the bus route everything sent so far before the scrape.
		if fs := barrier(t, sender); len(fs) > 0 {
			t.Fatalf("sender must not be told about drops; got %s", fs[0])
		}
		if scrape(t, e.Bus).Values[dropped] > 0 {
			break
		}
		if sent >= 20000 {
			t.Fatalf("no slow_consumer drop after %d messages of 32 KiB to a connection that does not read", sent)
		}
	}
	// Others are served while slow is stuck. One message in flight at a time: with a queue of 8 a burst to fast
	// could itself be dropped, which is correct but would muddle the count below.
	for i := uint64(1); i <= 20; i++ {
		if err := sender.Send(ctx, fast.ID, wsclient.Msg{Seq: seqPtr(i)}); err != nil {
			t.Fatal(err)
		}
		checkMsg(t, next(t, fast), "direct", sender.ID, fast.ID, "", u64(i), nil, nil)
	}
	quiet(t, fast)
	quiet(t, sender)

	drops := uint64(scrape(t, e.Bus).Values[dropped])
	t.Logf("sent %d messages of 32 KiB to the stalled agent, %d dropped", sent, drops)
	if drops > sent {
		t.Fatalf("dropped %d > sent %d", drops, sent)
	}
	// Drain: exactly sent − dropped frames, strictly increasing, starting at seq 1.
	var last uint64
	for i := uint64(0); i < sent-drops; i++ {
		f := next(t, slow)
		s, ok := f.Seq()
		if f.Type != "msg" || !ok || s <= last || (i == 0 && s != 1) {
			t.Fatalf("stalled agent's frame %d (last seq %d): %s", i, last, f)
		}
		last = s
	}
	// Nothing else was queued: a fresh message is the next frame.
	marker := sent + 1
	if err := sender.Send(ctx, slow.ID, wsclient.Msg{Seq: &marker}); err != nil {
		t.Fatal(err)
	}
	f := next(t, slow)
	if s, _ := f.Seq(); f.Type != "msg" || s != marker {
		t.Fatalf("after %d frames (sent %d − dropped %d), want the marker seq %d, got %s", sent-drops, sent,
			drops, marker, f)
	}
	// Queued frames are counted as msg out, drops are not.
	waitMetrics(t, e.Bus, map[string]float64{
		series("bus_messages_out_total", "type", "msg"): float64(sent - drops + 20 + 1),
		dropped: float64(drops),
	})
}

// testMaxConnections: with --max-connections=5 the 6th upgrade gets HTTP 503 before the handshake, counted; a
// slot freed by a close can be taken again.
func testMaxConnections(t T, e *Env) {
	conns := make([]*Agent, 5)
	for i := range conns {
		conns[i] = e.Dial(t)
	}
	expect503(t, e)
	waitMetrics(t, e.Bus, map[string]float64{
		series("bus_rejected_connections_total", "reason", "max_connections"): 1,
		"bus_connections_accepted_total":                                      5,
		"bus_connections":                                                     5,
	})
	ctx, cancel := contextFor(t)
	defer cancel()
	if err := conns[0].Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The slot is released when the bus notices the close: retry until then.
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := wsclient.Dial(ctx, e.Bus.WSURL())
		if err == nil {
			t.Cleanup(func() { _ = c.Abort() })
			break
		}
		var he *wsclient.HandshakeError
		if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("dial after freeing a slot: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // polling the bus's state
	}
	expect503(t, e)
}

func expect503(t T, e *Env) {
	t.Helper()
	ctx, cancel := contextFor(t)
	defer cancel()
	c, err := wsclient.Dial(ctx, e.Bus.WSURL())
	if err == nil {
		_ = c.Abort()
		t.Fatal("upgrade beyond max_connections succeeded, want HTTP 503")
	}
	var he *wsclient.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade beyond max_connections: want HTTP 503, got %v", err)
	}
}

// testFlagsEnv: BUS_MAX_MESSAGE_BYTES=1000 sets the size limit; --max-connections=3 wins over BUS_MAX_CONNECTIONS=2
// and --addr=:8080 over BUS_ADDR=:9999.
func testFlagsEnv(t T, e *Env) {
	a := e.Agent(t, "limits")
	e.Dial(t)
	e.Dial(t)
	expect503(t, e)
	raw, payload := sendOfSize(a.ID, 1, 1000)
	write(t, a, raw)
	checkMsg(t, next(t, a), "direct", a.ID, a.ID, "", u64(1), nil, payload)
	raw, _ = sendOfSize(a.ID, 2, 1001)
	writeOversize(t, a, raw, 1009)
}

// testAbruptDisconnects: agents that vanish without a close frame — some idle, some mid-frame, some while deliveries
// to them are queued — must cost the bus nothing afterwards: the connection and agent gauges fall back, and their
// ids and group places are free again at once. (In-process, gobus's goleak test also proves no goroutine stays.)
func testAbruptDisconnects(t T, e *Env) {
	const n = 30
	group := e.ID("g")
	sender := e.Agent(t, "sender")
	ids := make([]string, n)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for i := range n {
		a := e.Agent(t, "gone", group)
		ids[i] = a.ID
		switch i % 3 {
		case 0: // idle
		case 1: // half a frame: a text frame header announcing 100 bytes, then 10 of them
			if _, err := a.NetConn().Write(append([]byte{0x81, 0x80 | 100, 1, 2, 3, 4}, make([]byte, 10)...)); err != nil {
				t.Fatal(err)
			}
		case 2: // deliveries queued for it
			for s := range 20 {
				if err := sender.Send(ctx, a.ID, wsclient.Msg{Seq: seqPtr(uint64(s)), Payload: rawJSON(`"x"`)}); err != nil {
					t.Fatal(err)
				}
			}
			// The bus has routed them (queued to a) before a vanishes.
			if fs := barrier(t, sender); len(fs) > 0 {
				t.Fatalf("sending to a live agent drew %s", fs[0])
			}
		}
		if err := a.Abort(); err != nil {
			t.Fatal(err)
		}
	}
	waitMetrics(t, e.Bus, map[string]float64{"bus_connections": 1, "bus_registered_agents": 1})
	// Every id and group place is free again: the same ids register, and the group reaches each of them.
	for _, id := range ids {
		a := e.Dial(t)
		a.ID = id
		if err := a.Register(ctx, id, group); err != nil {
			t.Fatalf("id %s not released after an abrupt disconnect: %v", id, err)
		}
	}
	if err := sender.Group(ctx, group, wsclient.Msg{Seq: seqPtr(1)}); err != nil {
		t.Fatal(err)
	}
	if fs := barrier(t, sender); len(fs) > 0 {
		t.Fatalf("group send after the disconnects drew %s", fs[0])
	}
}
