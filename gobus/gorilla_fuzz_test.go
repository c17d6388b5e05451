package gobus

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzGorillaFrames is FuzzNetpollFrames for the gorilla transport: the stream goes through the bus's real
// handler (serveWS: the upgrade, the read limit, the control handlers, the reader and writer goroutines) over a
// net.Pipe, one Write per chunk. The same oracle judges it, in gorilla's dialect.
//
//	go test -run '^$' -fuzz FuzzGorillaFrames -fuzztime 1000000x ./gobus/
func FuzzGorillaFrames(f *testing.F) {
	streams, splits := wireSeeds(wireFuzzOptions(TransportGorilla).MaxMessageBytes)
	for i := range streams {
		f.Add(streams[i], splits[i])
	}
	f.Fuzz(func(t *testing.T, stream, splits []byte) {
		checkWire(t, TransportGorilla, gorillaDialect, runGorilla, stream, splits)
	})
}

// hijacker is the ResponseWriter net/http would give serveWS, over one end of a net.Pipe.
type hijacker struct {
	h http.Header
	c net.Conn
}

func (w *hijacker) Header() http.Header         { return w.h }
func (w *hijacker) Write(b []byte) (int, error) { return w.c.Write(b) }
func (w *hijacker) WriteHeader(int)             {}
func (w *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.c, bufio.NewReadWriter(bufio.NewReader(w.c), bufio.NewWriter(w.c)), nil
}

// runGorilla upgrades one end of a net.Pipe through s's handler and writes the phases to the other, each chunk one
// Write; it waits for the barrier's pong before the closing phase, then for the bus to close the pipe.
func runGorilla(t *testing.T, s *Server, phases [][]byte, splits []byte) []byte {
	t.Helper()
	cli, srv := net.Pipe()
	defer cli.Close()
	deadline := time.Now().Add(10 * time.Second)
	cli.SetDeadline(deadline)

	type result struct {
		out []byte
		err error
	}
	barrier := make(chan struct{})
	done := make(chan result, 1)
	go func() {
		// The 101 response, then frames until the bus closes the pipe.
		r := bufio.NewReader(cli)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				done <- result{err: err}
				return
			}
			if line == "\r\n" {
				break
			}
		}
		var out []byte
		seen := false
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			out = append(out, buf[:n]...)
			if !seen && bytes.Contains(out, barrierPong) {
				seen = true
				close(barrier)
			}
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
					err = nil
				}
				done <- result{out, err}
				return
			}
		}
	}()

	req := httptest.NewRequest(http.MethodGet, "http://bus/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	s.serveWS(&hijacker{h: http.Header{}, c: srv}, req)

	write := func(phase []byte) bool {
		for _, chunk := range chunks(phase, splits) {
			if _, err := cli.Write(chunk); err != nil {
				return false // the bus closed the pipe
			}
		}
		return true
	}
	var res result
	for i, phase := range phases {
		if !write(phase) {
			break
		}
		if i == 1 { // the barrier: everything before it has been answered once its pong is here
			select {
			case <-barrier:
			case res = <-done:
				done <- res
			case <-time.After(time.Until(deadline)):
				t.Fatal("no pong for the barrier ping")
			}
		}
	}
	select {
	case res = <-done:
	case <-time.After(time.Until(deadline) + time.Second):
		t.Fatal("the bus did not close the connection")
	}
	if res.err != nil {
		t.Fatalf("reading the bus: %v", res.err)
	}
	s.wg.Wait()
	return res.out
}
