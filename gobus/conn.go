package gobus

import (
	"sync"
	"time"
)

// conn is one WebSocket connection as routing sees it: registration, and the outbound queue its transport
// drains. The socket side (gorilla's reader and writer goroutines, or the netpoll transport's epoll loop) is
// behind sock, so route.go does not know which transport it runs on.
type conn struct {
	s    *Server
	sock sock // nil for in-process test connections, whose queues the test drains

	// Registration, written by the reader under hub.mu held for writing, read by others under hub.mu.
	id     string
	idJSON []byte
	groups []*group
	regIdx int

	mu      sync.Mutex
	queue   []*frame // queue[head:] are waiting to be written
	head    int
	writing bool // the transport is draining the queue (or holds unwritten bytes of it)
	closed  bool // no more frames are accepted
}

// sock is the socket side of a connection: the smallest surface the transport-neutral code (queueing, routing,
// Shutdown) needs from a transport.
type sock interface {
	// wake is called, with c.mu held, each time the queue goes from idle to holding frames (writing has just been
	// set): the transport drains it with nextBatch, which clears writing once the queue is empty. It must not
	// block.
	wake()
	// sendClose writes a close frame with payload after the data being written, giving up at deadline; after it,
	// no data frame goes out.
	sendClose(payload []byte, deadline time.Time) error
	// close closes the socket now; the transport's read side then unregisters and forgets the connection.
	close()
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
	ok := false
	if t == outMsg {
		ok = s.pushMsg(c, f)
	} else {
		ok = s.pushUncounted(c, f)
	}
	if !ok {
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
	if !c.writing && c.sock != nil {
		c.writing = true
		c.sock.wake()
	}
	c.mu.Unlock()
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

// nextBatch frames queued frames onto b, as many as fit in maxWriteBatch, releasing them. With nothing queued
// (or c closed) it clears writing and reports false: the next enqueue wakes the transport again.
func (c *conn) nextBatch(b []byte) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		c.writing = false
		return b, false
	}
	n := len(b)
	for len(b) < maxWriteBatch {
		f := c.pop()
		if f == nil {
			break
		}
		b = appendServerFrame(b, f.b)
		c.s.frames.release(f)
	}
	if len(b) == n {
		c.writing = false
		return b, false
	}
	return b, true
}

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
