package loadgen

import (
	"bytes"
	"testing"
)

// feed hands stream to c.nextMessage the way the rx loop does: the bytes arrive cut at split, and whatever is
// incomplete waits for the next chunk. It returns the messages in order.
func feed(t *testing.T, c *wsConn, stream []byte, split int) []string {
	t.Helper()
	var got []string
	var in []byte
	for off := 0; off < len(stream); off += split {
		in = append(in, stream[off:min(off+split, len(stream))]...)
		for {
			msg, used, err := c.nextMessage(in)
			if err != nil {
				t.Fatalf("split %d: %v", split, err)
			}
			if used == 0 {
				break
			}
			in = in[used:]
			if msg != nil {
				got = append(got, string(msg))
			}
		}
	}
	if len(in) != 0 {
		t.Fatalf("split %d: %d bytes left unparsed", split, len(in))
	}
	return got
}

func TestNextMessageWebSocketAnySplit(t *testing.T) {
	long := bytes.Repeat([]byte("y"), 300) // a 126-length header
	var stream []byte
	stream = append(stream, 0x81, 5)
	stream = append(stream, "hello"...)
	stream = append(stream, 0x81, 126, byte(len(long)>>8), byte(len(long)))
	stream = append(stream, long...)
	// A masked frame (servers do not mask, but the parser accepts it), a binary frame (skipped), a fragmented
	// text message with a control frame (pong, ignored) between its fragments.
	masked := appendFrame(nil, opText, []byte("masked!"), 0x01020304)
	stream = append(stream, masked...)
	stream = append(stream, 0x82, 2, 'b', 'b')
	stream = append(stream, 0x01, 3, 'a', 'b', 'c', 0x8A, 0, 0x80, 2, 'd', 'e')
	want := []string{"hello", string(long), "masked!", "abcde"}
	for _, split := range []int{1, 2, 3, 7, 64, len(stream)} {
		c := &wsConn{fd: -1}
		got := feed(t, c, stream, split)
		if len(got) != len(want) {
			t.Fatalf("split %d: %d messages, want %d: %q", split, len(got), len(want), got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("split %d: message %d = %q, want %q", split, i, got[i], want[i])
			}
		}
	}
	if _, _, err := (&wsConn{fd: -1}).nextMessage([]byte{0x88, 2, 0x03, 0xE8}); err != errClosed {
		t.Fatalf("close frame: %v, want errClosed", err)
	}
	if _, _, err := (&wsConn{fd: -1}).nextMessage([]byte{0x81, 127, 0, 0, 0, 0, 0x10, 0, 0, 0}); err == nil {
		t.Fatal("a 256 MiB frame was accepted")
	}
}

func TestNextMessageNATSAnySplit(t *testing.T) {
	stream := []byte("INFO {\"x\":1}\r\n+OK\r\nPONG\r\nMSG g00-a000001 1 5\r\nhello\r\nMSG bcast 2 reply.to 0\r\n\r\n" +
		"MSG g00-a000002 1 13\r\nwith\r\nnewline\r\n")
	want := []string{natsRegistered, "hello", "", "with\r\nnewline"}
	for _, split := range []int{1, 2, 5, 13, len(stream)} {
		got := feed(t, &wsConn{fd: -1, nats: true}, stream, split)
		if len(got) != len(want) {
			t.Fatalf("split %d: %q, want %q", split, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("split %d: message %d = %q, want %q", split, i, got[i], want[i])
			}
		}
	}
	if _, _, err := (&wsConn{fd: -1, nats: true}).nextMessage([]byte("-ERR 'Authorization Violation'\r\n")); err == nil {
		t.Fatal("-ERR accepted")
	}
}
