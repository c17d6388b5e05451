package gobus

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/gorilla/websocket"
)

// gorillaConn is a connection of the gorilla transport. Its reader goroutine lives as long as the connection; a
// writer goroutine exists only while its queue holds frames, so an idle connection costs one parked goroutine and
// a small read buffer.
type gorillaConn struct {
	conn
	ws *websocket.Conn

	// wlock (a one-slot channel, so a control write can give up at its deadline) serialises writes to the
	// socket: the writer's coalesced data frames and control frames (pong, close). Data is written to the
	// net.Conn directly, not through gorilla's writer, so one syscall carries every frame the queue held; control
	// frames still go through gorilla's WriteControl.
	wlock     chan struct{}
	ctrlDL    bool // a control write left a write deadline on the socket: clear it before the next data write
	closeSent bool // a close frame went out: nothing may follow it
}

func newGorillaConn(s *Server, ws *websocket.Conn) *gorillaConn {
	g := &gorillaConn{conn: conn{s: s}, ws: ws, wlock: make(chan struct{}, 1)}
	g.sock = g
	g.setControlHandlers()
	return g
}

// wake starts a writer goroutine. The reader goroutine holds a wg count until it has set closed (under c.mu, held
// here), so this Add never races with Wait at zero.
func (g *gorillaConn) wake() {
	g.s.wg.Add(1)
	go g.writeLoop()
}

func (g *gorillaConn) sendClose(payload []byte, deadline time.Time) error {
	return g.writeControl(websocket.CloseMessage, payload, deadline)
}

func (g *gorillaConn) close() { g.ws.Close() }

// writeLoop writes the queued frames in order, as many as fit in maxWriteBatch with one write syscall, and exits
// when the queue is empty; enqueue starts a new one on demand. Its write buffer is pooled and held only while
// the queue is being drained.
func (g *gorillaConn) writeLoop() {
	defer g.s.wg.Done()
	bp := g.s.writeBufs.get()
	defer g.s.writeBufs.put(bp)
	for {
		b, more := g.nextBatch((*bp)[:0])
		*bp = b
		if !more {
			return
		}
		if err := g.writeData(b); err != nil {
			g.mu.Lock()
			g.writing = false
			g.mu.Unlock()
			g.shut()
			// Closing the socket makes the reader goroutine fail and clean up.
			g.ws.Close()
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

// writeData writes already framed data; after a close frame it writes nothing.
func (g *gorillaConn) writeData(b []byte) error {
	g.wlock <- struct{}{}
	defer func() { <-g.wlock }()
	if g.closeSent {
		return nil
	}
	nc := g.ws.NetConn()
	if g.ctrlDL {
		g.ctrlDL = false
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
func (g *gorillaConn) writeControl(op int, data []byte, deadline time.Time) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case g.wlock <- struct{}{}:
	case <-t.C:
		return errControlTimeout
	}
	defer func() { <-g.wlock }()
	if g.closeSent {
		return websocket.ErrCloseSent
	}
	g.ctrlDL = true
	if op == websocket.CloseMessage {
		g.closeSent = true
	}
	return g.ws.WriteControl(op, data, deadline)
}

// setControlHandlers answers pings and close frames through writeControl, so they never interleave with a data
// write (gorilla's defaults would write to the socket on their own).
func (g *gorillaConn) setControlHandlers() {
	g.ws.SetPingHandler(func(data string) error {
		err := g.writeControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		if err == websocket.ErrCloseSent {
			return nil
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			g.s.m.droppedPong.Inc() // the peer does not read: the pong is dropped, the connection kept
			return nil
		}
		return err
	})
	g.ws.SetCloseHandler(func(code int, _ string) error {
		g.writeControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
		return nil
	})
}

// run is the reader goroutine: it handles frames until the connection fails or closes, then releases everything
// the connection held.
func (g *gorillaConn) run() {
	s := g.s
	defer s.wg.Done()
	err := g.readLoop()
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		// gorilla has sent close 1009 for a message over the limit, but not for a 64-bit length with its top bit
		// set (negative to it): send it here; after gorilla's own, its WriteControl refuses with ErrCloseSent.
		g.writeControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseMessageTooBig, ""),
			time.Now().Add(time.Second))
		s.m.errors[codeTooLarge].Inc()
	case !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived):
		s.opts.Logger.Debug("connection ended", "remote", g.ws.RemoteAddr().String(), "id", g.id, "err", err)
	}
	s.unregister(&g.conn)
	g.shut()
	g.ws.Close()
	s.dropConn(&g.conn)
}

func (g *gorillaConn) readLoop() error {
	s := g.s
	for {
		mt, r, err := g.ws.NextReader()
		if err != nil {
			return err
		}
		if mt != websocket.TextMessage {
			s.malformed(&g.conn, nil, "binary frames are not part of the protocol")
			// Read the body to its end here, under the size limit: left to the next NextReader, its remaining
			// fragments were added to the next message's size, and a text message after a large binary one was
			// closed with 1009 (TestDifferential, seed 2).
			var discard [512]byte
			if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, discard[:]); err != nil {
				return err
			}
			continue
		}
		bp := s.readBufs.get()
		data, err := readAll(r, bp)
		if err != nil {
			s.readBufs.put(bp)
			return err
		}
		s.handleFrame(&g.conn, data)
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
