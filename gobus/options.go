package gobus

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults from docs/protocol.md, Limits and flags.
const (
	DefaultAddr            = ":8080"
	DefaultMaxMessageBytes = 65536
	DefaultQueueLen        = 256
	DefaultMaxConnections  = 20000
	// DefaultReadBufferSize keeps an idle connection small; longer frames are read straight into a pooled buffer.
	DefaultReadBufferSize = 1024
	// TransportGorilla serves each connection with gorilla/websocket: a reader goroutine per connection, a
	// writer goroutine while its queue holds frames (the default).
	TransportGorilla = "gorilla"
	// TransportNetpoll moves each connection, after the handshake, to a few epoll loops (Linux only): an idle
	// connection has no goroutine and no buffer.
	TransportNetpoll = "netpoll"
	// DefaultCloseGrace is how long Shutdown waits for clients to answer the 1001 close before cutting them off.
	DefaultCloseGrace = 2 * time.Second
)

// Options configures a Server. A zero field takes its default.
type Options struct {
	// Addr is the listen address used by ListenAndServe (default ":8080").
	Addr string
	// MaxMessageBytes is the largest accepted client message; a longer one closes the connection with 1009
	// (default 65536).
	MaxMessageBytes int
	// QueueLen is the outbound queue per connection, in frames; a delivery finding it full is dropped
	// (default 256).
	QueueLen int
	// MaxConnections caps concurrent WebSocket connections; further upgrades get HTTP 503 (default 20000).
	MaxConnections int
	// ReadBufferSize is gorilla's per-connection read buffer (default 1024; at least 125 is used). The netpoll
	// transport has none: each poller reads into one buffer of its own.
	ReadBufferSize int
	// CloseGrace bounds how long Shutdown waits for clients to answer its close frame (default 2 s).
	CloseGrace time.Duration
	// Transport is TransportGorilla (default) or TransportNetpoll; both speak the same protocol through the same
	// routing, queues, limits and metrics.
	Transport string
	// PlantDelay and PlantDropEvery are planted faults, test knobs for the lab's calibration (never tuning; off
	// when zero): every msg delivery waits PlantDelay before it is queued (order kept), and every PlantDropEvery-th
	// msg delivery is dropped, counted as bus_dropped_total{reason="planted"}.
	PlantDelay     time.Duration
	PlantDropEvery int
	// Logger receives connection-level errors; nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.MaxMessageBytes < 0 || o.QueueLen < 0 || o.MaxConnections < 0 || o.ReadBufferSize < 0 || o.CloseGrace < 0 ||
		o.PlantDelay < 0 || o.PlantDropEvery < 0 {
		return o, fmt.Errorf("%w: negative limit in %+v", ErrInvalidOptions, o)
	}
	switch o.Transport {
	case "":
		o.Transport = TransportGorilla
	case TransportGorilla:
	case TransportNetpoll:
		if !netpollSupported {
			return o, fmt.Errorf("%w: transport %q needs Linux (epoll)", ErrInvalidOptions, o.Transport)
		}
	default:
		return o, fmt.Errorf("%w: transport %q: want %q or %q", ErrInvalidOptions, o.Transport, TransportGorilla,
			TransportNetpoll)
	}
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.QueueLen == 0 {
		o.QueueLen = DefaultQueueLen
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.ReadBufferSize == 0 {
		o.ReadBufferSize = DefaultReadBufferSize
	}
	if o.CloseGrace == 0 {
		o.CloseGrace = DefaultCloseGrace
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}
