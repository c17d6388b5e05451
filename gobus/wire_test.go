package gobus

import (
	"bufio"
	"encoding/binary"
	"io"
	"testing"
	"time"
)

// rawFrame is one server → client frame read off a raw socket.
type rawFrame struct {
	op      byte
	fin     bool
	payload []byte
}

func readRawFrame(t *testing.T, r *bufio.Reader) rawFrame {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatalf("read frame header: %v", err)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		io.ReadFull(r, x[:])
		n = uint64(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		io.ReadFull(r, x[:])
		n = binary.BigEndian.Uint64(x[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		t.Fatalf("read frame payload: %v", err)
	}
	return rawFrame{op: h[0] & 0x0f, fin: h[0]&0x80 != 0, payload: p}
}

// clientFrame is a masked client frame (mask key 1 2 3 4).
func clientFrame(op byte, fin bool, p []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	mask := [4]byte{1, 2, 3, 4}
	var b []byte
	switch n := len(p); {
	case n < 126:
		b = []byte{b0, 0x80 | byte(n)}
	default:
		b = []byte{b0, 0x80 | 126, byte(n >> 8), byte(n)}
	}
	b = append(b, mask[:]...)
	for i, x := range p {
		b = append(b, x^mask[i%4])
	}
	return b
}

// Frames split across reads, fragmented messages with a ping between the fragments, and the close handshake behave
// the same on both transports (the netpoll transport parses frames itself).
func TestWireFraming(t *testing.T) { forEachTransport(t, testWireFraming) }

func testWireFraming(t *testing.T, tr string) {
	ls := startServer(t, Options{Transport: tr})
	c := rawClient(t, ls.addr, false, 0)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)

	// A register frame one byte per write: the bus sees partial headers and payloads.
	for _, x := range clientFrame(0x1, true, []byte(`{"type":"register","id":"split"}`)) {
		if _, err := c.Write([]byte{x}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if f := readRawFrame(t, r); f.op != 0x1 || string(f.payload) != `{"type":"registered","id":"split"}` {
		t.Fatalf("register reply %d %q", f.op, f.payload)
	}

	// A ping (to self) in three fragments, a control ping between the first two.
	msg := []byte(`{"type":"ping","seq":7}`)
	var b []byte
	b = append(b, clientFrame(0x1, false, msg[:5])...)
	b = append(b, clientFrame(0x9, true, []byte("hi"))...)
	b = append(b, clientFrame(0x0, false, msg[5:12])...)
	b = append(b, clientFrame(0x0, true, msg[12:])...)
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	if f := readRawFrame(t, r); f.op != 0xA || string(f.payload) != "hi" {
		t.Fatalf("want pong \"hi\", got %d %q", f.op, f.payload)
	}
	if f := readRawFrame(t, r); f.op != 0x1 || string(f.payload) != `{"type":"pong","seq":7}` {
		t.Fatalf("want the reassembled ping's pong, got %d %q", f.op, f.payload)
	}

	// Close 1000 is echoed, then the bus closes the connection and forgets it.
	if _, err := c.Write(clientFrame(0x8, true, []byte{0x03, 0xE8})); err != nil {
		t.Fatal(err)
	}
	if f := readRawFrame(t, r); f.op != 0x8 || len(f.payload) < 2 || binary.BigEndian.Uint16(f.payload) != 1000 {
		t.Fatalf("want close 1000 echoed, got %d %v", f.op, f.payload)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("after the close: %v, want EOF", err)
	}
	waitFor(t, "the connection to be released", func() bool { return ls.open.Load() == 0 })
}

// Protocol violations end the connection with close 1002, as gorilla does.
func TestWireProtocolErrors(t *testing.T) { forEachTransport(t, testWireProtocolErrors) }

func testWireProtocolErrors(t *testing.T, tr string) {
	ls := startServer(t, Options{Transport: tr})
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"unmasked", []byte{0x81, 2, '{', '}'}},
		{"reserved bits", append([]byte{0x80 | 0x40 | 0x1}, clientFrame(0x1, true, []byte("{}"))[1:]...)},
		{"reserved opcode", clientFrame(0x3, true, []byte("{}"))},
		{"fragmented control", clientFrame(0x9, false, nil)},
		{"continuation first", clientFrame(0x0, true, []byte("{}"))},
		{"close code 1005", clientFrame(0x8, true, []byte{0x03, 0xED})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawClient(t, ls.addr, false, 0)
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(tc.frame); err != nil {
				t.Fatal(err)
			}
			f := readRawFrame(t, bufio.NewReader(c))
			if f.op != 0x8 || len(f.payload) < 2 || binary.BigEndian.Uint16(f.payload) != 1002 {
				t.Fatalf("want close 1002, got %d %q", f.op, f.payload)
			}
		})
	}
	waitFor(t, "the connections to be released", func() bool { return ls.open.Load() == 0 })
}
