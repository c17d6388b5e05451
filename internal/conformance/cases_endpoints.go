package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/agentlab/agentlab/internal/conformance/wsclient"
)

func endpointCases() []Case {
	return []Case{
		{Name: "health", Fresh: true, Run: testHealth},
		{Name: "not-found", Run: testNotFound},
		{Name: "ws/no-subprotocol-no-compression", Run: testHandshake},
		{Name: "ws/control-ping", Run: testControlPing},
	}
}

type health struct {
	Status      string `json:"status"`
	Connections *int   `json:"connections"`
}

func getHealth(t T, bus Bus) health {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), frameWait)
	defer cancel()
	status, ctype, body, err := get(ctx, bus.HTTPURL()+"/health")
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		t.Fatalf("/health: HTTP %d, want 200", status)
	}
	if !strings.HasPrefix(ctype, "application/json") {
		t.Errorf("/health Content-Type %q, want application/json", ctype)
	}
	var h health
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatalf("/health body %q: %v", body, err)
	}
	if h.Status != "ok" || h.Connections == nil {
		t.Fatalf(`/health body %q, want {"status":"ok","connections":N}`, body)
	}
	return h
}

func get(ctx context.Context, url string) (status int, ctype string, body []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header.Get("Content-Type"), body, err
}

// waitHealth polls /health until it reports n connections (a closed socket is noticed asynchronously).
func waitHealth(t T, bus Bus, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		h := getHealth(t, bus)
		if *h.Connections == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health reports %d connections, want %d", *h.Connections, n)
		}
		time.Sleep(20 * time.Millisecond) // polling external state
	}
}

func testHealth(t T, e *Env) {
	if h := getHealth(t, e.Bus); *h.Connections != 0 {
		t.Fatalf("fresh bus: /health connections = %d, want 0", *h.Connections)
	}
	a := e.Dial(t)
	e.Agent(t, "h")
	e.Dial(t)
	waitHealth(t, e.Bus, 3)
	ctx, cancel := context.WithTimeout(t.Context(), frameWait)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, e.Bus, 2)
}

func testNotFound(t T, e *Env) {
	ctx, cancel := context.WithTimeout(t.Context(), frameWait)
	defer cancel()
	for _, p := range []string{"/", "/nope", "/healthz", "/health/x", "/metricsx", "/ws/x", "/WS"} {
		status, _, _, err := get(ctx, e.Bus.HTTPURL()+p)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusNotFound {
			t.Errorf("GET %s: HTTP %d, want 404", p, status)
		}
	}
}

// testHandshake offers permessage-deflate and a subprotocol: the bus must accept the upgrade without either.
func testHandshake(t T, e *Env) {
	a := e.DialWith(t, &wsclient.Dialer{EnableCompression: true, Subprotocols: []string{"agentlab.v1"}})
	if v := a.Response.Header.Get("Sec-WebSocket-Extensions"); v != "" {
		t.Errorf("bus negotiated extension %q, protocol says no compression extension", v)
	}
	if v := a.Response.Header.Get("Sec-WebSocket-Protocol"); v != "" {
		t.Errorf("bus selected subprotocol %q, protocol says none", v)
	}
	write(t, a, wsclient.PingFrame(seqPtr(1), nil))
	if f := next(t, a); f.Type != "pong" {
		t.Fatalf("after handshake: want pong, got %s", f)
	}
}

func testControlPing(t T, e *Env) {
	a := e.Agent(t, "cping")
	ctx, cancel := context.WithTimeout(t.Context(), frameWait)
	defer cancel()
	if err := a.ControlPing(ctx, "are-you-there"); err != nil {
		t.Fatalf("RFC 6455 ping: %v", err)
	}
}
