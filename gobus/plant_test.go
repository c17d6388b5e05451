package gobus

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The planted drop is exact: every Nth msg delivery, whatever the routing mode, and only msg frames.
func TestPlantDropEveryIsExact(t *testing.T) {
	s := newTestServer(t, Options{PlantDropEvery: 4})
	a := s.testConn(t).register("a")
	b := s.testConn(t).register("b")
	c := s.testConn(t).register("c")
	for i := range 100 {
		a.in(fmt.Sprintf(`{"type":"send","to":"b","seq":%d}`, i))
	}
	got := b.out()
	if len(got) != 75 {
		t.Fatalf("b got %d of 100 direct messages, want 75 (every 4th dropped)", len(got))
	}
	a.in(`{"type":"ping","seq":1}`) // not a delivery: never dropped
	if m := a.one(); m["type"] != "pong" {
		t.Fatalf("ping answered %v", m)
	}
	for i := range 6 { // 12 broadcast deliveries: deliveries 101..112, of which 104, 108, 112 are dropped
		a.in(fmt.Sprintf(`{"type":"broadcast","seq":%d}`, i))
	}
	if n := len(b.out()) + len(c.out()); n != 9 {
		t.Fatalf("broadcast: %d of 12 delivered, want 9", n)
	}
	if v := metric(t, s, "bus_dropped_total", "reason", "planted"); v != 28 {
		t.Errorf(`bus_dropped_total{reason="planted"} = %v, want 28`, v)
	}
	if v := metric(t, s, "bus_deliveries_total", "mode", "direct") + metric(t, s, "bus_deliveries_total", "mode", "broadcast"); v != 84 {
		t.Errorf("deliveries = %v, want 84 (planted drops are not deliveries)", v)
	}
	if v := metric(t, s, "bus_dropped_total", "reason", "slow_consumer"); v != 0 {
		t.Errorf("slow_consumer drops = %v, want 0", v)
	}
}

// The planted delay holds every msg delivery at least PlantDelay, keeps their order, and lets other frames pass.
func TestPlantDelayHoldsEveryMessage(t *testing.T) {
	const delay = 40 * time.Millisecond
	s := newTestServer(t, Options{PlantDelay: delay})
	defer s.Shutdown(context.Background())
	a := s.testConn(t).register("a")
	b := s.testConn(t).register("b")
	sent := time.Now()
	for i := range 20 {
		a.in(fmt.Sprintf(`{"type":"send","to":"b","seq":%d}`, i))
	}
	a.in(`{"type":"ping"}`)
	if m := a.one(); m["type"] != "pong" { // a pong is not delayed
		t.Fatalf("ping answered %v", m)
	}
	var got []string
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < 20 && time.Now().Before(deadline) {
		out := b.out()
		if len(out) > 0 && time.Since(sent) < delay {
			t.Fatalf("%d messages delivered %v after sending, before the planted %v", len(out), time.Since(sent), delay)
		}
		got = append(got, out...)
		time.Sleep(time.Millisecond) // polling the in-process queue: it has no notification to wait on
	}
	if len(got) != 20 {
		t.Fatalf("delivered %d of 20 within 5 s", len(got))
	}
	for i, f := range got {
		if m := decode(t, f); m["seq"] != float64(i) {
			t.Fatalf("message %d has seq %v: order not kept", i, m["seq"])
		}
	}
}

// Shutdown releases what the delay line still holds and ends its goroutine (goleak checks the package).
func TestPlantDelayShutdown(t *testing.T) {
	s := newTestServer(t, Options{PlantDelay: time.Hour})
	a := s.testConn(t).register("a")
	b := s.testConn(t).register("b")
	a.in(`{"type":"send","to":"b"}`)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.none()
}

func TestPlantOptionsValidated(t *testing.T) {
	for _, o := range []Options{{PlantDelay: -1}, {PlantDropEvery: -1}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted a negative planted fault", o)
		}
	}
}
