// Package gobus is the lab's Go message bus: agents connect over WebSocket, register an id and groups, and send
// direct, broadcast and round-robin group messages, exactly as docs/protocol.md specifies.
//
// Two transports carry the same routing, queues, limits and metrics (Options.Transport): gorilla/websocket with a
// reader goroutine per connection (conn_gorilla.go, the default), and netpoll, where connections live in a few
// epoll loops after the handshake and an idle one has no goroutine and no buffer (netpoll.go, Linux).
package gobus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// shutdownLimit bounds Shutdown whatever its context says: the protocol wants the process gone within 5 s.
const shutdownLimit = 4500 * time.Millisecond

// Server is one bus. It owns all its state (routing table, pools, metrics registry), so several can run in one
// process.
type Server struct {
	opts      Options
	m         *metrics
	upgrader  websocket.Upgrader
	frames    *framePool
	readBufs  *readBufPool
	writeBufs *bufPool
	hub       hub
	plant     *plant // planted faults; nil when off
	handler   http.Handler
	metricsH  http.Handler

	// open counts WebSocket connections, including those whose handshake is being answered: a client that has
	// its 101 is already counted, so /health never lags behind what clients see. It never exceeds MaxConnections.
	open atomic.Int64

	mu       sync.Mutex
	closing  bool
	conns    map[*conn]struct{}
	servers  []*http.Server
	shutDone chan struct{} // closed when the first Shutdown has finished

	// np is the netpoll transport's pollers (nil until its first connection), under mu.
	np *netpoll

	// noHead holds the accepted TCP connections that have not sent a valid request head yet (headwatch.go).
	noHead sync.Map

	// wg counts gorilla's connection goroutines (readers and writers) and the netpoll transport's connections.
	wg sync.WaitGroup
}

// New returns a Server for opts (zero fields take the defaults of docs/protocol.md).
func New(opts Options) (*Server, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:     opts,
		m:        newMetrics(),
		frames:   newFramePool(opts.MaxMessageBytes + 4096),
		readBufs: newReadBufPool(2*opts.MaxMessageBytes + 4096),
		// A batch is at most maxWriteBatch plus one frame of the largest size.
		writeBufs: newBufPool(4096, maxWriteBatch+2*opts.MaxMessageBytes+4096),
		hub:       newHub(),
		conns:     map[*conn]struct{}{},
		shutDone:  make(chan struct{}),
		plant:     newPlant(opts.PlantDelay, opts.PlantDropEvery),
	}
	s.plant.start(s)
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   opts.ReadBufferSize,
		WriteBufferPool:  &writeBufPool{},
		// Agents and load generators are not browsers: any origin may connect.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	s.metricsH = promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	s.handler = http.HandlerFunc(s.route)
	return s, nil
}

// Options returns the effective options, defaults filled in.
func (s *Server) Options() Options { return s.opts }

// Handler serves /ws, /health and /metrics; any other path is 404.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	s.headArrived(r)
	switch r.URL.Path {
	case "/ws":
		s.serveWS(w, r)
	case "/health":
		w.Header().Set("Content-Type", "application/json")
		b := append([]byte(`{"status":"ok","connections":`), strconv.FormatInt(s.open.Load(), 10)...)
		w.Write(append(b, "}\n"...))
	case "/metrics":
		s.metricsH.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !s.reserve() {
		s.m.rejectedMax.Inc()
		http.Error(w, "bus is at max_connections", http.StatusServiceUnavailable)
		return
	}
	s.m.connections.Inc()
	if s.opts.Transport == TransportNetpoll {
		s.serveNetpoll(w, r)
		return
	}
	ws, err := s.upgrader.Upgrade(guardedWriter{w}, r, nil)
	if err != nil {
		// Upgrade has answered the request already.
		s.open.Add(-1)
		s.m.connections.Dec()
		return
	}
	ws.SetReadLimit(int64(s.opts.MaxMessageBytes))
	c := newGorillaConn(s, ws)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ws.WriteControl(websocket.CloseMessage, goingAway(), time.Now().Add(time.Second))
		ws.Close()
		s.open.Add(-1)
		s.m.connections.Dec()
		return
	}
	s.conns[&c.conn] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.m.accepted.Inc()
	// A fresh goroutine rather than this handler's: net/http's per-request state is freed when the handler returns.
	go c.run()
}

// reserve takes a connection slot unless MaxConnections are open.
func (s *Server) reserve() bool {
	for {
		n := s.open.Load()
		if n >= int64(s.opts.MaxConnections) {
			return false
		}
		if s.open.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// goingAway is the close frame payload Shutdown sends (1001).
func goingAway() []byte {
	return websocket.FormatCloseMessage(websocket.CloseGoingAway, "bus shutting down")
}

// dropConn forgets a connection whose reader has finished.
func (s *Server) dropConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.open.Add(-1)
	s.m.connections.Dec()
}

// ListenAndServe listens on Options.Addr and serves until ctx ends or Shutdown is called.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("gobus: listen %s: %w", s.opts.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln until Shutdown is called or ctx ends, in which case it shuts the server down
// (bounded to 5 s) before returning. It returns ErrServerClosed after a shutdown, else the listener's error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ConnContext:       s.headWatchContext,
		ConnState:         s.headWatchState,
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.servers = append(s.servers, hs)
	s.mu.Unlock()

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return ErrServerClosed
		}
		return fmt.Errorf("gobus: serve: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownLimit)
		defer cancel()
		err := s.Shutdown(sctx)
		<-errc
		if err != nil {
			return err
		}
		return ErrServerClosed
	}
}

// Shutdown stops accepting, sends every connection a close frame with code 1001 (going away), waits up to
// CloseGrace for clients to answer, then closes what is left and waits for every connection goroutine. It returns
// within 4.5 s even if ctx allows longer; the error is ctx's if it ended first.
func (s *Server) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, shutdownLimit)
	defer cancel()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		select {
		case <-s.shutDone:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("gobus: shutdown: %w", ctx.Err())
		}
	}
	s.closing = true
	servers := s.servers
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	defer close(s.shutDone)
	defer s.plant.shutdown() // before shutDone: the delay line has let go of every frame when Shutdown returns
	s.opts.Logger.Info("gobus shutting down", "connections", len(conns))

	// Stop accepting; in-flight /health or /metrics requests may finish within ctx.
	var httpWG sync.WaitGroup
	for _, hs := range servers {
		httpWG.Go(func() {
			if hs.Shutdown(ctx) != nil {
				hs.Close()
			}
		})
	}

	// One absolute deadline for all close frames, so a stuck peer costs at most a second in total.
	deadline := time.Now().Add(time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	closeMsg := goingAway()
	work := make(chan *conn)
	var sendWG sync.WaitGroup
	for range min(len(conns), 32) {
		sendWG.Go(func() {
			for c := range work {
				c.sock.sendClose(closeMsg, deadline)
			}
		})
	}
	for _, c := range conns {
		work <- c
	}
	close(work)
	sendWG.Wait()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	grace := time.NewTimer(s.opts.CloseGrace)
	defer grace.Stop()
	var err error
	select {
	case <-done:
	case <-grace.C:
	case <-ctx.Done():
	}
	// Cut off clients that did not answer; their readers then clean up.
	for _, c := range conns {
		c.sock.close()
	}
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("gobus: shutdown: %w", ctx.Err())
	}
	httpWG.Wait()
	s.mu.Lock()
	np := s.np
	s.mu.Unlock()
	if np != nil {
		np.stop()
	}
	return err
}
