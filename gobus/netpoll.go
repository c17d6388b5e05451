//go:build linux

package gobus

// The netpoll transport: after the handshake, a connection's socket leaves Go's runtime poller for one of a few
// epoll loops of our own, so an idle connection has no goroutine and no buffer, only its pollConn (a few hundred
// bytes) and the kernel's socket.
//
// Why github.com/gobwas/ws on our own epoll loop rather than github.com/lesismal/nbio: gobus's queueing semantics
// are the protocol's (a per-connection queue of QueueLen frames, the newest dropped and counted when it is full,
// one write syscall per drained queue, close 1001 after queued data on shutdown), and they need to know when a
// socket is writable again. nbio writes into a per-connection buffer of its own and reports neither backlog nor
// writability, so the slow-consumer rule would have to be rebuilt on top of it; it also brings its own HTTP server
// (nbhttp), so /health, /metrics, ReadHeaderTimeout and the http.Server shutdown would be reimplemented too. With
// gobwas/ws, net/http keeps serving HTTP and the handshake (ws.HTTPUpgrader hijacks the connection, which is then
// moved to epoll), and gobwas supplies the framing pieces (opcodes, the unmasking cipher); frame parsing,
// reads and writes are a few hundred lines here, feeding the same handleFrame, queue and metrics as gorilla.
//
// Threads: each poller is one goroutine blocked in epoll_wait (GOMAXPROCS pollers). A connection belongs to one
// poller, which alone reads it, so its frames are handled in order, as gorilla's reader goroutine does. Routing a
// frame queues it to its recipients and wakes them (a shared list); the poller flushes every woken connection
// after each batch of events, so the frames queued during a batch leave in one write per recipient. A write
// that meets a full socket keeps the rest in a pooled buffer and waits for EPOLLOUT (edge-triggered, so no
// epoll_ctl calls); meanwhile the queue fills and, full, drops, exactly as with gorilla's blocked writer.

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

const (
	// netpollReadBuf is each poller's read buffer: a read takes up to this much of one connection's input.
	netpollReadBuf = 64 << 10
	// netpollEvents is the most events one epoll_wait returns.
	netpollEvents = 256
	// netpollReads bounds the reads of one connection per event, so a flooding client does not starve the others;
	// a connection with more input waiting is revisited after the batch.
	netpollReads = 4
	// maxCtrlBacklog bounds the bytes held for a socket that does not drain: beyond it, pongs are dropped.
	maxCtrlBacklog = 1 << 20
)

var (
	errCloseSent = errors.New("gobus: close frame already sent")
	errPeerGone  = errors.New("gobus: connection closed")
)

// netpoll is one Server's set of pollers, started with the first connection.
type netpoll struct {
	s       *Server
	pollers []*poller
	next    atomic.Uint32
	wg      sync.WaitGroup // poller goroutines

	wokeMu sync.Mutex
	woke   []*pollConn // connections whose queue went from empty to non-empty since the last flush
	spare  []*pollConn
}

func newNetpoll(s *Server) (*netpoll, error) {
	np := &netpoll{s: s}
	n := max(1, runtime.GOMAXPROCS(0))
	for range n {
		p, err := newPoller(np)
		if err != nil {
			for _, p := range np.pollers {
				p.closeFDs()
			}
			return nil, err
		}
		np.pollers = append(np.pollers, p)
	}
	for _, p := range np.pollers {
		np.wg.Go(p.loop)
	}
	return np, nil
}

// stop ends the pollers (tearing down any connection left) and waits for them.
func (np *netpoll) stop() {
	for _, p := range np.pollers {
		p.stopping.Store(true)
		var one = [8]byte{1}
		unix.Write(p.evfd, one[:])
	}
	np.wg.Wait()
}

// wake queues c for the next flush. Called with c.mu held (lock order: c.mu, then wokeMu).
func (np *netpoll) wake(c *pollConn) {
	np.wokeMu.Lock()
	np.woke = append(np.woke, c)
	np.wokeMu.Unlock()
}

// flushWoken writes the queues of every woken connection.
func (np *netpoll) flushWoken() {
	np.wokeMu.Lock()
	if len(np.woke) == 0 {
		np.wokeMu.Unlock()
		return
	}
	list := np.woke
	np.woke = np.spare[:0]
	np.spare = nil
	np.wokeMu.Unlock()
	for i, c := range list {
		c.flush()
		list[i] = nil
	}
	np.wokeMu.Lock()
	if np.spare == nil && cap(list) <= 4096 {
		np.spare = list[:0]
	}
	np.wokeMu.Unlock()
}

// poller is one epoll loop.
type poller struct {
	np       *netpoll
	epfd     int
	evfd     int // an eventfd in the set: stop writes it to end epoll_wait
	stopping atomic.Bool

	mu    sync.Mutex
	conns map[int32]*pollConn // by fd

	// Used by the poller goroutine only.
	buf   []byte
	again []*pollConn // connections with input left after netpollReads reads
	spare []*pollConn // again's other backing array
	pongs []byte      // pongs of the connection being parsed, written together (netpoll_pong.go)
}

func newPoller(np *netpoll) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("gobus: epoll_create1: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("gobus: eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, fmt.Errorf("gobus: epoll_ctl: %w", err)
	}
	return &poller{np: np, epfd: epfd, evfd: evfd, conns: map[int32]*pollConn{}, buf: make([]byte, netpollReadBuf)}, nil
}

func (p *poller) closeFDs() {
	unix.Close(p.epfd)
	unix.Close(p.evfd)
}

// add puts c's socket in p's set. c belongs to the poller from here on: nothing of it is read after the
// epoll_ctl (the race detector cannot see the kernel's ordering).
func (p *poller) add(c *pollConn) error {
	fd := c.fd
	p.mu.Lock()
	p.conns[int32(fd)] = c
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.conns, int32(fd))
		p.mu.Unlock()
		return fmt.Errorf("gobus: epoll_ctl add: %w", err)
	}
	return nil
}

func (p *poller) loop() {
	events := make([]unix.EpollEvent, netpollEvents)
	conns := make([]*pollConn, netpollEvents)
	for {
		timeout := -1
		if len(p.again) > 0 {
			timeout = 0
		}
		n, err := unix.EpollWait(p.epfd, events, timeout)
		if err != nil && err != unix.EINTR {
			p.np.s.opts.Logger.Error("gobus: epoll_wait", "err", err)
			time.Sleep(10 * time.Millisecond)
		}
		stop := false
		p.mu.Lock()
		for i := 0; i < n; i++ {
			if events[i].Fd == int32(p.evfd) {
				stop = p.stopping.Load()
				conns[i] = nil
				continue
			}
			conns[i] = p.conns[events[i].Fd]
		}
		p.mu.Unlock()
		if stop {
			break
		}
		for i := 0; i < n; i++ {
			c := conns[i]
			if c == nil {
				continue
			}
			conns[i] = nil
			ev := events[i].Events
			if ev&unix.EPOLLOUT != 0 && c.pending.Load() {
				c.flush()
			}
			if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 && !c.dead {
				p.readable(c, ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0)
			}
		}
		if len(p.again) > 0 {
			again := p.again
			p.again = p.spare[:0]
			for i, c := range again {
				again[i] = nil
				if !c.dead {
					p.readable(c, false)
				}
			}
			p.spare = again[:0]
		}
		p.np.flushWoken()
	}
	// Shutdown has waited for the connections; tear down whatever is left (its context ended first).
	p.mu.Lock()
	left := make([]*pollConn, 0, len(p.conns))
	for _, c := range p.conns {
		left = append(left, c)
	}
	p.mu.Unlock()
	for _, c := range left {
		p.teardown(c, errPeerGone)
	}
	p.closeFDs()
}

// pollConn is a connection of the netpoll transport.
type pollConn struct {
	conn
	p      *poller
	remote string

	// Read side, used by p's goroutine only.
	rbuf    *[]byte   // an incomplete frame's bytes, nil when none
	frag    *[]byte   // a fragmented text message's payload so far, nil when none
	fragOp  ws.OpCode // opcode of the fragmented message being received; OpContinuation when none
	fragLen int       // its payload bytes so far (a binary one's are only counted)
	dead    bool      // torn down
	hup     bool      // epoll reported the peer's close or reset: read to the end

	// Write side, under wmu.
	wmu       sync.Mutex
	fd        int     // -1 once torn down
	out       *[]byte // (*out)[outOff:] are bytes accepted for the socket but not yet written (it was full)
	outOff    int
	closeSent bool // a close frame was accepted: no data frame follows it
	shutDown  bool // shutdown(2) was called: the poller will see EOF and tear down
	pending   atomic.Bool
}

func (c *pollConn) wake()  { c.p.np.wake(c) }
func (c *pollConn) close() { c.wmu.Lock(); c.kill(); c.wmu.Unlock() }

func (c *pollConn) sendClose(payload []byte, _ time.Time) error {
	return c.sendControl(byte(ws.OpClose), payload)
}

// kill shuts the socket down (wmu held); its poller then reads EOF and tears the connection down.
func (c *pollConn) kill() {
	if c.fd >= 0 && !c.shutDown {
		c.shutDown = true
		unix.Shutdown(c.fd, unix.SHUT_RDWR)
	}
}

// sendControl writes a control frame (payload ≤ 125 bytes) after the bytes already accepted for the socket.
func (c *pollConn) sendControl(op byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.fd < 0 || c.shutDown {
		return net.ErrClosed
	}
	if c.closeSent {
		return errCloseSent
	}
	if op == byte(ws.OpClose) {
		c.closeSent = true
	}
	var b [2 + ws.MaxControlFramePayloadSize]byte
	n := copy(b[2:], payload)
	b[0], b[1] = 0x80|op, byte(n)
	if c.out != nil {
		if op == byte(ws.OpPong) && len(*c.out)-c.outOff > maxCtrlBacklog {
			c.s.m.droppedPong.Inc()
			return nil
		}
		*c.out = append(*c.out, b[:2+n]...)
		return nil
	}
	return c.writeLocked(b[:2+n], nil)
}

// writeLocked writes b (wmu held, nothing pending). What the socket does not take now is kept, in bp's buffer
// when b is bp's (ownership passes), else copied into a pooled one, and written on EPOLLOUT.
func (c *pollConn) writeLocked(b []byte, bp *[]byte) error {
	retried := false
	for len(b) > 0 {
		n, err := unix.Write(c.fd, b)
		if n > 0 {
			b = b[n:]
		}
		switch {
		case err == nil:
		case err == unix.EINTR:
		case err == unix.EAGAIN && !retried:
			// Announce the backlog, then try once more: an EPOLLOUT edge that the poller handled between the
			// failed write and this store (seeing nothing pending) is not repeated, and the bytes would wait for
			// the peer's next input. After the store, any later edge finds them.
			c.pending.Store(true)
			retried = true
		case err == unix.EAGAIN:
			if bp == nil {
				bp = c.p.np.s.writeBufs.get()
				*bp = append((*bp)[:0], b...)
				c.outOff = 0
			} else {
				c.outOff = len(*bp) - len(b)
			}
			c.out = bp
			c.pending.Store(true)
			return nil
		default:
			c.kill()
			if bp != nil {
				c.p.np.s.writeBufs.put(bp)
			}
			return err
		}
	}
	if bp != nil {
		c.p.np.s.writeBufs.put(bp)
	}
	if retried {
		c.pending.Store(false)
	}
	return nil
}

// writeOut writes the bytes held for the socket (wmu held); true when none are left.
func (c *pollConn) writeOut() bool {
	for c.outOff < len(*c.out) {
		n, err := unix.Write(c.fd, (*c.out)[c.outOff:])
		if n > 0 {
			c.outOff += n
		}
		switch {
		case err == nil, err == unix.EINTR:
		case err == unix.EAGAIN:
			return false
		default:
			c.kill()
			return false
		}
	}
	c.p.np.s.writeBufs.put(c.out)
	c.out, c.outOff = nil, 0
	c.pending.Store(false)
	return true
}

// flush writes what the socket will take: the held bytes, then the queue, one write per maxWriteBatch.
func (c *pollConn) flush() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	s := c.p.np.s
	for {
		if c.fd < 0 || c.shutDown {
			// Dying: the queue is released by shut; this only clears writing once it has.
			c.mu.Lock()
			if c.closed {
				c.writing = false
			}
			c.mu.Unlock()
			return
		}
		if c.out != nil && !c.writeOut() {
			return
		}
		bp := s.writeBufs.get()
		b, more := c.nextBatch((*bp)[:0])
		*bp = b
		if !more {
			s.writeBufs.put(bp)
			return
		}
		if c.closeSent {
			s.writeBufs.put(bp) // nothing follows a close frame
			continue
		}
		if c.writeLocked(b, bp) != nil || c.out != nil {
			return
		}
	}
}

// readable reads what c's socket holds and handles the complete frames. hup: the peer has closed or reset, so
// reading goes on to the end (a short read would otherwise be taken for a drained socket, and edge-triggered
// epoll reports the end only once).
func (p *poller) readable(c *pollConn, hup bool) {
	s := p.np.s
	if hup {
		c.hup = true
	}
	hup = c.hup
	for range netpollReads {
		var b []byte
		var full bool
		if c.rbuf != nil {
			rb := slices.Grow(*c.rbuf, 32<<10)
			n, err := unix.Read(c.fd, rb[len(rb):cap(rb)])
			if n <= 0 {
				*c.rbuf = rb
				p.readFailed(c, n, err)
				return
			}
			full = n == cap(rb)-len(rb)
			b = rb[:len(rb)+n]
			*c.rbuf = b
		} else {
			n, err := unix.Read(c.fd, p.buf)
			if n <= 0 {
				p.readFailed(c, n, err)
				return
			}
			full = n == len(p.buf)
			b = p.buf[:n]
		}
		used, err := c.parse(b)
		if ferr := c.flushPongs(); err == nil {
			err = ferr
		}
		if err != nil {
			p.teardown(c, err)
			return
		}
		rest := b[used:]
		switch {
		case len(rest) == 0:
			if c.rbuf != nil {
				s.readBufs.put(c.rbuf)
				c.rbuf = nil
			}
		case c.rbuf == nil:
			c.rbuf = s.readBufs.get()
			*c.rbuf = append((*c.rbuf)[:0], rest...)
		default:
			*c.rbuf = (*c.rbuf)[:copy(*c.rbuf, rest)]
		}
		if !full && !hup {
			return // the socket is drained; edge-triggered epoll reports new input
		}
	}
	p.again = append(p.again, c)
}

func (p *poller) readFailed(c *pollConn, n int, err error) {
	switch {
	case n == 0 && err == nil:
		p.teardown(c, errPeerGone)
	case err == unix.EAGAIN || err == unix.EINTR:
		// Spurious (a stale event, or EINTR): edge-triggered epoll reports new input.
		if err == unix.EINTR {
			p.again = append(p.again, c)
		}
	default:
		p.teardown(c, err)
	}
}

// teardown releases everything c holds: its registration, queue, socket and buffers.
func (p *poller) teardown(c *pollConn, why error) {
	if c.dead {
		return
	}
	c.dead = true
	s := p.np.s
	if !errors.Is(why, errPeerGone) {
		s.opts.Logger.Debug("connection ended", "remote", c.remote, "id", c.id, "err", why)
	}
	s.unregister(&c.conn)
	c.shut()
	c.wmu.Lock()
	fd := c.fd
	c.fd = -1
	if c.out != nil {
		s.writeBufs.put(c.out)
		c.out, c.outOff = nil, 0
		c.pending.Store(false)
	}
	c.wmu.Unlock()
	p.mu.Lock()
	delete(p.conns, int32(fd))
	p.mu.Unlock()
	unix.Close(fd) // also leaves the epoll set
	if c.rbuf != nil {
		s.readBufs.put(c.rbuf)
		c.rbuf = nil
	}
	if c.frag != nil {
		s.readBufs.put(c.frag)
		c.frag = nil
	}
	s.dropConn(&c.conn)
	s.wg.Done()
}

// Errors that end a connection after its close frame has been sent.
type closeError struct {
	code uint16
	why  string
}

func (e *closeError) Error() string { return fmt.Sprintf("gobus: close %d: %s", e.code, e.why) }

// protocolError sends close 1002 and returns the error that ends the connection (as gorilla does).
func (c *pollConn) protocolError(why string) error {
	c.flushPongs()
	c.sendControl(byte(ws.OpClose), closePayload(1002, why))
	return &closeError{1002, why}
}

func closePayload(code uint16, why string) []byte {
	b := make([]byte, 2, 2+len(why))
	b[0], b[1] = byte(code>>8), byte(code)
	return append(b, why...)
}

// parse handles the complete frames at the start of b (unmasking them in place) and returns the bytes they took.
// An error ends the connection; any close frame it calls for has been sent. One piece on purpose: it is RFC 6455's
// frame rules in the order the RFC checks them (header, lengths, mask, control, continuation, close), run per frame
// on the poller's hot path; FuzzNetpollFrames and TestWireRegressions read it as that one sequence.
func (c *pollConn) parse(b []byte) (int, error) {
	s := c.p.np.s
	off := 0
	for {
		h := b[off:]
		if len(h) < 2 {
			return off, nil
		}
		fin := h[0]&0x80 != 0
		op := ws.OpCode(h[0] & 0x0f)
		// RFC 6455 §5.2, §5.4, §5.5: the checks gorilla makes, with its close codes, on the first two bytes (as
		// gorilla: a truncated bad header is refused before the rest of it arrives).
		switch {
		case h[0]&0x70 != 0:
			return off, c.protocolError("unexpected reserved bits 0x" + fmt.Sprintf("%x", h[0]&0x70))
		case h[1]&0x80 == 0:
			return off, c.protocolError("incorrect mask flag")
		case op.IsReserved():
			return off, c.protocolError("unknown opcode " + fmt.Sprint(op))
		case op.IsControl() && (!fin || h[1]&0x7f > ws.MaxControlFramePayloadSize):
			// The 7-bit field, not the decoded length: a control frame's length in the 16- or 64-bit form is
			// over 125 or not minimally encoded (§5.2), and gorilla refuses both (FuzzGorillaFrames found it).
			return off, c.protocolError("control frame length > 125 or not final")
		case op == ws.OpContinuation && c.fragOp == ws.OpContinuation:
			return off, c.protocolError("continuation after final message frame")
		case (op == ws.OpText || op == ws.OpBinary) && c.fragOp != ws.OpContinuation:
			return off, c.protocolError("message start before final message frame")
		}
		n := uint64(h[1] & 0x7f)
		hl := 2
		switch n {
		case 126:
			if len(h) < 4 {
				return off, nil
			}
			n = uint64(h[2])<<8 | uint64(h[3])
			hl = 4
		case 127:
			if len(h) < 10 {
				return off, nil
			}
			n = 0
			for _, x := range h[2:10] {
				n = n<<8 | uint64(x)
			}
			hl = 10
		}
		if op.IsData() {
			// Compared without adding, so a 64-bit length cannot wrap the total around (fragLen ≤ the limit).
			limit := uint64(s.opts.MaxMessageBytes)
			if op == ws.OpContinuation {
				limit -= uint64(c.fragLen)
			}
			if n > limit {
				// As gorilla's read limit: close 1009 as soon as the header says so, nothing of the message handled.
				c.flushPongs()
				c.sendControl(byte(ws.OpClose), closePayload(1009, ""))
				s.m.errors[codeTooLarge].Inc()
				return off, &closeError{1009, "message too large"}
			}
		}
		hl += 4
		if uint64(len(h)) < uint64(hl)+n {
			return off, nil
		}
		payload := h[hl : hl+int(n)]
		ws.Cipher(payload, [4]byte(h[hl-4:hl]), 0)
		off += hl + int(n)

		switch op {
		case ws.OpText, ws.OpBinary:
			if fin {
				if op == ws.OpText {
					s.handleFrame(&c.conn, payload)
				} else {
					s.malformed(&c.conn, nil, "binary frames are not part of the protocol")
				}
				continue
			}
			c.fragOp, c.fragLen = op, len(payload)
			if op == ws.OpText {
				c.frag = s.readBufs.get()
				*c.frag = append((*c.frag)[:0], payload...)
			}
		case ws.OpContinuation:
			c.fragLen += len(payload)
			if c.frag != nil {
				*c.frag = append(*c.frag, payload...)
			}
			if !fin {
				continue
			}
			if c.fragOp == ws.OpText {
				s.handleFrame(&c.conn, *c.frag)
				s.readBufs.put(c.frag)
				c.frag = nil
			} else {
				s.malformed(&c.conn, nil, "binary frames are not part of the protocol")
			}
			c.fragOp, c.fragLen = ws.OpContinuation, 0
		case ws.OpPing:
			if err := c.queuePong(payload); err != nil {
				return off, err
			}
		case ws.OpPong:
		case ws.OpClose:
			return off, c.onClose(payload)
		}
	}
}

// onClose answers a close frame as gobus's gorilla close handler does: the peer's code echoed (none for none),
// unless a close frame already went out; invalid payloads are protocol errors (1002).
func (c *pollConn) onClose(payload []byte) error {
	code := uint16(1005)
	switch {
	case len(payload) == 1:
		return c.protocolError("invalid close frame")
	case len(payload) >= 2:
		code = uint16(payload[0])<<8 | uint16(payload[1])
		if !validCloseCode(code) {
			return c.protocolError("invalid close code")
		}
		if !utf8.Valid(payload[2:]) {
			return c.protocolError("invalid utf8 payload in close frame")
		}
	}
	var reply []byte
	if code != 1005 {
		reply = []byte{byte(code >> 8), byte(code)}
	}
	c.flushPongs()
	c.sendControl(byte(ws.OpClose), reply)
	return errPeerGone
}

// validCloseCode: the codes a peer may send (RFC 6455 §7.4), as gorilla checks them.
func validCloseCode(code uint16) bool {
	switch code {
	case 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014:
		return true
	}
	return code >= 3000 && code <= 4999
}

// upgrader answers the handshake: no subprotocol and no extension is negotiated (docs/protocol.md).
var netpollUpgrader = ws.HTTPUpgrader{Timeout: 10 * time.Second}

// serveNetpoll upgrades r and moves the connection to a poller. The slot is reserved and counted already.
func (s *Server) serveNetpoll(w http.ResponseWriter, r *http.Request) {
	nc, rw, _, err := netpollUpgrader.Upgrade(r, w)
	if err != nil {
		// The upgrader has answered the request.
		if nc != nil {
			nc.Close()
		}
		s.open.Add(-1)
		s.m.connections.Dec()
		return
	}
	fd, err := detachFD(nc, rw)
	if err != nil {
		s.opts.Logger.Debug("netpoll: detach", "remote", r.RemoteAddr, "err", err)
		s.open.Add(-1)
		s.m.connections.Dec()
		return
	}
	c := &pollConn{conn: conn{s: s}, fd: fd, remote: r.RemoteAddr}
	c.sock = c
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		var b [64]byte
		p := goingAway()
		b[0], b[1] = 0x88, byte(copy(b[2:], p))
		unix.Write(fd, b[:2+len(p)])
		unix.Close(fd)
		s.open.Add(-1)
		s.m.connections.Dec()
		return
	}
	if s.np == nil {
		if s.np, err = newNetpoll(s); err != nil {
			s.mu.Unlock()
			s.opts.Logger.Error("netpoll", "err", err)
			unix.Close(fd)
			s.open.Add(-1)
			s.m.connections.Dec()
			return
		}
	}
	np := s.np
	c.p = np.pollers[int(np.next.Add(1))%len(np.pollers)]
	s.conns[&c.conn] = struct{}{}
	s.wg.Add(1)
	if err := c.p.add(c); err != nil {
		delete(s.conns, &c.conn)
		s.mu.Unlock()
		s.wg.Done()
		unix.Close(fd) // fd, not c.fd: see add
		s.open.Add(-1)
		s.m.connections.Dec()
		return
	}
	s.mu.Unlock()
	s.m.accepted.Inc()
}

// detachFD takes the socket out of Go's runtime poller: a duplicate of its descriptor (non-blocking, close-on-exec)
// outlives the net.Conn, which is closed. A client that sent frames before it had the 101 is refused, as gorilla
// refuses it.
func detachFD(nc net.Conn, rw *bufio.ReadWriter) (int, error) {
	defer nc.Close()
	if rw != nil && rw.Reader.Buffered() > 0 {
		return -1, errors.New("client sent data before handshake is complete")
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T is not a syscall.Conn", nc)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := raw.Control(func(f uintptr) {
		fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

const netpollSupported = true
