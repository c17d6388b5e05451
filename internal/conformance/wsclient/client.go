// Package wsclient is a small client for the agentlab bus protocol (docs/protocol.md), written from the document
// alone. The conformance suite and the bus-load scenario both use it.
//
// A Conn has one reader goroutine, started by the first call that reads (Next, Register, Barrier, ExpectClose,
// ControlPing, Close). It reads at most one frame ahead and hands frames over through an unbuffered channel, so a
// Conn nobody reads from stops reading its socket: that is how a test plays a slow consumer. Writes are serialised by a mutex and
// may be called from any goroutine; Next must be called from one goroutine at a time.
package wsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// FenceSeqBase is the first seq Barrier uses for its pings; tests keep their own seqs below it.
const FenceSeqBase uint64 = 1 << 62

// DefaultWriteBufferSize makes every message up to the protocol's default 64 KiB limit go out as one frame
// (gorilla's client splits larger messages into frames of at most the write buffer's size).
const DefaultWriteBufferSize = 64*1024 + 1024

// Dialer opens connections. Its zero value is ready to use; one Dialer may be shared by many goroutines, and
// connections of one Dialer share a pool of write buffers (a buffer is held only while a message is written).
type Dialer struct {
	// WriteBufferSize is the largest frame this client writes; longer messages are fragmented. 0 means
	// DefaultWriteBufferSize.
	WriteBufferSize int
	// EnableCompression offers permessage-deflate; Subprotocols offers subprotocols (the bus must accept neither).
	EnableCompression bool
	Subprotocols      []string
	// HandshakeTimeout bounds the TCP connect plus upgrade when ctx has no earlier deadline; 0 means 10 s.
	HandshakeTimeout time.Duration

	pool sync.Pool
}

// HandshakeError is returned by Dial when the server answers the upgrade request with something other than 101.
type HandshakeError struct {
	StatusCode int
	Body       string
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("websocket handshake refused: HTTP %d %q", e.StatusCode, e.Body)
}

// Dial connects to a bus WebSocket URL (ws://host:port/ws) with default settings.
func Dial(ctx context.Context, url string) (*Conn, error) {
	var d Dialer
	return d.Dial(ctx, url)
}

// Dial connects to url. A refused upgrade is a *HandshakeError.
func (d *Dialer) Dial(ctx context.Context, url string) (*Conn, error) {
	wbs := d.WriteBufferSize
	if wbs == 0 {
		wbs = DefaultWriteBufferSize
	}
	ht := d.HandshakeTimeout
	if ht == 0 {
		ht = 10 * time.Second
	}
	gd := websocket.Dialer{
		HandshakeTimeout:  ht,
		WriteBufferSize:   wbs,
		WriteBufferPool:   &d.pool,
		EnableCompression: d.EnableCompression,
		Subprotocols:      d.Subprotocols,
	}
	ws, resp, err := gd.DialContext(ctx, url, nil)
	if err != nil {
		if errors.Is(err, websocket.ErrBadHandshake) && resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			return nil, &HandshakeError{StatusCode: resp.StatusCode, Body: string(body)}
		}
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	c := &Conn{
		ws:       ws,
		Response: resp,
		frames:   make(chan item),
		done:     make(chan struct{}),
		quit:     make(chan struct{}),
		pongs:    make(chan string, 16),
	}
	// Record control pongs for ControlPing; the default handler does nothing.
	ws.SetPongHandler(func(data string) error {
		select {
		case c.pongs <- data:
		default:
		}
		return nil
	})
	return c, nil
}

type item struct {
	f   Frame
	err error
}

// Conn is one client connection to the bus.
type Conn struct {
	ws *websocket.Conn
	// Response is the server's handshake response (status 101, its headers tell the negotiated extensions).
	Response *http.Response

	wmu   sync.Mutex
	once  sync.Once
	fence atomic.Uint64

	frames   chan item
	done     chan struct{} // closed when the reader stopped; readErr is set before
	quit     chan struct{} // closed by Close and Abort
	quitOnce sync.Once
	readErr  error
	pongs    chan string
}

func (c *Conn) startReader() { c.once.Do(func() { go c.readLoop() }) }

func (c *Conn) readLoop() {
	defer close(c.done)
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readErr = err
			return
		}
		it := item{f: Frame{Raw: data, Binary: typ == websocket.BinaryMessage}}
		if !it.f.Binary {
			it.f, it.err = ParseFrame(data)
		}
		// Blocks until a Next takes it (or the conn is closed): an unread Conn stops reading its socket.
		select {
		case c.frames <- it:
		case <-c.quit:
			c.readErr = net.ErrClosed
			return
		}
	}
}

// shut closes the socket and releases a reader blocked on handing over a frame.
func (c *Conn) shut() error {
	err := c.ws.Close()
	c.quitOnce.Do(func() { close(c.quit) })
	return err
}

// Next returns the next frame from the bus. A frame that is not a JSON object is returned with a non-nil error.
// When the connection ended, the error is the read error (a *websocket.CloseError carries the close code).
func (c *Conn) Next(ctx context.Context) (Frame, error) {
	c.startReader()
	select {
	case it := <-c.frames:
		return it.f, it.err
	case <-c.done:
		return Frame{}, c.readErr
	case <-ctx.Done():
		return Frame{}, fmt.Errorf("waiting for a frame: %w", ctx.Err())
	}
}

// ExpectClose reads until the bus closes the connection, closes the socket, and returns the close code. A data
// frame arriving first is an error (the protocol sends nothing before a size-limit or shutdown close). A
// connection that ends without a close frame yields 1006 (gorilla's abnormal closure) or the read error.
func (c *Conn) ExpectClose(ctx context.Context) (int, error) {
	f, err := c.Next(ctx)
	if err == nil {
		return 0, fmt.Errorf("frame before close: %s", f)
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		// gorilla has answered the close frame; the connection is over, so release the socket as a client
		// should (a bus may wait for the TCP close before it forgets the connection).
		_ = c.shut()
		return ce.Code, nil
	}
	if f.Raw != nil {
		return 0, fmt.Errorf("frame before close: %s (%v)", f, err)
	}
	return 0, fmt.Errorf("connection ended without a close frame: %w", err)
}

func (c *Conn) write(ctx context.Context, typ int, data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	dl, _ := ctx.Deadline()
	if err := c.ws.SetWriteDeadline(dl); err != nil {
		return err
	}
	// A cancel without a deadline still unblocks a write stuck on a full socket.
	stop := context.AfterFunc(ctx, func() { _ = c.ws.NetConn().SetWriteDeadline(time.Now()) })
	defer stop()
	if err := c.ws.WriteMessage(typ, data); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// WriteText sends data as one text message, whatever it holds (tests send malformed frames this way).
func (c *Conn) WriteText(ctx context.Context, data []byte) error {
	return c.write(ctx, websocket.TextMessage, data)
}

// WriteBinary sends data as one binary message.
func (c *Conn) WriteBinary(ctx context.Context, data []byte) error {
	return c.write(ctx, websocket.BinaryMessage, data)
}

// Send sends a direct message to the agent with id to.
func (c *Conn) Send(ctx context.Context, to string, m Msg) error {
	return c.WriteText(ctx, SendFrame(to, m))
}

// Broadcast sends m to every other registered agent.
func (c *Conn) Broadcast(ctx context.Context, m Msg) error {
	return c.WriteText(ctx, BroadcastFrame(m))
}

// Group sends m to one member of group, chosen round-robin by the bus.
func (c *Conn) Group(ctx context.Context, group string, m Msg) error {
	return c.WriteText(ctx, GroupFrame(group, m))
}

// Ping sends an application-level ping; the bus answers with a pong frame echoing seq and ts.
func (c *Conn) Ping(ctx context.Context, seq *uint64, ts *int64) error {
	return c.WriteText(ctx, PingFrame(seq, ts))
}

// Error is a bus error frame returned by Register.
type Error struct{ Frame Frame }

func (e *Error) Error() string { return fmt.Sprintf("bus error %s: %s", e.Frame.Code, e.Frame.Message) }

// Register registers the connection as id, member of groups, and waits for the reply. An error frame from the bus
// is returned as *Error. Call it before other traffic can arrive (an unregistered connection receives only replies).
func (c *Conn) Register(ctx context.Context, id string, groups ...string) error {
	if err := c.WriteText(ctx, RegisterFrame(id, groups...)); err != nil {
		return err
	}
	f, err := c.Next(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("register %s: %w", id, err)
	case f.Type == "error":
		return &Error{Frame: f}
	case f.Type != "registered" || f.ID != id:
		return fmt.Errorf("register %s: unexpected reply %s", id, f)
	}
	return nil
}

// Barrier sends a ping and returns every frame that arrived before its pong. Because the bus answers a
// connection's messages in order through one outbound queue, everything the bus had queued for this connection
// when it read the ping comes back in the slice.
func (c *Conn) Barrier(ctx context.Context) ([]Frame, error) {
	seq := FenceSeqBase + c.fence.Add(1)
	if err := c.Ping(ctx, &seq, nil); err != nil {
		return nil, err
	}
	var before []Frame
	for {
		f, err := c.Next(ctx)
		if err != nil {
			return before, fmt.Errorf("barrier: %w", err)
		}
		if s, ok := f.Seq(); ok && f.Type == "pong" && s == seq {
			return before, nil
		}
		before = append(before, f)
	}
}

// ControlPing sends a WebSocket (RFC 6455) ping with data and waits for the matching pong.
func (c *Conn) ControlPing(ctx context.Context, data string) error {
	c.startReader()
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(10 * time.Second)
	}
	if err := c.ws.WriteControl(websocket.PingMessage, []byte(data), dl); err != nil {
		return fmt.Errorf("control ping: %w", err)
	}
	// The pong handler runs on the reader goroutine, which only reads while frames are taken: drain them here.
	for {
		select {
		case got := <-c.pongs:
			if got == data {
				return nil
			}
		case it := <-c.frames:
			return fmt.Errorf("control ping: frame %s arrived before the pong", it.f)
		case <-c.done:
			return fmt.Errorf("control ping: connection ended: %w", c.readErr)
		case <-ctx.Done():
			return fmt.Errorf("control ping: %w", ctx.Err())
		}
	}
}

// Close performs the closing handshake (code 1000), waits for the bus's close frame until ctx ends, and closes
// the socket. Frames still in flight are discarded.
func (c *Conn) Close(ctx context.Context) error {
	c.startReader()
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	dl, _ := ctx.Deadline()
	werr := c.ws.WriteControl(websocket.CloseMessage, msg, dl)
	if werr == nil {
		for {
			if _, err := c.Next(ctx); err != nil {
				break
			}
		}
	}
	cerr := c.shut()
	if werr != nil && !errors.Is(werr, websocket.ErrCloseSent) {
		return fmt.Errorf("close: %w", werr)
	}
	return cerr
}

// Abort closes the socket without a closing handshake.
func (c *Conn) Abort() error { return c.shut() }

// NetConn is the underlying TCP connection (for socket options and addresses; never read or write it).
func (c *Conn) NetConn() net.Conn { return c.ws.NetConn() }
