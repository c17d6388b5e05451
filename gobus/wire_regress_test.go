//go:build linux

package gobus

import (
	"slices"
	"testing"
)

// Crashers and findings of the transport fuzz targets, kept as regression tests on both transports.
func TestWireRegressions(t *testing.T) {
	zero := [4]byte{}
	for _, tc := range []struct {
		name           string
		stream, splits []byte
		repeat         int // a race: tried this many times
	}{
		// A continuation frame whose 64-bit length wraps the message total around zero: the netpoll parser took it
		// for a small frame and sliced out of range (panic). It is too large: close 1009.
		{"length overflows the message total", append(maskedFrame(1, false, zero, []byte("{")),
			0x80, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), nil, 1},
		// A 64-bit length with its most significant bit set (RFC 6455 §5.2 says it must be 0): too large, 1009
		// (gorilla returned ErrReadLimit without a close frame).
		{"64-bit length with the top bit set", []byte{0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, nil, 1},
		// A ping whose length 0 is written in the 64-bit form: gorilla refuses it (1002), netpoll answered it.
		{"control frame length in the 64-bit form", []byte{0x89, 0xFF}, nil, 1},
		// A fragmented binary message just under the limit, then a text message: gorilla added the binary
		// message's discarded fragments to the text message's size and closed with 1009.
		{"text message after a large binary one", slices.Concat(maskedFrame(2, false, zero, make([]byte, 4)),
			maskedFrame(0, true, zero, make([]byte, 1020)), maskedFrame(1, true, zero, []byte(`{"type":"ping","seq":1}`))),
			nil, 1},
		// A malformed message, then a protocol error: gorilla wrote its close 1002 while the bus's writer was
		// draining the malformed reply, which then followed the close frame (fixed by closeGuard).
		{"no data frame after a close frame", []byte("\x81\x9d\x00\x00\x00\x00{\"type\":\"register\",\"id\"\x81\x9d\x00:\"fz\"}" +
			"\x81\x87\x00\x00\x00\x00[1,2,3]"), nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Run("transport=netpoll", func(t *testing.T) {
				if !netpollSupported {
					t.Skip("netpoll needs Linux")
				}
				for range tc.repeat {
					checkWire(t, TransportNetpoll, netpollDialect, runNetpoll, tc.stream, tc.splits)
				}
			})
			t.Run("transport=gorilla", func(t *testing.T) {
				for range tc.repeat {
					checkWire(t, TransportGorilla, gorillaDialect, runGorilla, tc.stream, tc.splits)
				}
			})
		})
	}
}
