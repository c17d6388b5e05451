package gobus

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDirectCarriesFieldsByteForByte(t *testing.T) {
	s := newTestServer(t, Options{})
	a := s.testConn(t).register("agent-7")
	b := s.testConn(t).register("agent-9")

	// Odd spacing, key order and number spelling inside payload must survive untouched.
	a.in(`{"seq":41,"type":"send","to":"agent-9","ts":1732556000123456789,"payload":{ "text" : "hi", "n": 1.50e3 },"extra":[1,{"x":null}]}`)
	got := b.out()
	want := `{"type":"msg","mode":"direct","from":"agent-7","to":"agent-9","seq":41,"ts":1732556000123456789,"payload":{ "text" : "hi", "n": 1.50e3 }}`
	if len(got) != 1 || got[0] != want {
		t.Fatalf("delivered %q\nwant        %q", got, want)
	}
	a.none()

	// Absent seq, ts and payload stay absent.
	a.in(`{"type":"send","to":"agent-9"}`)
	if got := b.out(); len(got) != 1 || got[0] != `{"type":"msg","mode":"direct","from":"agent-7","to":"agent-9"}` {
		t.Fatalf("delivered %q", got)
	}

	// Sending to oneself is delivered.
	a.in(`{"type":"send","to":"agent-7","payload":null}`)
	if m := a.one(); m["from"] != "agent-7" || m["to"] != "agent-7" {
		t.Fatalf("self send: %v", m)
	}
}

func TestEscapedIDsAreDecoded(t *testing.T) {
	s := newTestServer(t, Options{})
	a := s.testConn(t)
	a.in(`{"type":"register","id":"a\u0062\"c"}`)
	if m := a.one(); m["id"] != `ab"c` {
		t.Fatalf("registered %v", m)
	}
	b := s.testConn(t).register("bob")
	b.in(`{"type":"send","to":"ab\"c","payload":1}`)
	if m := a.one(); m["to"] != `ab"c` || m["from"] != "bob" {
		t.Fatalf("delivered %v", m)
	}
	a.in(`{"type":"send","to":"\u0062ob"}`)
	if m := b.one(); m["to"] != "bob" || m["from"] != `ab"c` {
		t.Fatalf("delivered %v", m)
	}
}

func TestBroadcastReachesEveryoneButSender(t *testing.T) {
	s := newTestServer(t, Options{})
	a := s.testConn(t).register("a")
	a.in(`{"type":"broadcast","payload":"alone"}`)
	a.none() // nobody else: not an error

	others := []*testConn{s.testConn(t).register("b"), s.testConn(t).register("c"), s.testConn(t).register("d")}
	unregistered := s.testConn(t)
	a.in(`{"type":"broadcast","seq":42,"ts":7,"payload":"status?"}`)
	for _, o := range others {
		got := o.out()
		want := `{"type":"msg","mode":"broadcast","from":"a","seq":42,"ts":7,"payload":"status?"}`
		if len(got) != 1 || got[0] != want {
			t.Fatalf("got %q want %q", got, want)
		}
	}
	a.none()
	unregistered.none()
	if v := metric(t, s, "bus_deliveries_total", "mode", "broadcast"); v != 3 {
		t.Errorf("deliveries{broadcast} = %v, want 3", v)
	}
}

func TestGroupRoundRobin(t *testing.T) {
	s := newTestServer(t, Options{})
	members := []*testConn{
		s.testConn(t).register("m0", "coders"),
		s.testConn(t).register("m1", "planners", "coders"),
		s.testConn(t).register("m2", "coders", "coders"), // a repeated group is one membership
	}
	outsider := s.testConn(t).register("out")

	// k·n messages from a non-member: each member gets exactly k, in registration order.
	const k = 4
	for i := range k * len(members) {
		outsider.in(fmt.Sprintf(`{"type":"group","group":"coders","seq":%d}`, i))
		for j, m := range members {
			got := m.out()
			if j != i%len(members) {
				if len(got) != 0 {
					t.Fatalf("message %d: member %d got %q", i, j, got)
				}
				continue
			}
			want := fmt.Sprintf(`{"type":"msg","mode":"group","from":"out","group":"coders","to":"m%d","seq":%d}`, j, i)
			if len(got) != 1 || got[0] != want {
				t.Fatalf("message %d: got %q want %q", i, got, want)
			}
		}
	}

	// A member sending to its own group is skipped: cursor is at m0, m0 sends → m1, then m2, then m1 again.
	for _, want := range []int{1, 2, 1} {
		members[0].in(`{"type":"group","group":"coders"}`)
		if m := members[want].one(); m["to"] != fmt.Sprintf("m%d", want) {
			t.Fatalf("got %v, want m%d", m, want)
		}
	}
	members[0].none()

	// The only member of a group cannot send to it; an unknown group is the same error.
	members[1].in(`{"type":"group","group":"planners","seq":3}`)
	members[1].wantError("unknown_group", 3)
	outsider.in(`{"type":"group","group":"nobody"}`)
	outsider.wantError("unknown_group", -1)
}

func TestGroupCursorSurvivesLeave(t *testing.T) {
	s := newTestServer(t, Options{})
	m := []*testConn{
		s.testConn(t).register("m0", "g"),
		s.testConn(t).register("m1", "g"),
		s.testConn(t).register("m2", "g"),
	}
	out := s.testConn(t).register("out")
	out.in(`{"type":"group","group":"g"}`) // → m0, cursor at m1
	m[0].one()
	// m0 leaves: the cursor must still point at m1.
	s.unregister(m[0].c)
	out.in(`{"type":"group","group":"g"}`)
	if got := m[1].one(); got["to"] != "m1" {
		t.Fatalf("got %v", got)
	}
	s.unregister(m[1].c)
	s.unregister(m[2].c)
	out.in(`{"type":"group","group":"g"}`)
	out.wantError("unknown_group", -1)
	if len(s.hub.groups) != 0 {
		t.Errorf("empty group not released: %v", s.hub.groups)
	}
}

func TestRegisterRules(t *testing.T) {
	s := newTestServer(t, Options{})
	a := s.testConn(t).register("agent-7", "g")
	a.in(`{"type":"register","id":"other","seq":1}`)
	a.wantError("already_registered", 1)

	// First wins: the newcomer stays connected and unregistered, and may take another id.
	b := s.testConn(t)
	b.in(`{"type":"register","id":"agent-7","seq":2}`)
	b.wantError("duplicate_id", 2)
	b.in(`{"type":"send","to":"agent-7"}`)
	b.wantError("not_registered", -1)
	b.register("agent-8")
	b.in(`{"type":"send","to":"agent-7","payload":1}`)
	if m := a.one(); m["from"] != "agent-8" {
		t.Fatalf("delivered %v", m)
	}

	// Closing releases the id and memberships at once.
	s.unregister(a.c)
	b.in(`{"type":"send","to":"agent-7","seq":9}`)
	m := b.wantError("unknown_target", 9)
	if m["message"] != `no agent with id "agent-7"` {
		t.Errorf("message = %q", m["message"])
	}
	c := s.testConn(t).register("agent-7")
	b.in(`{"type":"send","to":"agent-7"}`)
	c.one()

	// Ids and group names: non-empty, at most 128 bytes.
	for _, frame := range []string{
		`{"type":"register"}`,
		`{"type":"register","id":""}`,
		`{"type":"register","id":7}`,
		`{"type":"register","id":"` + strings.Repeat("x", 129) + `"}`,
		`{"type":"register","id":"ok","groups":"g"}`,
		`{"type":"register","id":"ok","groups":[""]}`,
		`{"type":"register","id":"ok","groups":[1]}`,
		`{"type":"register","id":"ok","groups":["` + strings.Repeat("é", 65) + `"]}`,
	} {
		d := s.testConn(t)
		d.in(frame)
		d.wantError("malformed", -1)
	}
	d := s.testConn(t)
	d.register(strings.Repeat("é", 64), strings.Repeat("g", 128)) // exactly 128 bytes each
	if v := metric(t, s, "bus_registered_agents", "", ""); v != 3 {
		t.Errorf("registered agents = %v, want 3", v)
	}
}

func TestErrorsAndPing(t *testing.T) {
	s := newTestServer(t, Options{})
	a := s.testConn(t)

	// Ping works before registering; seq and ts are echoed, payload is not.
	a.in(`{"type":"ping","seq":5,"ts":1732556000123456789,"payload":[1]}`)
	if got := a.out(); len(got) != 1 || got[0] != `{"type":"pong","seq":5,"ts":1732556000123456789}` {
		t.Fatalf("pong %q", got)
	}
	a.in(`{"type":"ping"}`)
	if got := a.out(); len(got) != 1 || got[0] != `{"type":"pong"}` {
		t.Fatalf("pong %q", got)
	}

	for _, tc := range []struct {
		frame, code string
		seq         int
	}{
		{`{"type":"send","to":"x","seq":1}`, "not_registered", 1},
		{`{"type":"broadcast","seq":2}`, "not_registered", 2},
		{`{"type":"group","group":"g","seq":3}`, "not_registered", 3},
		{`not json`, "malformed", -1},
		{`[1,2]`, "malformed", -1},
		{`"string"`, "malformed", -1},
		{``, "malformed", -1},
		{`{"type":"ping"} {}`, "malformed", -1},
		{`{"type":"ping",}`, "malformed", -1},
		{`{"type":"ping","seq":4`, "malformed", -1},
		{`{"seq":4}`, "malformed", 4},
		{`{"type":"bogus","seq":4}`, "malformed", 4},
		{`{"type":7,"seq":4}`, "malformed", 4},
		{`{"type":"Ping","seq":4}`, "malformed", 4},
		{`{"type":"ping","seq":-1}`, "malformed", -1},
		{`{"type":"ping","seq":1.5}`, "malformed", -1},
		{`{"type":"ping","seq":"1"}`, "malformed", -1},
		{`{"type":"ping","seq":18446744073709551616}`, "malformed", -1},
		{`{"type":"ping","seq":6,"ts":"now"}`, "malformed", 6},
		{`{"type":"ping","seq":6,"ts":9223372036854775808}`, "malformed", 6},
		{"{\"type\":\"ping\",\"seq\":8,\"x\":\"\xff\"}", "malformed", -1}, // invalid UTF-8
		{"{\"type\":\"ping\",\"x\":\"a\x01\"}", "malformed", -1},          // raw control character
	} {
		a.in(tc.frame)
		a.wantError(tc.code, tc.seq)
	}
	// ts may be negative and seq may be the largest u64.
	a.in(`{"type":"ping","seq":18446744073709551615,"ts":-9223372036854775808}`)
	if m := a.one(); m["type"] != "pong" {
		t.Fatalf("got %v", m)
	}

	a.register("a")
	for _, tc := range []struct{ frame, code string }{
		{`{"type":"send","seq":1}`, "malformed"},
		{`{"type":"send","to":1,"seq":1}`, "malformed"},
		{`{"type":"group","seq":1}`, "malformed"},
		{`{"type":"group","group":["g"],"seq":1}`, "malformed"},
		{`{"type":"send","to":"nobody","seq":1}`, "unknown_target"},
	} {
		a.in(tc.frame)
		a.wantError(tc.code, 1)
	}
	for code, want := range map[string]float64{
		"malformed": 23, "not_registered": 3, "unknown_target": 1, "too_large": 0, "duplicate_id": 0,
	} {
		if v := metric(t, s, "bus_errors_total", "code", code); v != want {
			t.Errorf("errors{%s} = %v, want %v", code, v, want)
		}
	}
	if v := metric(t, s, "bus_messages_in_total", "type", "invalid"); v != 23 {
		t.Errorf("messages_in{invalid} = %v, want 23", v)
	}
	if v := metric(t, s, "bus_messages_in_total", "type", "ping"); v != 3 {
		t.Errorf("messages_in{ping} = %v, want 3", v)
	}
	if v := metric(t, s, "bus_messages_out_total", "type", "error"); v != 27 {
		t.Errorf("messages_out{error} = %v, want 27", v)
	}
}

func TestPerPairFIFOAndSlowConsumer(t *testing.T) {
	const queueLen = 8
	s := newTestServer(t, Options{QueueLen: queueLen})
	a := s.testConn(t).register("a", "g")
	b := s.testConn(t).register("b", "g")
	c := s.testConn(t).register("c")

	// b never drains: the first queueLen messages stay, in order; later ones are dropped and counted, and c is
	// not affected.
	for i := range 3 * queueLen {
		switch i % 3 {
		case 0:
			a.in(fmt.Sprintf(`{"type":"send","to":"b","seq":%d}`, i))
		case 1:
			a.in(fmt.Sprintf(`{"type":"broadcast","seq":%d}`, i))
		case 2:
			a.in(fmt.Sprintf(`{"type":"group","group":"g","seq":%d}`, i))
		}
	}
	got := b.out()
	if len(got) != queueLen {
		t.Fatalf("b got %d frames, want %d", len(got), queueLen)
	}
	for i, f := range got {
		if m := decode(t, f); m["seq"] != float64(i) {
			t.Fatalf("frame %d has seq %v: order broken", i, m["seq"])
		}
	}
	if n := len(c.out()); n != queueLen {
		t.Errorf("c got %d broadcasts, want %d", n, queueLen)
	}
	if v := metric(t, s, "bus_dropped_total", "reason", "slow_consumer"); v != 2*queueLen {
		t.Errorf("dropped = %v, want %d", v, 2*queueLen)
	}
	// msg frames: 8 queued to b, 8 to c; the 16 dropped are not counted as out.
	if v := metric(t, s, "bus_messages_out_total", "type", "msg"); v != 2*queueLen {
		t.Errorf("messages_out{msg} = %v, want %d", v, 2*queueLen)
	}
	a.none()

	// Once drained, b receives again.
	a.in(`{"type":"send","to":"b","seq":99}`)
	if m := b.one(); m["seq"] != float64(99) {
		t.Fatalf("got %v", m)
	}
}

func TestQueueCompaction(t *testing.T) {
	// A queue that never fully drains must not grow past its live frames.
	s := newTestServer(t, Options{QueueLen: 4})
	a := s.testConn(t).register("a")
	b := s.testConn(t).register("b")
	a.in(`{"type":"send","to":"b","seq":0}`)
	for i := 1; i < 10000; i++ {
		a.in(fmt.Sprintf(`{"type":"send","to":"b","seq":%d}`, i))
		b.c.mu.Lock()
		f := b.c.pop()
		b.c.mu.Unlock()
		if m := decode(t, string(f.b)); m["seq"] != float64(i-1) {
			t.Fatalf("popped seq %v, want %d", m["seq"], i-1)
		}
		s.frames.release(f)
	}
	if c := cap(b.c.queue); c > 16 {
		t.Errorf("queue capacity grew to %d", c)
	}
}

func TestNewRejectsNegativeOptions(t *testing.T) {
	if _, err := New(Options{QueueLen: -1}); err == nil {
		t.Fatal("New accepted QueueLen -1")
	}
	s := newTestServer(t, Options{})
	o := s.Options()
	if o.Addr != ":8080" || o.MaxMessageBytes != 65536 || o.QueueLen != 256 || o.MaxConnections != 20000 ||
		o.Transport != TransportGorilla {
		t.Errorf("defaults: %+v", o)
	}
	if _, err := New(Options{Transport: "epoll"}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("New with transport \"epoll\": %v, want ErrInvalidOptions", err)
	}
	if s, err := New(Options{Transport: TransportNetpoll}); err != nil || s.Options().Transport != TransportNetpoll {
		t.Errorf("New with transport netpoll: %v", err)
	}
}
