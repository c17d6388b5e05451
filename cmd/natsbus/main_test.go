package main

import (
	"context"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"--port", "5000", "--max-payload", "1024"}, io.Discard)
	if err != nil || o.Port != 5000 || o.HTTPPort != DefaultHTTPPort || o.MaxPayload != 1024 || o.MaxConn != 20000 || !o.NoSigs {
		t.Fatalf("%+v, %v", o, err)
	}
	for _, bad := range [][]string{{"--port", "0"}, {"--max-payload", "-1"}, {"extra"}, {"--nope"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// run serves NATS clients until its context ends, then shuts the server down and returns nil.
func TestRunServesUntilCancelled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	o, err := parseFlags([]string{"--addr", "127.0.0.1", "--port", strconv.Itoa(port), "--http-port", "-1"}, io.Discard)
	if err == nil {
		t.Fatalf("--http-port -1 accepted: %+v", o)
	}
	o, err = parseFlags([]string{"--addr", "127.0.0.1", "--port", strconv.Itoa(port)}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o.HTTPPort = -1 // any free port for the test
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, o) }()
	var c net.Conn
	deadline := time.Now().Add(10 * time.Second)
	for c == nil {
		if c, err = net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
			c = nil
			time.Sleep(20 * time.Millisecond) // waiting for the listener: no readiness signal reaches the test
		}
	}
	buf := make([]byte, 5)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "INFO " {
		t.Fatalf("read %q, %v", buf, err)
	}
	c.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}
