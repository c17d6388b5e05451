package gobus

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
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

// BenchmarkIdleConnections reports the memory one idle, registered WebSocket connection costs the bus, per
// transport, at 1,000 and 10,000 connections, measured in-process with minimal raw-socket clients (no buffers, no
// goroutines), in a child process so that neither their memory nor their descriptors are the bus's:
//
//   - bytes/conn: Go heap in use + goroutine stacks, after GC (runtime.MemStats), the figure the targets use;
//   - heap-bytes/conn, stack-bytes/conn: its two parts;
//   - rss-bytes/conn: the process's resident set growth (/proc/self/statm), which also counts memory the Go
//     runtime holds but does not use; kernel socket buffers are in neither (nor in the gorilla/netpoll difference).
func BenchmarkIdleConnections(b *testing.B) {
	raiseNoFile(b, 10000+1000) // the clients are in a child process
	for _, n := range []int{1000, 10000} {
		for _, tr := range []string{TransportGorilla, TransportNetpoll} {
			b.Run(fmt.Sprintf("conns=%d/transport=%s", n, tr), func(b *testing.B) {
				var m idleMem
				for range b.N {
					m = measureIdle(b, tr, n, true)
				}
				b.ReportMetric(m.perConn(), "bytes/conn")
				b.ReportMetric(m.heap, "heap-bytes/conn")
				b.ReportMetric(m.stack, "stack-bytes/conn")
				b.ReportMetric(m.rss, "rss-bytes/conn")
			})
		}
	}
}

// TestIdleConnectionMemory holds each transport to its memory target per idle registered connection: gorilla
// ≤ 10 KiB (a parked reader goroutine and its read buffer), netpoll ≤ 3 KiB (no goroutine, no buffer).
func TestIdleConnectionMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("opens 1000 connections; meaningless under -race")
	}
	for _, tc := range []struct {
		transport string
		max       float64
	}{{TransportGorilla, 10 * 1024}, {TransportNetpoll, 3 * 1024}} {
		t.Run("transport="+tc.transport, func(t *testing.T) {
			m := measureIdle(t, tc.transport, 1000, true)
			t.Logf("idle registered connection: %.0f bytes (heap %.0f, stacks %.0f; RSS %.0f)", m.perConn(), m.heap,
				m.stack, m.rss)
			if m.perConn() > tc.max {
				t.Errorf("idle connection costs %.0f bytes, target ≤ %.0f", m.perConn(), tc.max)
			}
		})
	}
}

// idleMem is the memory per idle connection, in bytes.
type idleMem struct{ heap, stack, rss float64 }

func (m idleMem) perConn() float64 { return m.heap + m.stack }

// raiseNoFile raises the soft limit on open files to n (or the hard limit, raised too when allowed); t may be nil.
func raiseNoFile(t testing.TB, n uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	if rl.Cur >= n {
		return
	}
	if rl.Max < n {
		want := syscall.Rlimit{Cur: n, Max: n}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
			return
		}
		n = rl.Max
	}
	rl.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil && t != nil {
		t.Logf("raise RLIMIT_NOFILE to %d: %v", n, err)
	}
}

func measureIdle(t testing.TB, transport string, n int, register bool) idleMem {
	t.Helper()
	ls := startServer(t, Options{Transport: transport, MaxConnections: n + 10})
	// One connection in and out, so the server's accept path (and netpoll's pollers) is up and its goroutines are
	// counted in g0.
	rawClient(t, ls.addr, false, 0).Close()
	waitFor(t, "the probe connection to close", func() bool { return ls.open.Load() == 0 })
	perConnG := 1 // gorilla: one reader goroutine per connection
	if transport == TransportNetpoll {
		perConnG = 0
	}
	g0 := runtime.NumGoroutine()
	before := settledMem(t, g0)
	rss0 := rssBytes()
	stop := startIdleClients(t, ls.addr, n, register)
	waitFor(t, "connections to open", func() bool { return ls.open.Load() == int64(n) })
	after := settledMem(t, g0+1+perConnG*n) // writers gone; +1: the child's stderr copier
	rss1 := rssBytes()
	stop()
	waitFor(t, "connections to close", func() bool { return ls.open.Load() == 0 })
	return idleMem{
		heap:  float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / float64(n),
		stack: float64(int64(after.StackInuse)-int64(before.StackInuse)) / float64(n),
		rss:   float64(rss1-rss0) / float64(n),
	}
}

// idleClientsEnv makes the test binary an idle-client process (see TestMain): "addr n register".
const idleClientsEnv = "GOBUS_IDLE_CLIENTS"

// startIdleClients opens n raw clients in a child process (this test binary), so their memory and file
// descriptors are not the bus's; stop closes them all.
func startIdleClients(t testing.TB, addr string, n int, register bool) (stop func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %v", idleClientsEnv, addr, n, register))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		in.Close()
		cmd.Wait()
		t.Fatalf("idle clients: %q %v\n%s", line, err, stderr.Bytes())
	}
	return func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("idle clients: %v\n%s", err, stderr.Bytes())
		}
	}
}

// idleClientsMain is the child of startIdleClients: it opens the clients, says "ready" and holds them until its
// stdin closes.
func idleClientsMain(spec string) {
	var addr string
	var n int
	var register bool
	if _, err := fmt.Sscanf(spec, "%s %d %t", &addr, &n, &register); err != nil {
		fmt.Fprintln(os.Stderr, "idle clients:", err)
		os.Exit(2)
	}
	raiseNoFile(nil, uint64(n+100))
	clients := make([]net.Conn, n)
	for i := range clients {
		c, err := rawDial(addr, register, i)
		if err != nil {
			fmt.Fprintf(os.Stderr, "idle client %d: %v\n", i, err)
			os.Exit(1)
		}
		clients[i] = c
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range clients {
		c.Close()
	}
	os.Exit(0)
}

// rssBytes is this process's resident set size (/proc/self/statm), 0 when unknown.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
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
	debug.FreeOSMemory() // so that RSS counts what is in use
	runtime.ReadMemStats(&ms)
	return ms
}

// rawClient opens a WebSocket connection with nothing but a net.Conn (no buffers, no goroutines) and optionally
// registers agent i.
func rawClient(t testing.TB, addr string, register bool, i int) net.Conn {
	t.Helper()
	c, err := rawDial(addr, register, i)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func rawDial(addr string, register bool, i int) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (net.Conn, error) { c.Close(); return nil, err }
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	// Read the response byte by byte so no bytes after it are consumed.
	var resp []byte
	one := make([]byte, 1)
	for !bytes.HasSuffix(resp, []byte("\r\n\r\n")) {
		if _, err := io.ReadFull(c, one); err != nil {
			return fail(fmt.Errorf("handshake: %v", err))
		}
		resp = append(resp, one[0])
	}
	if !bytes.HasPrefix(resp, []byte("HTTP/1.1 101")) {
		return fail(fmt.Errorf("handshake: %q", resp))
	}
	if register {
		msg := fmt.Sprintf(`{"type":"register","id":"agent-%d"}`, i)
		// Masked text frame with an all-zero mask key, so the payload goes as is.
		frame := append([]byte{0x81, 0x80 | byte(len(msg)), 0, 0, 0, 0}, msg...)
		if _, err := c.Write(frame); err != nil {
			return fail(err)
		}
		r := bufio.NewReaderSize(c, 16)
		hdr := make([]byte, 2)
		if _, err := io.ReadFull(r, hdr); err != nil {
			return fail(err)
		}
		reply := make([]byte, hdr[1])
		if _, err := io.ReadFull(r, reply); err != nil || !bytes.Contains(reply, []byte(`"registered"`)) {
			return fail(fmt.Errorf("register reply %q: %v", reply, err))
		}
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// BenchmarkEndToEnd is a loopback round trip through real sockets: a sends to b, b reads (one op = one message).
// allocs/op counts the gorilla client's allocations too; the difference between transports is the bus's.
func BenchmarkEndToEnd(b *testing.B) {
	for _, tr := range []string{TransportGorilla, TransportNetpoll} {
		b.Run("transport="+tr, func(b *testing.B) { benchEndToEnd(b, tr) })
	}
}

func benchEndToEnd(b *testing.B, transport string) {
	ls := startServer(b, Options{Transport: transport})
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
