package conformance

import (
	"github.com/agentlab/agentlab/internal/conformance/wsclient"
)

func groupCases() []Case {
	return []Case{
		{Name: "group/round-robin-fair", Run: testRoundRobin},
		{Name: "group/sender-skipped", Run: testGroupSenderSkipped},
		{Name: "group/unknown_group", Run: testUnknownGroup},
	}
}

// testRoundRobin: k·n messages from a non-member to a group of n give each member exactly k, taken in
// registration order (message i+1 goes to the member registered after the one that got message i, cyclically).
func testRoundRobin(t T, e *Env) {
	const n, k = 3, 4
	group := e.ID("coders")
	members := make([]*Agent, n)
	for i := range members {
		members[i] = e.Agent(t, "member", group)
	}
	outsider := e.Agent(t, "outsider")
	const ts int64 = 1732556000123456789
	for i := 1; i <= k*n; i++ {
		write(t, outsider, wsclient.GroupFrame(group, wsclient.Msg{Seq: seqPtr(uint64(i)), TS: wsclient.TS(ts),
			Payload: rawJSON(`{"task":1}`)}))
	}
	quiet(t, outsider) // all routed, no error
	owner := map[uint64]int{}
	for mi, m := range members {
		got := barrier(t, m)
		if len(got) != k {
			t.Errorf("member %d (%s) got %d of %d group messages, want exactly %d", mi, m.ID, len(got), k*n, k)
		}
		for _, f := range got {
			s, _ := f.Seq()
			checkMsg(t, f, "group", outsider.ID, m.ID, group, u64(s), i64(ts), rawJSON(`{"task":1}`))
			owner[s] = mi
		}
	}
	if t.Failed() {
		return
	}
	for s := uint64(2); s <= k*n; s++ {
		if want := (owner[s-1] + 1) % n; owner[s] != want {
			t.Errorf("message %d went to member %d after message %d went to member %d; round-robin in registration order wants member %d",
				s, owner[s], s-1, owner[s-1], want)
		}
	}
}

// barrier returns the frames queued for a before its pong.
func barrier(t T, a *Agent) []wsclient.Frame {
	t.Helper()
	ctx, cancel := contextFor(t)
	defer cancel()
	fs, err := a.Barrier(ctx)
	if err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	return fs
}

// testGroupSenderSkipped: a member sending to its own group never receives its message; every other member is
// reached. (Exact shares are not asserted: the document's cursor rule leaves open whether skipping the sender
// gives its successor a double turn.)
func testGroupSenderSkipped(t T, e *Env) {
	group := e.ID("team")
	first := e.Agent(t, "first", group)
	sender := e.Agent(t, "sender", group)
	last := e.Agent(t, "last", group)
	const total = 6
	for i := 1; i <= total; i++ {
		write(t, sender, wsclient.GroupFrame(group, wsclient.Msg{Seq: seqPtr(uint64(i))}))
	}
	quiet(t, sender)
	got := 0
	for _, m := range []*Agent{first, last} {
		fs := barrier(t, m)
		if len(fs) == 0 {
			t.Errorf("member %s got none of %d group messages", m.ID, total)
		}
		for _, f := range fs {
			s, _ := f.Seq()
			checkMsg(t, f, "group", sender.ID, m.ID, group, u64(s), nil, nil)
		}
		got += len(fs)
	}
	if got != total {
		t.Errorf("members got %d group messages in total, want %d", got, total)
	}
}

func testUnknownGroup(t T, e *Env) {
	group := e.ID("mine")
	a := e.Agent(t, "grouper", group)
	write(t, a, wsclient.GroupFrame(e.ID("nogroup"), wsclient.Msg{Seq: seqPtr(43)}))
	expectError(t, a, "unknown_group", withSeq(43))
	// A group whose only member is the sender is unknown to it.
	write(t, a, wsclient.GroupFrame(group, wsclient.Msg{Seq: seqPtr(44)}))
	expectError(t, a, "unknown_group", withSeq(44))
	// Another member makes it routable.
	b := e.Agent(t, "joiner", group)
	write(t, a, wsclient.GroupFrame(group, wsclient.Msg{Seq: seqPtr(45)}))
	checkMsg(t, next(t, b), "group", a.ID, b.ID, group, u64(45), nil, nil)
}
