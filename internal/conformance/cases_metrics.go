package conformance

import (
	"context"
	"strings"
	"sync"

	"github.com/agentlab/agentlab/internal/conformance/wsclient"
)

func metricsCases() []Case {
	return []Case{
		{Name: "metrics/names-types-start-at-zero", Fresh: true, Run: testMetricsStart},
		{Name: "metrics/counters-move", Fresh: true, Run: testMetricsMove},
	}
}

func testMetricsStart(t T, e *Env) {
	m := scrape(t, e.Bus)
	if !strings.HasPrefix(m.ContentType, "text/plain") || !strings.Contains(m.ContentType, "version=0.0.4") {
		t.Errorf("/metrics Content-Type %q, want text/plain; version=0.0.4", m.ContentType)
	}
	for _, d := range docMetrics() {
		if got := m.Types[d.name]; got != d.typ {
			t.Errorf("# TYPE %s is %q, want %q", d.name, got, d.typ)
		}
	}
	for _, s := range docSeries() {
		v, ok := m.Values[s]
		switch {
		case !ok:
			t.Errorf("series %s is not exported from start", s)
		case v != 0:
			t.Errorf("series %s = %g on a fresh bus, want 0", s, v)
		}
	}
	if v := m.Values["process_resident_memory_bytes"]; v <= 0 {
		t.Errorf("process_resident_memory_bytes = %g, want > 0", v)
	}
}

// meter counts the bytes of the text frames an exchange puts on the wire, in each direction.
type meter struct {
	mu      sync.Mutex
	in, out int
}

func (m *meter) write(t T, a *Agent, raw []byte) {
	t.Helper()
	write(t, a, raw)
	m.mu.Lock()
	m.in += len(raw)
	m.mu.Unlock()
}

func (m *meter) next(t T, a *Agent) wsclient.Frame {
	t.Helper()
	f := next(t, a)
	m.mu.Lock()
	m.out += len(f.Raw)
	m.mu.Unlock()
	return f
}

func (m *meter) expect(t T, a *Agent, typ, code string) {
	t.Helper()
	if f := m.next(t, a); f.Type != typ || f.Code != code {
		t.Fatalf("%s: want %s %s, got %s", a, typ, code, f)
	}
}

// testMetricsMove runs one scripted exchange on a fresh bus and checks every counter it moves, exactly. Every
// frame answered with malformed counts as "invalid" in bus_messages_in_total (a known type with a bad field too);
// a message that draws another error counts under its own type.
func testMetricsMove(t T, e *Env) {
	var mt meter
	a, b := e.Dial(t), e.Dial(t)
	g := e.ID("g")
	a.ID, b.ID = e.ID("a"), e.ID("b")
	mt.write(t, a, wsclient.RegisterFrame(a.ID, g))
	mt.expect(t, a, "registered", "")
	mt.write(t, b, wsclient.RegisterFrame(b.ID, g))
	mt.expect(t, b, "registered", "")
	mt.write(t, a, wsclient.PingFrame(seqPtr(1), nil))
	mt.expect(t, a, "pong", "")
	mt.write(t, a, wsclient.SendFrame(b.ID, wsclient.Msg{Seq: seqPtr(2), Payload: rawJSON(`{"text":"hi"}`)}))
	mt.expect(t, b, "msg", "")
	mt.write(t, a, wsclient.BroadcastFrame(wsclient.Msg{Seq: seqPtr(3), Payload: rawJSON(`"status?"`)}))
	mt.expect(t, b, "msg", "")
	mt.write(t, a, wsclient.GroupFrame(g, wsclient.Msg{Seq: seqPtr(4)}))
	mt.expect(t, b, "msg", "")
	mt.write(t, a, wsclient.SendFrame(e.ID("nobody"), wsclient.Msg{Seq: seqPtr(5)}))
	mt.expect(t, a, "error", "unknown_target")
	mt.write(t, a, []byte("garbage"))
	mt.expect(t, a, "error", "malformed")
	mt.write(t, a, []byte(`{"type":"send","seq":8}`)) // no "to"
	mt.expect(t, a, "error", "malformed")
	mt.write(t, a, wsclient.RegisterFrame(e.ID("again")))
	mt.expect(t, a, "error", "already_registered")
	mt.write(t, a, wsclient.GroupFrame(e.ID("nogroup"), wsclient.Msg{Seq: seqPtr(6)}))
	mt.expect(t, a, "error", "unknown_group")

	c := e.Dial(t)
	mt.write(t, c, wsclient.SendFrame(b.ID, wsclient.Msg{Seq: seqPtr(7)}))
	mt.expect(t, c, "error", "not_registered")
	mt.write(t, c, wsclient.RegisterFrame(a.ID))
	mt.expect(t, c, "error", "duplicate_id")
	ctx, cancel := context.WithTimeout(t.Context(), frameWait)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}

	in := func(typ string) string { return series("bus_messages_in_total", "type", typ) }
	out := func(typ string) string { return series("bus_messages_out_total", "type", typ) }
	del := func(mode string) string { return series("bus_deliveries_total", "mode", mode) }
	errs := func(code string) string { return series("bus_errors_total", "code", code) }
	want := map[string]float64{
		"bus_connections":                2,
		"bus_connections_accepted_total": 3,
		"bus_registered_agents":          2,
		series("bus_rejected_connections_total", "reason", "max_connections"): 0,
		in("register"): 4, in("send"): 3, in("broadcast"): 1, in("group"): 2, in("ping"): 1, in("invalid"): 2,
		out("msg"): 3, out("registered"): 2, out("pong"): 1, out("error"): 7,
		del("direct"): 1, del("broadcast"): 1, del("group"): 1,
		errs("malformed"): 2, errs("not_registered"): 1, errs("already_registered"): 1, errs("duplicate_id"): 1,
		errs("unknown_target"): 1, errs("unknown_group"): 1, errs("too_large"): 0,
		dropped:               0,
		"bus_bytes_in_total":  float64(mt.in),
		"bus_bytes_out_total": float64(mt.out),
	}
	waitMetrics(t, e.Bus, want)

	// The size limit is counted as too_large.
	d := e.Dial(t)
	raw, _ := sendOfSize(b.ID, 8, DefaultMaxMessageBytes+1)
	writeOversize(t, d, raw, 1009)
	waitMetrics(t, e.Bus, map[string]float64{
		errs("too_large"):                1,
		"bus_connections":                2,
		"bus_connections_accepted_total": 4,
	})
}
