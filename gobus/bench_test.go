package gobus

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkRoute measures the routing hot path, handler → recipient queue, for one inbound frame per op. The
// recipients' queues are drained (frames released) inside the loop, as their writers would.
func BenchmarkRoute(b *testing.B) {
	b.Run("mode=direct/payload=64", func(b *testing.B) { benchDirect(b, 64) })
	b.Run("mode=direct/payload=1024", func(b *testing.B) { benchDirect(b, 1024) })
	b.Run("mode=broadcast/agents=100", func(b *testing.B) {
		s := newTestServer(b, Options{})
		conns := make([]*testConn, 100)
		for i := range conns {
			conns[i] = s.testConn(b).register(fmt.Sprintf("agent-%d", i))
		}
		frame := []byte(`{"type":"broadcast","seq":42,"ts":1732556000123456789,"payload":` + payload(64) + `}`)
		runRoute(b, s, conns[0].c, frame, conns[1:])
		if d := metric(b, s, "bus_deliveries_total", "mode", "broadcast"); d < float64(99*b.N) {
			b.Fatalf("only %v deliveries", d)
		}
	})
	// Group of 10 members, sender outside the group.
	b.Run("mode=group", func(b *testing.B) {
		s := newTestServer(b, Options{})
		members := make([]*testConn, 10)
		for i := range members {
			members[i] = s.testConn(b).register(fmt.Sprintf("agent-%d", i), "coders")
		}
		sender := s.testConn(b).register("sender")
		frame := []byte(`{"type":"group","group":"coders","seq":43,"ts":1732556000123456789,"payload":` + payload(64) + `}`)
		runRoute(b, s, sender.c, frame, members)
	})
}

func benchDirect(b *testing.B, size int) {
	s := newTestServer(b, Options{})
	from := s.testConn(b).register("agent-7")
	to := s.testConn(b).register("agent-9")
	frame := []byte(`{"type":"send","to":"agent-9","seq":41,"ts":1732556000123456789,"payload":` + payload(size) + `}`)
	runRoute(b, s, from.c, frame, []*testConn{to})
	if d := metric(b, s, "bus_deliveries_total", "mode", "direct"); d < float64(b.N) {
		b.Fatalf("only %v deliveries", d)
	}
}

// payload is a JSON string value of exactly n bytes.
func payload(n int) string { return `"` + strings.Repeat("x", n-2) + `"` }

func runRoute(b *testing.B, s *Server, from *conn, frame []byte, recipients []*testConn) {
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		s.handleFrame(from, frame)
		for _, r := range recipients {
			c := r.c
			c.mu.Lock()
			for f := c.pop(); f != nil; f = c.pop() {
				s.frames.release(f)
			}
			c.mu.Unlock()
		}
	}
	if d := metric(b, s, "bus_dropped_total", "reason", "slow_consumer"); d != 0 {
		b.Fatalf("%v frames dropped", d)
	}
}

// BenchmarkIdleConnections reports the Go memory (heap in use + goroutine stacks) one idle WebSocket connection
// costs the bus, measured in-process with minimal raw-socket clients (their net.Conn is included in the figure).
func BenchmarkIdleConnections(b *testing.B) {
	for _, registered := range []bool{false, true} {
		b.Run(fmt.Sprintf("conns=1000/registered=%v", registered), func(b *testing.B) {
			var perConn, heap, stack float64
			for range b.N {
				perConn, heap, stack = measureIdle(b, 1000, registered)
			}
			b.ReportMetric(perConn, "bytes/conn")
			b.ReportMetric(heap, "heap-bytes/conn")
			b.ReportMetric(stack, "stack-bytes/conn")
		})
	}
}

// TestIdleConnectionMemory holds the bus to its memory target: ≤ 10 KiB per idle registered connection.
func TestIdleConnectionMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("opens 1000 connections; meaningless under -race")
	}
	perConn, heap, stack := measureIdle(t, 1000, true)
	t.Logf("idle registered connection: %.0f bytes (heap %.0f, stacks %.0f)", perConn, heap, stack)
	if perConn > 10*1024 {
		t.Errorf("idle connection costs %.0f bytes, target ≤ 10240", perConn)
	}
}

func measureIdle(t testing.TB, n int, register bool) (perConn, heap, stack float64) {
	t.Helper()
	ls := startServer(t, Options{})
	// One connection in and out, so the server's accept path is up and its goroutines are counted in g0.
	rawClient(t, ls.addr, false, 0).Close()
	waitFor(t, "the probe connection to close", func() bool { return ls.open.Load() == 0 })
	g0 := runtime.NumGoroutine()
	before := settledMem(t, g0)
	clients := make([]net.Conn, n)
	for i := range clients {
		clients[i] = rawClient(t, ls.addr, register, i)
	}
	waitFor(t, "connections to open", func() bool { return ls.open.Load() == int64(n) })
	after := settledMem(t, g0+n) // one reader goroutine per connection, writers gone
	for _, c := range clients {
		c.Close()
	}
	waitFor(t, "connections to close", func() bool { return ls.open.Load() == 0 })
	heap = float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / float64(n)
	stack = float64(int64(after.StackInuse)-int64(before.StackInuse)) / float64(n)
	return heap + stack, heap, stack
}

// settledMem waits until goroutines number want (lazy writers have exited), collects garbage (which also shrinks
// stacks) and returns the memory statistics.
func settledMem(t testing.TB, want int) runtime.MemStats {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d goroutines", want), func() bool { return runtime.NumGoroutine() <= want })
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms
}

// rawClient opens a WebSocket connection with nothing but a net.Conn (no buffers, no goroutines) and optionally
// registers agent i.
func rawClient(t testing.TB, addr string, register bool, i int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	// Read the response byte by byte so no bytes after it are consumed.
	var resp []byte
	one := make([]byte, 1)
	for !bytes.HasSuffix(resp, []byte("\r\n\r\n")) {
		if _, err := io.ReadFull(c, one); err != nil {
			t.Fatalf("handshake: %v", err)
		}
		resp = append(resp, one[0])
	}
	if !bytes.HasPrefix(resp, []byte("HTTP/1.1 101")) {
		t.Fatalf("handshake: %q", resp)
	}
	if register {
		msg := fmt.Sprintf(`{"type":"register","id":"agent-%d"}`, i)
		// Masked text frame with an all-zero mask key, so the payload goes as is.
		frame := append([]byte{0x81, 0x80 | byte(len(msg)), 0, 0, 0, 0}, msg...)
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReaderSize(c, 16)
		hdr := make([]byte, 2)
		if _, err := io.ReadFull(r, hdr); err != nil {
			t.Fatal(err)
		}
		reply := make([]byte, hdr[1])
		if _, err := io.ReadFull(r, reply); err != nil || !bytes.Contains(reply, []byte(`"registered"`)) {
			t.Fatalf("register reply %q: %v", reply, err)
		}
	}
	c.SetDeadline(time.Time{})
	return c
}

// BenchmarkEndToEnd is a loopback round trip through real sockets: a sends to b, b reads (one op = one message).
func BenchmarkEndToEnd(b *testing.B) {
	ls := startServer(b, Options{})
	a := ls.dial(b).register("a")
	r := ls.dial(b).register("b")
	frame := []byte(`{"type":"send","to":"b","seq":1,"payload":` + payload(64) + `}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := a.ws.WriteMessage(1, frame); err != nil {
			b.Fatal(err)
		}
		if _, _, err := r.ws.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}
