package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// ErrNotConnected is returned by BusLink.Send while the link is between connections.
var ErrNotConnected = errors.New("not connected to the bus")

// errDuplicateID is a registration refused because the bus still holds our id (first wins): usually the
// connection we lost, which the bus has not noticed yet.
var errDuplicateID = errors.New("bus holds our id")

// Frame is a bus → client frame (docs/protocol.md).
type Frame struct {
	Type    string          `json:"type"`
	Mode    string          `json:"mode,omitempty"`
	From    string          `json:"from,omitempty"`
	To      string          `json:"to,omitempty"`
	ID      string          `json:"id,omitempty"`
	Code    string          `json:"code,omitempty"`
	Message string          `json:"message,omitempty"`
	Seq     *uint64         `json:"seq,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// LinkConfig configures a BusLink.
type LinkConfig struct {
	// URL returns the bus's WebSocket URL; it is asked again before every dial (a restarted bus container may
	// come back on another host port).
	URL func(ctx context.Context) (string, error)
	ID  string
	// OnFrame gets every frame but pongs and registration replies, from the link's reader goroutine; it must not
	// block for long (the reader stops reading meanwhile).
	OnFrame func(Frame)
	// OnUp is called (from the reader goroutine) each time the link is registered, the first time included.
	OnUp func(reconnect bool)
	// Ping is how often the link pings the bus; Dead is how long it waits for any frame before it calls the
	// connection dead and dials again (a paused bus or a disconnected network shows no error, only silence).
	Ping, Dead time.Duration
	// DialTimeout bounds one dial plus registration.
	DialTimeout time.Duration
	// BackoffMin, BackoffMax bound the wait between attempts (doubling, ±20 % jitter).
	BackoffMin, BackoffMax time.Duration
}

// LinkCounts are what a BusLink saw.
type LinkCounts struct {
	Disconnects     int64 `json:"disconnects"`      // registered connections lost (error, close or silence)
	Reconnects      int64 `json:"reconnects"`       // registrations after a loss
	DialFailures    int64 `json:"dial_failures"`    // dials or registrations that failed
	RegisterRetries int64 `json:"register_retries"` // duplicate_id while re-registering: the bus still held the old connection
	SendFailures    int64 `json:"send_failures"`    // writes refused: no connection, or the write failed
}

// BusLink is a connection to the bus that keeps itself registered: on a loss it dials again with backoff and
// registers again. Send may be called from any goroutine.
type BusLink struct {
	cfg LinkConfig

	mu   sync.Mutex // serialises writes; guards conn
	conn *websocket.Conn

	seq         atomic.Uint64
	disconnects atomic.Int64
	reconnects  atomic.Int64
	dialFails   atomic.Int64
	regRetries  atomic.Int64
	sendFails   atomic.Int64
}

// NewLink returns a link; Run connects it.
func NewBusLink(cfg LinkConfig) *BusLink {
	if cfg.Ping <= 0 {
		cfg.Ping = time.Second
	}
	if cfg.Dead <= 0 {
		cfg.Dead = 3 * time.Second
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 50 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 500 * time.Millisecond
	}
	if cfg.OnFrame == nil {
		cfg.OnFrame = func(Frame) {}
	}
	if cfg.OnUp == nil {
		cfg.OnUp = func(bool) {}
	}
	return &BusLink{cfg: cfg}
}

// Counts returns the link's counters so far.
func (l *BusLink) Counts() LinkCounts {
	return LinkCounts{Disconnects: l.disconnects.Load(), Reconnects: l.reconnects.Load(),
		DialFailures: l.dialFails.Load(), RegisterRetries: l.regRetries.Load(), SendFailures: l.sendFails.Load()}
}

// Run keeps the link connected until ctx ends; it returns nil then. Every goroutine it starts has ended when it
// returns.
func (l *BusLink) Run(ctx context.Context) error {
	backoff := l.cfg.BackoffMin
	wait := func() bool {
		d := time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64()))
		backoff = min(2*backoff, l.cfg.BackoffMax)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	registered := false
	for ctx.Err() == nil {
		c, err := l.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			l.dialFails.Add(1)
			if !wait() {
				break
			}
			continue
		}
		backoff = l.cfg.BackoffMin
		l.mu.Lock()
		l.conn = c
		l.mu.Unlock()
		if registered {
			l.reconnects.Add(1)
		}
		l.cfg.OnUp(registered)
		registered = true
		l.serve(ctx, c)
		l.mu.Lock()
		l.conn = nil
		l.mu.Unlock()
		c.Close()
		if ctx.Err() != nil {
			break
		}
		l.disconnects.Add(1)
		if !wait() {
			break
		}
	}
	return nil
}

// dial connects and registers; a duplicate_id is retried on the same connection with backoff until DialTimeout.
func (l *BusLink) dial(ctx context.Context) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, l.cfg.DialTimeout)
	defer cancel()
	url, err := l.cfg.URL(dctx)
	if err != nil {
		return nil, fmt.Errorf("bus url: %w", err)
	}
	d := websocket.Dialer{HandshakeTimeout: l.cfg.DialTimeout}
	c, resp, err := d.DialContext(dctx, url, http.Header{})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	deadline, _ := dctx.Deadline()
	stop := context.AfterFunc(dctx, func() { c.Close() }) // ctx ends a blocked read
	defer stop()
	pause := l.cfg.BackoffMin
	for {
		_ = c.SetWriteDeadline(deadline)
		if err := c.WriteJSON(map[string]any{"type": "register", "id": l.cfg.ID}); err != nil {
			c.Close()
			return nil, fmt.Errorf("register: %w", err)
		}
		err := l.awaitRegistered(c, deadline)
		if err == nil {
			_ = c.SetWriteDeadline(time.Time{})
			return c, nil
		}
		if !errors.Is(err, errDuplicateID) {
			c.Close()
			return nil, err
		}
		l.regRetries.Add(1)
		t := time.NewTimer(pause)
		select {
		case <-dctx.Done():
			t.Stop()
			c.Close()
			return nil, fmt.Errorf("register %s: %w", l.cfg.ID, errDuplicateID)
		case <-t.C:
		}
		pause = min(2*pause, l.cfg.BackoffMax)
	}
}

func (l *BusLink) awaitRegistered(c *websocket.Conn, deadline time.Time) error {
	_ = c.SetReadDeadline(deadline)
	for {
		var f Frame
		if err := c.ReadJSON(&f); err != nil {
			return fmt.Errorf("await registered: %w", err)
		}
		switch {
		case f.Type == "registered":
			return nil
		case f.Type == "error" && f.Code == "duplicate_id":
			return errDuplicateID
		case f.Type == "error":
			return fmt.Errorf("register: bus error %s: %s", f.Code, f.Message)
		}
		// A delivery cannot come before registering; anything else is ignored.
	}
}

// serve reads c until it fails, goes silent for Dead, or ctx ends; a pinger runs beside it.
func (l *BusLink) serve(ctx context.Context, c *websocket.Conn) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(l.cfg.Ping)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				c.Close() // ends the blocked read below
				return
			case <-t.C:
				_ = l.write(c, map[string]any{"type": "ping", "seq": l.seq.Add(1)})
			}
		}
	}()
	defer func() {
		close(done)
		wg.Wait()
	}()
	for {
		_ = c.SetReadDeadline(time.Now().Add(l.cfg.Dead))
		var f Frame
		if err := c.ReadJSON(&f); err != nil {
			return
		}
		if f.Type == "pong" {
			continue
		}
		l.cfg.OnFrame(f)
	}
}

func (l *BusLink) write(c *websocket.Conn, v any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c == nil || l.conn != c {
		return ErrNotConnected
	}
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	if err := c.WriteJSON(v); err != nil {
		c.Close() // a failed write leaves the connection unusable: the reader sees it and the link dials again
		return err
	}
	return nil
}

// Send sends payload to agent to (direct), or to everyone but us when to is "" (broadcast).
func (l *BusLink) Send(to string, payload any) error {
	msg := map[string]any{"type": "send", "to": to, "payload": payload}
	if to == "" {
		msg = map[string]any{"type": "broadcast", "payload": payload}
	}
	l.mu.Lock()
	c := l.conn
	l.mu.Unlock()
	if c == nil {
		l.sendFails.Add(1)
		return ErrNotConnected
	}
	if err := l.write(c, msg); err != nil {
		l.sendFails.Add(1)
		return fmt.Errorf("send to %q: %w", to, err)
	}
	return nil
}
