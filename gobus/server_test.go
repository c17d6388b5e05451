package gobus

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(idleClientsEnv); spec != "" {
		idleClientsMain(spec)
	}
	goleak.VerifyTestMain(m)
}

// forEachTransport runs test once per transport, as subtests named transport=….
func forEachTransport(t *testing.T, test func(t *testing.T, transport string)) {
	for _, tr := range []string{TransportGorilla, TransportNetpoll} {
		t.Run("transport="+tr, func(t *testing.T) { test(t, tr) })
	}
}

// liveServer is a Server serving on a loopback port.
type liveServer struct {
	*Server
	addr   string
	served chan error
}

func startServer(t testing.TB, opts Options) *liveServer {
	t.Helper()
	s := newTestServer(t, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls := &liveServer{Server: s, addr: ln.Addr().String(), served: make(chan error, 1)}
	go func() { ls.served <- s.Serve(context.Background(), ln) }()
	t.Cleanup(func() { ls.stop(t) })
	return ls
}

// stop shuts the server down (a no-op the second time) and checks Serve's result.
func (ls *liveServer) stop(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ls.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-ls.served:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		ls.served <- err // for a second stop
	case <-time.After(5 * time.Second):
		t.Error("Serve did not return after Shutdown")
	}
}

func (ls *liveServer) url(path string) string { return "http://" + ls.addr + path }

// client is a test WebSocket client.
type client struct {
	t  testing.TB
	ws *websocket.Conn
}

func (ls *liveServer) dial(t testing.TB) *client {
	t.Helper()
	return ls.dialWith(t, websocket.DefaultDialer)
}

func (ls *liveServer) dialWith(t testing.TB, d *websocket.Dialer) *client {
	t.Helper()
	ws, resp, err := d.Dial("ws://"+ls.addr+"/ws", nil)
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, resp)
	}
	t.Cleanup(func() { ws.Close() })
	return &client{t: t, ws: ws}
}

func (c *client) send(frame string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next frame decoded, failing after 5 s.
func (c *client) read() map[string]any {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	mt, data, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if mt != websocket.TextMessage {
		c.t.Fatalf("bus sent message type %d", mt)
	}
	return decode(c.t, string(data))
}

// closeCode reads until the connection closes and returns the close code the bus sent.
func (c *client) closeCode() int {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if err != nil {
			c.t.Fatalf("read: %v, want a close frame", err)
		}
	}
}

func (c *client) register(id string, groups ...string) *client {
	c.t.Helper()
	g, _ := json.Marshal(groups)
	c.send(fmt.Sprintf(`{"type":"register","id":%q,"groups":%s}`, id, g))
	if m := c.read(); m["type"] != "registered" {
		c.t.Fatalf("register %s: %v", id, m)
	}
	return c
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func httpGet(t testing.TB, url string) (*http.Response, string) {
	t.Helper()
	// A fresh transport without keep-alive, so no idle connection goroutine outlives the test.
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestWebSocketEndToEnd(t *testing.T) { forEachTransport(t, testWebSocketEndToEnd) }

func testWebSocketEndToEnd(t *testing.T, tr string) {
	ls := startServer(t, Options{Transport: tr})
	a := ls.dial(t).register("a", "g")
	b := ls.dial(t).register("b", "g")

	a.send(`{"type":"send","to":"b","seq":1,"ts":2,"payload":{"k":"v"}}`)
	if m := b.read(); m["mode"] != "direct" || m["from"] != "a" || m["seq"] != float64(1) {
		t.Fatalf("got %v", m)
	}
	b.send(`{"type":"group","group":"g","seq":2}`)
	if m := a.read(); m["mode"] != "group" || m["to"] != "a" {
		t.Fatalf("got %v", m)
	}

	// Pings are answered with pongs.
	pong := make(chan string, 1)
	a.ws.SetPongHandler(func(data string) error { pong <- data; return nil })
	if err := a.ws.WriteControl(websocket.PingMessage, []byte("hello"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// The pong handler runs while a later reply is read. netpoll writes the pongs of one read after that read's
	// replies (netpoll_pong.go), so when the ping and the first JSON ping arrive in one read the pong follows the
	// first reply; it precedes the reply to a JSON ping sent after that.
	var got string
	for seq := 3; seq < 5 && got == ""; seq++ {
		a.send(fmt.Sprintf(`{"type":"ping","seq":%d}`, seq))
		if m := a.read(); m["type"] != "pong" {
			t.Fatalf("got %v", m)
		}
		select {
		case got = <-pong:
		default:
		}
	}
	if got != "hello" {
		t.Errorf("pong for the ping: payload %q (empty: no pong)", got)
	}

	// Binary frames are answered with malformed and otherwise ignored.
	if err := a.ws.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	if m := a.read(); m["type"] != "error" || m["code"] != "malformed" {
		t.Fatalf("got %v", m)
	}

	if v := metric(t, ls.Server, "bus_connections", "", ""); v != 2 {
		t.Errorf("bus_connections = %v", v)
	}
	if v := metric(t, ls.Server, "bus_messages_in_total", "type", "invalid"); v != 1 {
		t.Errorf("messages_in{invalid} = %v", v)
	}
}

func TestHTTPEndpoints(t *testing.T) { forEachTransport(t, testHTTPEndpoints) }

func testHTTPEndpoints(t *testing.T, tr string) {
	ls := startServer(t, Options{Transport: tr})
	ls.dial(t).register("a")
	ls.dial(t)

	resp, body := httpGet(t, ls.url("/health"))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("/health: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var h struct {
		Status      string `json:"status"`
		Connections int    `json:"connections"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil || h.Status != "ok" || h.Connections != 2 {
		t.Fatalf("/health body %q (%v)", body, err)
	}

	resp, body = httpGet(t, ls.url("/metrics"))
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Every series of docs/protocol.md exists from the start.
	var want []string
	for _, n := range []string{"bus_connections", "bus_connections_accepted_total", "bus_registered_agents",
		"bus_bytes_in_total", "bus_bytes_out_total", "process_resident_memory_bytes"} {
		want = append(want, n+" ")
	}
	add := func(name, label string, values ...string) {
		for _, v := range values {
			want = append(want, fmt.Sprintf("%s{%s=%q} ", name, label, v))
		}
	}
	add("bus_rejected_connections_total", "reason", "max_connections")
	add("bus_messages_in_total", "type", "register", "send", "broadcast", "group", "ping", "invalid")
	add("bus_messages_out_total", "type", "msg", "registered", "pong", "error")
	add("bus_deliveries_total", "mode", "direct", "broadcast", "group")
	add("bus_dropped_total", "reason", "slow_consumer")
	add("bus_errors_total", "code", "malformed", "not_registered", "already_registered", "duplicate_id",
		"unknown_target", "unknown_group", "too_large")
	for _, w := range want {
		if !strings.Contains(body, "\n"+w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	for _, w := range []string{"bus_connections 2\n", "bus_registered_agents 1\n", `bus_messages_in_total{type="register"} 1` + "\n"} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}

	for _, p := range []string{"/", "/nope", "/ws/x", "/healthz"} {
		if resp, _ := httpGet(t, ls.url(p)); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
}

func TestMaxConnections(t *testing.T) { forEachTransport(t, testMaxConnections) }

func testMaxConnections(t *testing.T, tr string) {
	ls := startServer(t, Options{Transport: tr, MaxConnections: 2})
	a := ls.dial(t)
	ls.dial(t)
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+ls.addr+"/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third dial: err %v, response %v; want 503", err, resp)
	}
	resp.Body.Close()
	if v := metric(t, ls.Server, "bus_rejected_connections_total", "reason", "max_connections"); v != 1 {
		t.Errorf("rejected = %v", v)
	}
	// A closed connection frees its slot.
	a.ws.Close()
	waitFor(t, "the slot to free", func() bool { return ls.open.Load() == 1 })
	ls.dial(t).register("late")
}

func TestOversizeClosesWith1009(t *testing.T) { forEachTransport(t, testOversizeClosesWith1009) }

func testOversizeClosesWith1009(t *testing.T, tr string) {
	const limit = 200
	ls := startServer(t, Options{Transport: tr, MaxMessageBytes: limit})
	other := ls.dial(t).register("other")
	a := ls.dial(t).register("a")

	// Exactly the limit is accepted.
	exact := `{"type":"ping","seq":1,"pad":"` + strings.Repeat("x", limit-32) + `"}`
	if len(exact) != limit {
		t.Fatalf("test frame is %d bytes", len(exact))
	}
	a.send(exact)
	if m := a.read(); m["type"] != "pong" {
		t.Fatalf("got %v", m)
	}
	a.send(exact[:len(exact)-2] + `x"}`)
	if code := a.closeCode(); code != websocket.CloseMessageTooBig {
		t.Fatalf("close code %d, want 1009", code)
	}

	// The limit applies to the reassembled message: small fragments of a large message also close.
	d := *websocket.DefaultDialer
	d.WriteBufferSize = 64 // gorilla fragments a message at its write buffer size
	f := ls.dialWith(t, &d)
	// The bus closes at the limit, with fragments still unread: its kernel may reset the connection before the
	// last fragments are written, so a failed write is expected — the close frame, already received, is the check.
	_ = f.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","pad":"`+strings.Repeat("y", 3*limit)+`"}`))
	if code := f.closeCode(); code != websocket.CloseMessageTooBig {
		t.Fatalf("close code %d, want 1009", code)
	}

	// Other connections are not affected, and the closed ones released their ids.
	other.send(`{"type":"send","to":"a","seq":5}`)
	waitFor(t, "a to be released", func() bool { return metric(t, ls.Server, "bus_registered_agents", "", "") == 1 })
	other.send(`{"type":"send","to":"a","seq":6}`)
	for {
		m := other.read()
		if m["seq"] == float64(6) {
			if m["code"] != "unknown_target" {
				t.Fatalf("got %v", m)
			}
			break
		}
	}
	if v := metric(t, ls.Server, "bus_errors_total", "code", "too_large"); v != 2 {
		t.Errorf("errors{too_large} = %v, want 2", v)
	}
}

func TestSlowConsumerOverTheWire(t *testing.T) { forEachTransport(t, testSlowConsumerOverTheWire) }

func testSlowConsumerOverTheWire(t *testing.T, tr string) {
	ls := startServer(t, Options{Transport: tr, QueueLen: 4})
	a := ls.dial(t).register("a")
	b := ls.dial(t).register("b") // b stops reading

	// Enough 60 KB messages to fill b's socket buffers, after which b's queue fills and deliveries drop.
	payload := `"` + strings.Repeat("p", 60_000) + `"`
	const n = 400
	for i := range n {
		a.send(fmt.Sprintf(`{"type":"send","to":"b","seq":%d,"payload":%s}`, i, payload))
	}
	a.send(`{"type":"ping","seq":999999}`)
	for {
		if m := a.read(); m["type"] == "pong" {
			break
		}
	}
	dropped := metric(t, ls.Server, "bus_dropped_total", "reason", "slow_consumer")
	if dropped == 0 {
		t.Fatal("nothing dropped")
	}
	// What b does get is in send order, with gaps where frames were dropped.
	last := -1
	got := 0
	for got+int(dropped) < n {
		m := b.read()
		seq := int(m["seq"].(float64))
		if seq <= last {
			t.Fatalf("seq %d after %d", seq, last)
		}
		last = seq
		got++
	}
	if got == 0 || int(dropped)+got != n {
		t.Errorf("delivered %d + dropped %v != %d", got, dropped, n)
	}
	if v := metric(t, ls.Server, "bus_deliveries_total", "mode", "direct"); int(v) != got {
		t.Errorf("deliveries{direct} = %v, want %d", v, got)
	}
}

func TestShutdownSends1001(t *testing.T) { forEachTransport(t, testShutdownSends1001) }

func testShutdownSends1001(t *testing.T, tr string) {
	ls := startServer(t, Options{Transport: tr})
	readers := []*client{ls.dial(t).register("a"), ls.dial(t), ls.dial(t).register("c", "g")}
	silent := ls.dial(t) // never reads, so never answers the close

	codes := make(chan int, len(readers))
	for _, c := range readers {
		go func() {
			c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				_, _, err := c.ws.ReadMessage()
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					codes <- ce.Code
					return
				}
				if err != nil {
					codes <- -1
					return
				}
			}
		}()
	}
	start := time.Now()
	ls.stop(t)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	for range readers {
		if code := <-codes; code != websocket.CloseGoingAway {
			t.Errorf("close code %d, want 1001", code)
		}
	}
	// The silent client got the close frame too, and then the socket was closed.
	silent.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := silent.ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("silent client read %v, want close 1001", err)
	}
	// New connections are refused.
	if _, _, err := websocket.DefaultDialer.Dial("ws://"+ls.addr+"/ws", nil); err == nil {
		t.Error("dial after shutdown succeeded")
	}
	if ls.open.Load() != 0 {
		t.Errorf("%d connections left", ls.open.Load())
	}
}

func TestServeContextCancelShutsDown(t *testing.T) {
	forEachTransport(t, testServeContextCancelShutsDown)
}

func testServeContextCancelShutsDown(t *testing.T, tr string) {
	s := newTestServer(t, Options{Transport: tr})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	cancel()
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("read %v, want close 1001", err)
	}
	select {
	case err := <-served:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}

func TestAbruptDisconnectsLeakNothing(t *testing.T) {
	forEachTransport(t, testAbruptDisconnectsLeakNothing)
}

func testAbruptDisconnectsLeakNothing(t *testing.T, tr string) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := newTestServer(t, Options{Transport: tr, QueueLen: 16})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls := &liveServer{Server: s, addr: ln.Addr().String(), served: make(chan error, 1)}
	go func() { ls.served <- s.Serve(context.Background(), ln) }()

	const n = 40
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = ls.dial(t).register(fmt.Sprintf("c%d", i), "g")
	}
	// Traffic in flight while the clients vanish: writers are busy or queued.
	for i, c := range clients {
		c.send(`{"type":"broadcast","payload":"` + strings.Repeat("z", 1000) + `"}`)
		c.send(fmt.Sprintf(`{"type":"send","to":"c%d","seq":%d}`, (i+1)%n, i))
		c.send(`{"type":"group","group":"g"}`)
	}
	// Half disconnect with no close frame, and half mid-message (a frame header promising bytes never sent).
	for i, c := range clients {
		if i%2 == 1 {
			w := bufio.NewWriter(c.ws.UnderlyingConn())
			w.Write([]byte{0x81, 0xFE, 0x10, 0x00, 0, 0, 0, 0}) // masked text frame, 4096 bytes announced
			w.Write([]byte("partial"))
			w.Flush()
		}
		c.ws.UnderlyingConn().Close()
	}
	waitFor(t, "all connections released", func() bool { return s.open.Load() == 0 })
	if v := metric(t, s, "bus_registered_agents", "", ""); v != 0 {
		t.Errorf("registered agents = %v after disconnects", v)
	}
	s.hub.mu.RLock()
	left := len(s.hub.agents) + len(s.hub.all) + len(s.hub.groups)
	s.hub.mu.RUnlock()
	if left != 0 {
		t.Errorf("%d routing entries left", left)
	}
	ls.stop(t)
}
