package gobus

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A control frame waits for a data write in progress only until its deadline, then gives up with a timeout (the
// ping handler then carries on reading); with the socket free it goes out, and after a close frame no data does.
func TestWriteControlOrderAndDeadline(t *testing.T) {
	ls := startServer(t, Options{})
	cl := ls.dial(t)
	var c *gorillaConn
	waitFor(t, "the connection to be served", func() bool {
		ls.mu.Lock()
		defer ls.mu.Unlock()
		for k := range ls.conns {
			c = k.sock.(*gorillaConn)
		}
		return c != nil
	})

	c.wlock <- struct{}{} // a data write holds the socket
	start := time.Now()
	err := c.writeControl(websocket.PongMessage, nil, time.Now().Add(50*time.Millisecond))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || time.Since(start) > 2*time.Second {
		t.Fatalf("writeControl with the socket held: %v after %v, want a timeout at the deadline", err, time.Since(start))
	}
	<-c.wlock

	got := make(chan string, 1)
	cl.ws.SetPongHandler(func(s string) error { got <- s; return nil })
	if err := c.writeControl(websocket.PongMessage, []byte("p"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := c.writeControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""),
		time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// Data after the close frame is dropped, not written.
	if err := c.writeData(appendServerFrame(nil, []byte(`{"type":"pong"}`))); err != nil {
		t.Fatal(err)
	}
	cl.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = cl.ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("read %v, want close 1001 with nothing before it", err)
	}
	if s := <-got; s != "p" {
		t.Fatalf("pong %q", s)
	}
}

// appendServerFrame's three length encodings (RFC 6455 §5.2).
func TestAppendServerFrame(t *testing.T) {
	for _, tc := range []struct {
		n    int
		head []byte
	}{{0, []byte{0x81, 0}}, {125, []byte{0x81, 125}}, {126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xFF, 0xFF}}, {65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}}} {
		b := appendServerFrame([]byte("x"), make([]byte, tc.n))
		if string(b[1:1+len(tc.head)]) != string(tc.head) || len(b) != 1+len(tc.head)+tc.n {
			t.Errorf("n=%d: header % x, length %d", tc.n, b[1:1+len(tc.head)], len(b))
		}
	}
}
