//go:build linux

package gobus

import (
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzNetpollFrames feeds arbitrary client byte streams, split at arbitrary points, to the netpoll transport's
// read path (poller.readable → pollConn.parse, the partial-frame buffer, teardown) over a socketpair, with the
// poller's loop played by the test so every split reaches the parser as one read. The oracle (wiremodel_test.go)
// says what must come out: no panic, the partial-frame buffer never holds more than one frame of at most
// max_message_bytes (a longer one is refused from its header), protocol errors close with 1002, the size limit with
// 1009, a close is echoed, and what the stream carried reaches the bus's routing exactly (the replies and a second
// agent's deliveries equal those of the same messages handed to an in-process bus).
//
//	go test -run '^$' -fuzz FuzzNetpollFrames -fuzztime 1000000x ./gobus/
func FuzzNetpollFrames(f *testing.F) {
	streams, splits := wireSeeds(wireFuzzOptions(TransportNetpoll).MaxMessageBytes)
	for i := range streams {
		f.Add(streams[i], splits[i])
	}
	f.Fuzz(func(t *testing.T, stream, splits []byte) {
		checkWire(t, TransportNetpoll, netpollDialect, runNetpoll, stream, splits)
	})
}

// runNetpoll serves one pollConn on a socketpair. After each chunk it does what the poller's loop does for an
// EPOLLIN edge (readable, the connections with input left, flushWoken, EPOLLOUT's flush) and drains the client
// side; at the end it half-closes the client side and reads until the bus has torn the connection down.
func runNetpoll(t *testing.T, s *Server, phases [][]byte, splits []byte) []byte {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	cli := fds[1]
	defer unix.Close(cli)
	np := &netpoll{s: s}
	p := &poller{np: np, conns: map[int32]*pollConn{}, buf: make([]byte, netpollReadBuf)}
	c := &pollConn{conn: conn{s: s}, p: p, fd: fds[0], remote: "fuzz"}
	c.sock = c
	p.conns[int32(fds[0])] = c
	s.open.Add(1)
	s.m.connections.Inc()
	s.mu.Lock()
	s.conns[&c.conn] = struct{}{}
	s.mu.Unlock()
	s.wg.Add(1)

	maxMsg := s.opts.MaxMessageBytes
	var out []byte
	rb := make([]byte, 64<<10)
	drain := func() bool { // false at EOF or a reset (the bus closed with our bytes unread)
		for {
			n, err := unix.Read(cli, rb)
			if n > 0 {
				out = append(out, rb[:n]...)
				continue
			}
			return err == unix.EAGAIN || err == unix.EINTR
		}
	}
	checkBufs := func() {
		// One incomplete frame at most: a header (≤ 14 bytes) and a payload within the limit.
		if c.rbuf != nil && len(*c.rbuf) > maxMsg+14 {
			t.Fatalf("partial-frame buffer holds %d bytes, limit %d", len(*c.rbuf), maxMsg)
		}
		if c.frag != nil && len(*c.frag) > maxMsg {
			t.Fatalf("fragment buffer holds %d bytes, limit %d", len(*c.frag), maxMsg)
		}
	}
	step := func(hup bool) {
		if !c.dead {
			p.readable(c, hup)
		}
		checkBufs()
		for len(p.again) > 0 {
			again := p.again
			p.again = nil
			for _, x := range again {
				if !x.dead {
					p.readable(x, false)
				}
				checkBufs()
			}
			np.flushWoken()
		}
		np.flushWoken()
		drain()
		if c.pending.Load() {
			c.flush()
			drain()
		}
	}
	for _, phase := range phases {
		for _, chunk := range chunks(phase, splits) {
			for len(chunk) > 0 && !c.dead {
				n, err := unix.Write(cli, chunk)
				if n > 0 {
					chunk = chunk[n:]
				}
				if err != nil && err != unix.EAGAIN {
					break // the bus shut the socket down
				}
				step(false)
			}
		}
	}
	unix.Shutdown(cli, unix.SHUT_WR)
	for i := 0; !c.dead; i++ {
		if i > 100 {
			t.Fatal("the connection outlived its peer's EOF")
		}
		step(true)
	}
	for i := 0; drain(); i++ {
		if i > 100 {
			t.Fatal("the bus did not close the socket after tearing the connection down")
		}
	}
	s.wg.Wait()
	return out
}
