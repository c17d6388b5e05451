package dockertest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/testcontainers/testcontainers-go"

	"github.com/agentlab/agentlab/internal/containers"
	"github.com/agentlab/agentlab/internal/labtest"
)

// TestImageServesAndStopsCleanly runs the gobus image, hardened as the lab runs it: /health answers, a client registers and pings, and
// SIGTERM makes the bus send close 1001 and exit 0 within 5 s.
func TestImageServesAndStopsCleanly(t *testing.T) {
	r := labtest.Docker(t)
	ref := r.Image(t, "gobus")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	c, err := containers.RunBus(ctx, ref,
		testcontainers.WithLabels(r.Labels("bus")),
		containers.WithQueueLen(64))
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatal(err)
	}
	base, err := c.PortEndpoint(ctx, containers.BusPort, "")
	if err != nil {
		t.Fatal(err)
	}

	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.DialContext(ctx, "ws://"+base+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, f := range []string{`{"type":"register","id":"a"}`, `{"type":"ping","seq":1}`} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"registered", "pong"} {
		var m map[string]any
		if err := ws.ReadJSON(&m); err != nil || m["type"] != want {
			t.Fatalf("got %v (%v), want %s", m, err, want)
		}
	}

	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := cl.Get("http://" + base + "/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var h struct {
		Status      string
		Connections int
	}
	if err := json.Unmarshal(body, &h); err != nil || h.Status != "ok" || h.Connections != 1 {
		t.Fatalf("/health: %s (%v)", body, err)
	}
	resp, err = cl.Get("http://" + base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "\nprocess_resident_memory_bytes ") ||
		!strings.Contains(string(body), `bus_messages_in_total{type="ping"} 1`) {
		t.Errorf("/metrics lacks expected series:\n%s", body)
	}

	// SIGTERM (docker stop) with a 10 s kill timeout: the bus must exit by itself, with 0, well before.
	closed := make(chan int, 1)
	go func() {
		_, _, err := ws.ReadMessage()
		if ce, ok := err.(*websocket.CloseError); ok {
			closed <- ce.Code
		}
		close(closed)
	}()
	timeout := 10 * time.Second
	start := time.Now()
	if err := c.Stop(ctx, &timeout); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("docker stop took %v", d)
	}
	st, err := c.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 0 {
		t.Errorf("exit code %d", st.ExitCode)
	}
	if code := <-closed; code != websocket.CloseGoingAway {
		t.Errorf("close code %d, want 1001", code)
	}
}
