package gobus

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one WebSocket connection. Its reader goroutine lives as long as the connection; a writer goroutine
// exists only while its queue holds frames, so an idle connection costs one parked goroutine and a small read
// buffer.
type conn struct {
	s  *Server
	ws *websocket.Conn // nil for in-process test connections, whose queues the test drains

	// Registration, written by the reader goroutine under hub.mu held for writing, read by others under hub.mu.
	id     string
	idJSON []byte
	groups []*group
	regIdx int

	mu      sync.Mutex
	queue   []*frame // queue[head:] are waiting to be written
	head    int
	writing bool // a writer goroutine is running
	closed  bool // no more frames are accepted

	// wlock (a one-slot channel, so a control write can give up at its deadline) serialises writes to the
	// socket: the writer's coalesced data frames and control frames (pong, close). Data is written to the
	// net.Conn directly, not through gorilla's writer, so one syscall carries every frame the queue held; control
	// frames still go through gorilla's WriteControl.
	wlock     chan struct{}
	ctrlDL    bool // a control write left a write deadline on the socket: clear it before the next data write
	closeSent bool // a close frame went out: nothing may follow it
}

type pushResult uint8

const (
	pushQueued pushResult = iota
	pushFull
	pushClosed
)

// push hands one reference of f to c's queue and counts the outcome. It reports whether f was queued.
func (s *Server) push(c *conn, f *frame, t outType) bool {
	n := len(f.b) // once queued, f may be written and recycled at any moment
	if !s.pushUncounted(c, f) {
		return false
	}
	s.m.messagesOut[t].Inc()
	s.m.bytesOut.Add(float64(n))
	return true
}

// pushUncounted is push without the out counters, for callers that add them up once (broadcast); drops are
// still counted here.
func (s *Server) pushUncounted(c *conn, f *frame) bool {
	switch c.enqueue(f) {
	case pushQueued:
		return true
	case pushFull:
		s.m.droppedSlow.Inc()
	}
	s.frames.release(f)
	return false
}

func (c *conn) enqueue(f *frame) pushResult {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return pushClosed
	}
	if len(c.queue)-c.head >= c.s.opts.QueueLen {
		c.mu.Unlock()
		return pushFull
	}
	if len(c.queue) == cap(c.queue) && c.head > 0 {
		// Slide the live frames to the front instead of growing past the written ones.
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue = c.queue[:n]
		c.head = 0
	}
	c.queue = append(c.queue, f)
	start := !c.writing && c.ws != nil
	if start {
		c.writing = true
		// The reader goroutine holds a count until it has set closed, so this Add never races with Wait at zero.
		c.s.wg.Add(1)
	}
	c.mu.Unlock()
	if start {
		go c.writeLoop()
	}
	return pushQueued
}

// pop takes the oldest queued frame, or nil when the queue is empty.
func (c *conn) pop() *frame {
	if c.head == len(c.queue) {
		return nil
	}
	f := c.queue[c.head]
	c.queue[c.head] = nil
	c.head++
	if c.head == len(c.queue) {
		c.head = 0
		c.queue = c.queue[:0]
		if cap(c.queue) > 64 {
			c.queue = nil // a burst is over: don't keep its backing array on an idle connection
		}
	}
	return f
}

// maxWriteBatch bounds the bytes one write syscall carries; a single larger frame goes alone.
const maxWriteBatch = 64 << 10

// writeLoop writes the queued frames in order, as many as fit in maxWriteBatch with one write syscall, and exits
// when the queue is empty; enqueue starts a new one on demand. Its write buffer is pooled and held only while
// the queue is being drained.
func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	bp := c.s.writeBufs.get()
	defer c.s.writeBufs.put(bp)
	for {
		b := (*bp)[:0]
		c.mu.Lock()
		if c.closed {
			c.writing = false
			c.mu.Unlock()
			return
		}
		for len(b) < maxWriteBatch {
			f := c.pop()
			if f == nil {
				break
			}
			b = appendServerFrame(b, f.b)
			c.s.frames.release(f)
		}
		if len(b) == 0 {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		*bp = b
		if err := c.writeData(b); err != nil {
			c.mu.Lock()
			c.writing = false
			c.mu.Unlock()
			c.shut()
			// Closing the socket makes the reader goroutine fail and clean up.
			c.ws.Close()
			return
		}
	}
}

// errControlTimeout: a control frame could not be written before its deadline (a data write held the socket).
var errControlTimeout = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "gobus: control frame: write deadline exceeded" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// appendServerFrame appends one final, unmasked text frame holding p (RFC 6455 §5.2).
func appendServerFrame(b, p []byte) []byte {
	n := len(p)
	switch {
	case n < 126:
		b = append(b, 0x81, byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x81, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x81, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, p...)
}

// writeData writes already framed data; after a close frame it writes nothing.
func (c *conn) writeData(b []byte) error {
	c.wlock <- struct{}{}
	defer func() { <-c.wlock }()
	if c.closeSent {
		return nil
	}
	nc := c.ws.NetConn()
	if c.ctrlDL {
		c.ctrlDL = false
		if err := nc.SetWriteDeadline(time.Time{}); err != nil {
			return err
		}
	}
	_, err := nc.Write(b)
	return err
}

// writeControl writes a control frame through gorilla, in order with data writes; like gorilla's own, it gives up
// at deadline, also while a data write holds the socket (that write is left alone: a slow reader is not cut off
// for a ping).
func (c *conn) writeControl(op int, data []byte, deadline time.Time) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case c.wlock <- struct{}{}:
	case <-t.C:
		return errControlTimeout
	}
	defer func() { <-c.wlock }()
	if c.closeSent {
		return websocket.ErrCloseSent
	}
	c.ctrlDL = true
	if op == websocket.CloseMessage {
		c.closeSent = true
	}
	return c.ws.WriteControl(op, data, deadline)
}

// setControlHandlers answers pings and close frames through writeControl, so they never interleave with a data
// write (gorilla's defaults would write to the socket on their own).
func (c *conn) setControlHandlers() {
	c.ws.SetPingHandler(func(data string) error {
		err := c.writeControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		if err == websocket.ErrCloseSent {
			return nil
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
	c.ws.SetCloseHandler(func(code int, _ string) error {
		c.writeControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
		return nil
	})
}

// shut stops accepting frames and releases the queued ones.
func (c *conn) shut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for f := c.pop(); f != nil; f = c.pop() {
		c.s.frames.release(f)
	}
	c.queue = nil
}

// run is the reader goroutine: it handles frames until the connection fails or closes, then releases everything
// the connection held.
func (c *conn) run() {
	s := c.s
	defer s.wg.Done()
	err := c.readLoop()
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		// gorilla has already sent close 1009.
		s.m.errors[codeTooLarge].Inc()
	case !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived):
		s.opts.Logger.Debug("connection ended", "remote", c.ws.RemoteAddr().String(), "id", c.id, "err", err)
	}
	s.unregister(c)
	c.shut()
	c.ws.Close()
	s.dropConn(c)
}

func (c *conn) readLoop() error {
	s := c.s
	for {
		mt, r, err := c.ws.NextReader()
		if err != nil {
			return err
		}
		if mt != websocket.TextMessage {
			// The unread body is discarded by the next NextReader, which still enforces the size limit.
			s.malformed(c, nil, "binary frames are not part of the protocol")
			continue
		}
		bp := s.readBufs.get()
		data, err := readAll(r, bp)
		if err != nil {
			s.readBufs.put(bp)
			return err
		}
		s.handleFrame(c, data)
		s.readBufs.put(bp)
	}
}

// readAll reads r to the end into *bp, growing it as needed, and leaves the grown buffer in *bp.
func readAll(r io.Reader, bp *[]byte) ([]byte, error) {
	b := (*bp)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			*bp = b
			if err == io.EOF {
				return b, nil
			}
			return b, err
		}
	}
}
