package gobus

import (
	"encoding/json"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// newTestServer returns a Server with opts; it needs no shutdown when only in-process connections are used.
func newTestServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// testConn is an in-process connection: frames handed to handleFrame as if read from the socket, the queue
// drained by the test instead of a writer goroutine.
type testConn struct {
	t testing.TB
	s *Server
	c *conn
}

func (s *Server) testConn(t testing.TB) *testConn {
	return &testConn{t: t, s: s, c: &conn{s: s}}
}

func (tc *testConn) in(frame string) { tc.s.handleFrame(tc.c, []byte(frame)) }

// out drains the connection's queue and returns the frames, oldest first.
func (tc *testConn) out() []string {
	tc.c.mu.Lock()
	defer tc.c.mu.Unlock()
	var out []string
	for f := tc.c.pop(); f != nil; f = tc.c.pop() {
		out = append(out, string(f.b))
		tc.s.frames.release(f)
	}
	return out
}

// one drains the queue, expects exactly one frame and returns it decoded.
func (tc *testConn) one() map[string]any {
	tc.t.Helper()
	out := tc.out()
	if len(out) != 1 {
		tc.t.Fatalf("want 1 frame, got %d: %q", len(out), out)
	}
	return decode(tc.t, out[0])
}

// none expects an empty queue.
func (tc *testConn) none() {
	tc.t.Helper()
	if out := tc.out(); len(out) != 0 {
		tc.t.Fatalf("want no frame, got %q", out)
	}
}

// register registers the connection and consumes the reply.
func (tc *testConn) register(id string, groups ...string) *testConn {
	tc.t.Helper()
	g, _ := json.Marshal(groups)
	idj, _ := json.Marshal(id)
	tc.in(`{"type":"register","id":` + string(idj) + `,"groups":` + string(g) + `}`)
	if m := tc.one(); m["type"] != "registered" || m["id"] != id {
		tc.t.Fatalf("register %q: got %v", id, m)
	}
	return tc
}

// wantError expects exactly one queued error frame with code and, when seq >= 0, that seq.
func (tc *testConn) wantError(code string, seq int) map[string]any {
	tc.t.Helper()
	m := tc.one()
	if m["type"] != "error" || m["code"] != code {
		tc.t.Fatalf("want error %s, got %v", code, m)
	}
	if msg, _ := m["message"].(string); msg == "" {
		tc.t.Errorf("error %s has no message: %v", code, m)
	}
	gotSeq, has := m["seq"]
	switch {
	case seq < 0 && has:
		tc.t.Errorf("error %s: want no seq, got %v", code, gotSeq)
	case seq >= 0 && gotSeq != float64(seq):
		tc.t.Errorf("error %s: want seq %d, got %v", code, seq, gotSeq)
	}
	return m
}

func decode(t testing.TB, frame string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(frame), &m); err != nil {
		t.Fatalf("frame %q is not JSON: %v", frame, err)
	}
	return m
}

// metric returns the value of the series name{label=value} ("" label for an unlabelled series); it fails the test
// when the series does not exist.
func metric(t testing.TB, s *Server, name, label, value string) float64 {
	t.Helper()
	mfs, err := s.m.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && !hasLabel(m, label, value) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	t.Fatalf("no series %s{%s=%q}", name, label, value)
	return 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}
