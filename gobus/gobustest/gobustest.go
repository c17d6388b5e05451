// Package gobustest runs a gobus in-process on loopback for tests of other packages (the load generator, the
// conformance suite): the bus's real behaviour without Docker.
package gobustest

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/agentlab/agentlab/gobus"
)

// Bus is a gobus serving on 127.0.0.1 until the test ends.
type Bus struct {
	Server *gobus.Server
	Addr   string // host:port

	done chan struct{} // closed when Serve has returned
	err  error         // Serve's result, valid after done
}

// Start serves a new gobus with opts; the test's cleanup stops it and reports any Serve error.
func Start(t testing.TB, opts gobus.Options) *Bus {
	t.Helper()
	srv, err := gobus.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bus{Server: srv, Addr: ln.Addr().String(), done: make(chan struct{})}
	go func() {
		b.err = srv.Serve(ctx, ln)
		close(b.done)
	}()
	t.Cleanup(func() {
		cancel()
		if err := b.Wait(context.Background()); err != nil {
			t.Errorf("gobus serve: %v", err)
		}
	})
	return b
}

// WSURL is the bus's WebSocket endpoint.
func (b *Bus) WSURL() string { return "ws://" + b.Addr + "/ws" }

// Wait waits for Serve to return: nil when it ended by shutdown, its error otherwise, or ctx's error.
func (b *Bus) Wait(ctx context.Context) error {
	select {
	case <-b.done:
		if errors.Is(b.err, gobus.ErrServerClosed) {
			return nil
		}
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
