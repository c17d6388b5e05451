package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startNATS runs nats-server in-process on loopback (client port and monitoring port); it returns the client
// address.
func startNATS(t *testing.T) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, HTTPHost: "127.0.0.1", HTTPPort: -1, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s.ClientURL()[len("nats://"):]
}

// The generator drives NATS with the same schedule and counts as a bus: every message delivered once (broadcast:
// to everyone but the sender), no errors.
func TestRunDeliversEverythingNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("timing-based (skipped with -short)")
	}
	addr := startNATS(t)
	for _, tc := range []struct{ pattern, model string }{
		{PatternTargeted, ModelOpen}, {PatternBroadcast, ModelOpen}, {PatternRoundRobin, ModelOpen},
		{PatternTargeted, ModelClosed}, {PatternRoundRobin, ModelClosed},
	} {
		t.Run(tc.pattern+"-"+tc.model, func(t *testing.T) {
			cfg := smallConfig(addr)
			cfg.URL = "nats://" + addr
			cfg.Pattern, cfg.Model = tc.pattern, tc.model
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := Run(ctx, cfg, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if res.Sessions.Registered != 20 || res.Sessions.ActiveAtEnd != 20 {
				t.Fatalf("sessions %+v", res.Sessions)
			}
			want := res.Sent
			if tc.pattern == PatternBroadcast {
				want = res.Sent * 19
			}
			if res.Sent == 0 || res.Received != want || res.Latency.Count() != res.Received {
				t.Fatalf("sent %d, received %d (want %d), %d latencies; notes %v", res.Sent, res.Received, want,
					res.Latency.Count(), res.Notes)
			}
			if tc.model == ModelOpen && res.Sent != 160 {
				t.Errorf("open model sent %d in the window, want 160", res.Sent)
			}
			if res.ReadErrors != 0 || res.WriteErrors != 0 || res.Malformed != 0 {
				t.Errorf("read %d, write %d, malformed %d", res.ReadErrors, res.WriteErrors, res.Malformed)
			}
		})
	}
}

// The multi-generator barrier reads NATS's connections from /varz.
func TestNATSConnections(t *testing.T) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, HTTPHost: "127.0.0.1", HTTPPort: -1, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	defer s.Shutdown()
	u, _ := url.Parse(s.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialNATS(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.closeGracefully()
	varz := "http://" + s.MonitorAddr().String() + "/varz"
	if n, err := registeredAgents(ctx, http.DefaultClient, varz); err != nil || n != 1 {
		t.Fatalf("registeredAgents = %d, %v; want 1", n, err)
	}
}

func TestTemplateRetype(t *testing.T) {
	for _, p := range Patterns {
		tm, err := newTemplate(p, 8)
		if err != nil {
			t.Fatal(err)
		}
		n, seqOff := len(tm.b), tm.seqOff
		tm.retype()
		tm.set([]byte("g00-a000001"), EncodeSeq(0, 3, 7), tsMin+5)
		m, err := scanFrame(tm.b)
		if err != nil || string(m.typ) != "msg" || len(tm.b) != n || tm.seqOff != seqOff || m.ts != tsMin+5 {
			t.Errorf("%s: %q: %+v %v", p, tm.b, m, err)
		}
	}
}
