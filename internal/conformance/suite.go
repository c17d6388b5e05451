// Package conformance checks a running bus against every rule of docs/protocol.md. It is written from the
// document alone, as a third party writing a client would; the Go and the Rust bus must both pass it.
//
// A Target starts buses (a container, or a gobus.Server in this process); Run starts one shared bus for the
// cases that tolerate other traffic, and a fresh bus with the case's flags for the cases that count things from
// zero or change limits. Cases run one after another: a broadcast reaches every agent on the bus, so parallel
// cases would see each other's traffic.
package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentlab/agentlab/internal/conformance/wsclient"
)

// Bus is one running bus under test.
type Bus interface {
	// WSURL is the WebSocket endpoint, ws://host:port/ws.
	WSURL() string
	// HTTPURL is the base URL, http://host:port (no trailing slash).
	HTTPURL() string
}

// Stopper is implemented by buses the suite can shut down as an operator would (SIGTERM for a container).
type Stopper interface {
	// Stop asks the bus to shut down and waits until it has exited (or ctx ends).
	Stop(ctx context.Context) (StopResult, error)
}

// StopResult is how a stopped bus ended.
type StopResult struct {
	ExitCode int
	// Elapsed is from the stop request to the process's exit.
	Elapsed time.Duration
}

// Options are a bus's command line and environment, e.g. Flags: {"--max-connections=5"}.
type Options struct {
	Flags []string
	Env   map[string]string
}

// Target starts buses of one implementation. Start fails or skips t itself; the bus is removed when t ends.
type Target struct {
	Name  string
	Start func(t *testing.T, o Options) Bus
}

// T is what a case uses of its test: *testing.T has it, and so does Check's runner, which runs the same cases
// against an image outside `go test` (lab conformance).
type T interface {
	Helper()
	Cleanup(func())
	Context() context.Context
	Error(args ...any)
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Failed() bool
	Log(args ...any)
	Logf(format string, args ...any)
	Skip(args ...any)
	Skipf(format string, args ...any)
}

// Case is one rule of the protocol. A case with Fresh set gets its own bus started with Options; the others share
// one bus with default options and must not depend on what other cases left on it (ids and groups are unique per
// case, counts are deltas or exact only on fresh buses).
type Case struct {
	Name    string
	Fresh   bool
	Options Options
	Run     func(t T, e *Env)
}

// Env is what a case gets: its bus and helpers that name agents uniquely and close them when the case ends.
type Env struct {
	Bus Bus
	n   *atomic.Uint64
}

// frameWait bounds one expected frame, so a missing frame fails fast and says which.
const frameWait = 5 * time.Second

// Run runs every case against target, each as a subtest named after the rule.
func Run(t *testing.T, target Target) {
	n := new(atomic.Uint64)
	cases := Cases()
	var shared Bus
	if slices.ContainsFunc(cases, func(c Case) bool { return !c.Fresh }) {
		shared = target.Start(t, Options{})
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			bus := shared
			if c.Fresh {
				bus = target.Start(t, c.Options)
			}
			c.Run(t, &Env{Bus: bus, n: n})
		})
	}
}

// Cases is the table of rules, in document order.
func Cases() []Case {
	var all []Case
	for _, part := range [][]Case{
		endpointCases(), registerCases(), deliveryCases(), groupCases(), errorCases(), sizeCases(),
		orderingCases(), limitCases(), metricsCases(), shutdownCases(),
	} {
		all = append(all, part...)
	}
	return all
}

// ID returns an agent id unique on this bus, readable in failure messages.
func (e *Env) ID(name string) string { return fmt.Sprintf("%s-%d", name, e.n.Add(1)) }

// Agent is a connection and the id it registered (empty when unregistered).
type Agent struct {
	*wsclient.Conn
	ID string
}

func (a *Agent) String() string {
	if a.ID == "" {
		return "unregistered conn"
	}
	return a.ID
}

// Dial opens a connection that is aborted when the case ends.
func (e *Env) Dial(t T) *Agent {
	t.Helper()
	return e.DialWith(t, &wsclient.Dialer{})
}

// DialWith is Dial with a particular dialer.
func (e *Env) DialWith(t T, d *wsclient.Dialer) *Agent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), frameWait*2)
	defer cancel()
	c, err := d.Dial(ctx, e.Bus.WSURL())
	if err != nil {
		t.Fatalf("dial %s: %v", e.Bus.WSURL(), err)
	}
	t.Cleanup(func() { _ = c.Abort() })
	return &Agent{Conn: c}
}

// Agent dials and registers a fresh id built from name, member of groups.
func (e *Env) Agent(t T, name string, groups ...string) *Agent {
	t.Helper()
	a := e.Dial(t)
	e.register(t, a, e.ID(name), groups...)
	return a
}

func (e *Env) register(t T, a *Agent, id string, groups ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), frameWait)
	defer cancel()
	if err := a.Register(ctx, id, groups...); err != nil {
		t.Fatalf("register %s: %v", id, err)
	}
	a.ID = id
}

// next returns a's next frame or fails the case.
func next(t T, a *Agent) wsclient.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), frameWait)
	defer cancel()
	f, err := a.Next(ctx)
	if err != nil {
		t.Fatalf("%s: expected a frame: %v", a, err)
	}
	return f
}

func write(t T, a *Agent, raw []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), frameWait)
	defer cancel()
	if err := a.WriteText(ctx, raw); err != nil {
		t.Fatalf("%s: write %s: %v", a, clip(raw), err)
	}
}

// quiet asserts that nothing is queued for a: a ping's pong is the next frame. The bus answers a connection in
// order through one queue, so anything already queued for a would come first. Call it after the sender's own
// barrier, so the sender's messages have been routed.
func quiet(t T, a *Agent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), frameWait)
	defer cancel()
	before, err := a.Barrier(ctx)
	if err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if len(before) > 0 {
		t.Fatalf("%s: expected no frame, got %d: first %s", a, len(before), before[0])
	}
}

// seqRule says what an error frame's seq must be.
type seqRule struct {
	check, present bool
	v              uint64
}

func noSeq() seqRule           { return seqRule{check: true} }
func withSeq(v uint64) seqRule { return seqRule{check: true, present: true, v: v} }
func anySeq() seqRule          { return seqRule{} }
func seqPtr(v uint64) *uint64  { return &v }
func rawJSON(s string) []byte  { return []byte(s) }
func keysOf(f wsclient.Frame) []string {
	ks := make([]string, 0, len(f.Fields))
	for k := range f.Fields {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// expectError reads a's next frame and checks it is error code with the seq rule and a string message.
func expectError(t T, a *Agent, code string, seq seqRule) wsclient.Frame {
	t.Helper()
	f := next(t, a)
	checkError(t, a, f, code, seq)
	return f
}

func checkError(t T, a *Agent, f wsclient.Frame, code string, seq seqRule) {
	t.Helper()
	if f.Type != "error" || f.Code != code {
		t.Fatalf("%s: expected error %s, got %s", a, code, f)
	}
	var msg string
	if err := json.Unmarshal(f.Fields["message"], &msg); err != nil {
		t.Errorf("%s: error frame needs a string message: %s", a, f)
	}
	if !seq.check {
		return
	}
	got, ok := f.Seq()
	switch {
	case seq.present && !ok:
		t.Errorf("%s: error %s should echo seq %d: %s", a, code, seq.v, f)
	case seq.present && got != seq.v:
		t.Errorf("%s: error %s echoes seq %d, want %d: %s", a, code, got, seq.v, f)
	case !seq.present && f.Has("seq"):
		t.Errorf("%s: error %s carries a seq although the message had no readable one: %s", a, code, f)
	}
}

// checkKeys asserts f has exactly the top-level fields want.
func checkKeys(t T, f wsclient.Frame, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := keysOf(f); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("frame fields %v, want %v: %s", got, want, f)
	}
}

// checkMsg checks a delivered msg frame: its mode, from, to and group (empty = must be absent), and that seq, ts
// and payload are exactly the raw JSON sent (nil = must be absent).
func checkMsg(t T, f wsclient.Frame, mode, from, to, group string, seq, ts, payload []byte) {
	t.Helper()
	if f.Type != "msg" || f.Mode != mode || f.From != from {
		t.Fatalf("expected msg mode=%s from=%s, got %s", mode, from, f)
	}
	want := []string{"type", "mode", "from"}
	for _, p := range []struct {
		name string
		v    []byte
	}{
		{"to", quoteIf(to)}, {"group", quoteIf(group)}, {"seq", seq}, {"ts", ts}, {"payload", payload},
	} {
		got, ok := f.Fields[p.name]
		switch {
		case p.v == nil && ok:
			t.Errorf("field %s should be absent, got %s: %s", p.name, got, f)
		case p.v != nil && !ok:
			t.Errorf("field %s missing (want %s): %s", p.name, clip(p.v), f)
		case p.v != nil && string(got) != string(p.v):
			t.Errorf("field %s not carried byte for byte:\n got %s\nwant %s", p.name, clip(got), clip(p.v))
		}
		if p.v != nil {
			want = append(want, p.name)
		}
	}
	checkKeys(t, f, want...)
}

func quoteIf(s string) []byte {
	if s == "" {
		return nil
	}
	b, _ := json.Marshal(s)
	return b
}

func u64(n uint64) []byte { return fmt.Appendf(nil, "%d", n) }
func i64(n int64) []byte  { return fmt.Appendf(nil, "%d", n) }

func clip(b []byte) string {
	if len(b) > 200 {
		return fmt.Sprintf("%s…(%d bytes)", b[:200], len(b))
	}
	return string(b)
}

// contextFor bounds one wait of a case.
func contextFor(t T) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), frameWait)
}
