package conformance

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/agentlab/agentlab/internal/conformance/wsclient"
)

func registerCases() []Case {
	return []Case{
		{Name: "register/reply", Run: testRegisterReply},
		{Name: "register/already_registered", Run: testAlreadyRegistered},
		{Name: "register/duplicate_id", Run: testDuplicateID},
		{Name: "register/released-on-close", Run: testReleasedOnClose},
		{Name: "register/id-and-group-limits", Run: testIDLimits},
		{Name: "register/not_registered", Run: testNotRegistered},
		{Name: "ping/pong", Run: testPingPong},
	}
}

func testRegisterReply(t T, e *Env) {
	a := e.Dial(t)
	id := e.ID("reply")
	write(t, a, wsclient.RegisterFrame(id, e.ID("planners"), e.ID("coders")))
	f := next(t, a)
	if f.Type != "registered" || f.ID != id {
		t.Fatalf(`want {"type":"registered","id":%q}, got %s`, id, f)
	}
	checkKeys(t, f, "type", "id")
}

func testAlreadyRegistered(t T, e *Env) {
	a := e.Agent(t, "twice")
	write(t, a, wsclient.RegisterFrame(a.ID))
	expectError(t, a, "already_registered", anySeq())
	write(t, a, wsclient.RegisterFrame(e.ID("other")))
	expectError(t, a, "already_registered", anySeq())
	// The connection keeps its first id.
	write(t, a, wsclient.SendFrame(a.ID, wsclient.Msg{Seq: seqPtr(1)}))
	checkMsg(t, next(t, a), "direct", a.ID, a.ID, "", u64(1), nil, nil)
}

func testDuplicateID(t T, e *Env) {
	first := e.Agent(t, "dup")
	late := e.Dial(t)
	ctx, cancel := context.WithTimeout(t.Context(), frameWait)
	defer cancel()
	err := late.Register(ctx, first.ID)
	var be *wsclient.Error
	if !errors.As(err, &be) || be.Frame.Code != "duplicate_id" {
		t.Fatalf("second register of %s: want error duplicate_id, got %v", first.ID, err)
	}
	// The newcomer stays connected but unregistered.
	write(t, late, wsclient.SendFrame(first.ID, wsclient.Msg{Seq: seqPtr(2)}))
	expectError(t, late, "not_registered", withSeq(2))
	// First wins: the holder still gets its messages.
	write(t, first, wsclient.SendFrame(first.ID, wsclient.Msg{Seq: seqPtr(3)}))
	checkMsg(t, next(t, first), "direct", first.ID, first.ID, "", u64(3), nil, nil)
	// The newcomer may register again with another id.
	e.register(t, late, e.ID("dup-second"))
	write(t, late, wsclient.SendFrame(first.ID, wsclient.Msg{Seq: seqPtr(4)}))
	checkMsg(t, next(t, first), "direct", late.ID, first.ID, "", u64(4), nil, nil)
}

// testReleasedOnClose: when a connection closes, its id and group memberships are released. "At once" is observed
// from another connection, so the new register is retried until a deadline (the close travels asynchronously).
func testReleasedOnClose(t T, e *Env) {
	group := e.ID("solo")
	holder := e.Agent(t, "holder", group)
	other := e.Agent(t, "other")
	ctx, cancel := context.WithTimeout(t.Context(), frameWait)
	defer cancel()
	if err := holder.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Group membership released: the group has no member left.
	deadline := time.Now().Add(2 * time.Second)
	for seq := uint64(1); ; seq++ {
		write(t, other, wsclient.GroupFrame(group, wsclient.Msg{Seq: seqPtr(seq)}))
		// A send routed to the member that is still closing is answered with nothing, so a ping's pong
		// (Barrier) marks the end of the answer.
		frames, err := other.Barrier(ctx)
		if err != nil {
			t.Fatalf("%s: %v", other, err)
		}
		released := false
		for _, f := range frames {
			switch {
			case f.Type == "error" && f.Code == "unknown_group":
				released = true
			case f.Type == "msg" || f.Type == "error" && f.Code == "unknown_target":
			default:
				t.Fatalf("group to a closed member: unexpected %s", f)
			}
		}
		if released {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s still routes to a closed connection 2 s after it closed (answer: %v)", group, frames)
		}
	}

	// Id released: a new connection can take it.
	again := e.Dial(t)
	for {
		err := again.Register(ctx, holder.ID)
		if err == nil {
			break
		}
		var be *wsclient.Error
		if !errors.As(err, &be) || be.Frame.Code != "duplicate_id" {
			t.Fatalf("register released id %s: %v", holder.ID, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("id %s still held 2 s after its connection closed", holder.ID)
		}
		time.Sleep(10 * time.Millisecond) // polling the bus's state
	}
	again.ID = holder.ID
	write(t, other, wsclient.SendFrame(holder.ID, wsclient.Msg{Seq: seqPtr(9)}))
	checkMsg(t, next(t, again), "direct", other.ID, holder.ID, "", u64(9), nil, nil)
}

// testIDLimits: id is a non-empty string of at most 128 bytes, groups non-empty strings of at most 128 bytes. The
// document does not name the code for a violation; malformed ("a required field ... of the wrong type") is the
// only one that fits, and the connection must stay unregistered.
func testIDLimits(t T, e *Env) {
	a := e.Dial(t)
	long := strings.Repeat("é", 64) + "x" // 129 bytes
	for _, raw := range []string{
		`{"type":"register","id":"","seq":1}`,
		`{"type":"register","id":"` + long + `","seq":1}`,
		`{"type":"register","id":"ok-id-limits","groups":[""],"seq":1}`,
		`{"type":"register","id":"ok-id-limits","groups":["` + long + `"],"seq":1}`,
	} {
		write(t, a, []byte(raw))
		f := next(t, a)
		if f.Type == "registered" {
			t.Fatalf("%s: registered, want an error", clip([]byte(raw)))
		}
		checkError(t, a, f, "malformed", withSeq(1))
	}
	// Exactly 128 bytes is allowed, for the id and for a group.
	id, group := e.ID("m"), e.ID("g")
	id += strings.Repeat("m", 128-len(id))
	group += strings.Repeat("g", 128-len(group))
	e.register(t, a, id, group)
}

func testNotRegistered(t T, e *Env) {
	peer := e.Agent(t, "peer", e.ID("grp"))
	a := e.Dial(t)
	write(t, a, wsclient.SendFrame(peer.ID, wsclient.Msg{Seq: seqPtr(11)}))
	expectError(t, a, "not_registered", withSeq(11))
	write(t, a, wsclient.BroadcastFrame(wsclient.Msg{Seq: seqPtr(12)}))
	expectError(t, a, "not_registered", withSeq(12))
	write(t, a, wsclient.GroupFrame("grp", wsclient.Msg{Seq: seqPtr(13)}))
	expectError(t, a, "not_registered", withSeq(13))
	// ping is allowed before register.
	write(t, a, wsclient.PingFrame(seqPtr(14), nil))
	if f := next(t, a); f.Type != "pong" {
		t.Fatalf("ping before register: want pong, got %s", f)
	}
	quiet(t, peer)
}

func testPingPong(t T, e *Env) {
	a := e.Agent(t, "pinger")
	const ts int64 = 1732556000123456789
	write(t, a, wsclient.PingFrame(seqPtr(5), wsclient.TS(ts)))
	f := next(t, a)
	if f.Type != "pong" {
		t.Fatalf("want pong, got %s", f)
	}
	checkKeys(t, f, "type", "seq", "ts")
	if string(f.Fields["seq"]) != "5" || string(f.Fields["ts"]) != "1732556000123456789" {
		t.Errorf("pong must echo seq and ts exactly: %s", f)
	}
	write(t, a, wsclient.PingFrame(nil, nil))
	f = next(t, a)
	if f.Type != "pong" {
		t.Fatalf("want pong, got %s", f)
	}
	checkKeys(t, f, "type")
	// A large seq (beyond 2^53) and a ts without seq are echoed exactly too.
	write(t, a, []byte(`{"type":"ping","seq":9007199254740993}`))
	if f := next(t, a); string(f.Fields["seq"]) != "9007199254740993" {
		t.Errorf("pong seq not exact: %s", f)
	}
	// ts is an "integer" (not "integer ≥ 0" like seq): a negative one is valid and echoed.
	write(t, a, []byte(`{"type":"ping","ts":-5}`))
	if f := next(t, a); f.Type != "pong" || string(f.Fields["ts"]) != "-5" || f.Has("seq") {
		t.Errorf("ping with only ts -5: want pong with ts -5 and no seq, got %s", f)
	}
}
