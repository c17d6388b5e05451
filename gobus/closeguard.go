package gobus

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// closeGuard is the gorilla transport's socket: every write to it — the bus's coalesced data frames and gorilla's
// own control frames — passes one lock, and nothing is written after a close frame (RFC 6455 §5.5.1). gorilla
// writes a close frame by itself on a protocol error (1002) and at the read limit (1009), outside gobus's write
// lock, so without the guard a writer draining the queue could put data frames after it (the transport fuzz
// target found it: FuzzGorillaFrames).
type closeGuard struct {
	net.Conn
	mu     sync.Mutex
	closed bool // a close frame has been written
}

func (g *closeGuard) Write(b []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(b), nil // the peer must not see it; the connection is ending
	}
	// A server frame is unmasked and written whole: gorilla's control writes and the bus's data batches (which
	// start with a text frame, 0x81) are each one Write, so a close frame is a Write starting with 0x88.
	if len(b) > 0 && b[0] == 0x88 {
		g.closed = true
	}
	return g.Conn.Write(b)
}

// guardedWriter hands gorilla's upgrader the hijacked connection inside a closeGuard.
type guardedWriter struct {
	http.ResponseWriter
}

func (w guardedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	c, rw, err := h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	return &closeGuard{Conn: c}, rw, nil
}
