package loadgen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Input parsed from a buffer, for the rx loop (rx_linux.go): the loop reads whatever a socket holds and takes
// every complete message from it; an incomplete one waits in the buffer for the next read.

// onReadable reads agent a's socket once and handles every complete message it then holds. It returns false
// when the connection is over (end of stream, an error, a close frame from the bus): the loop removes it.
func (a *agent) onReadable() bool {
	c := a.c
	n, err := c.readFD()
	if n < 0 {
		return true // nothing there after all
	}
	if err == nil && n == 0 {
		err = io.EOF
	}
	if err != nil {
		a.readFailed(err)
		return false
	}
	// One clock reading per read: every message in it had arrived by then.
	now := time.Now().UnixNano()
	for {
		msg, used, err := c.nextMessage(c.in[c.inOff:])
		if err != nil {
			a.readFailed(err)
			return false
		}
		if used == 0 {
			break
		}
		c.inOff += used
		if msg != nil {
			a.handle(msg, now)
		}
	}
	if c.inOff == len(c.in) {
		c.in, c.inOff = c.in[:0], 0
	}
	return true
}

// nextMessage takes the next message from b: used is the bytes consumed (0: b holds no complete frame or line
// yet), msg the message or nil for a frame that carries none (control, a fragment, a NATS +OK). Pings are
// answered here.
func (c *wsConn) nextMessage(b []byte) (msg []byte, used int, err error) {
	if c.nats {
		return c.nextNATS(b)
	}
	op, fin, p, used, err := parseFrame(b)
	if err != nil || used == 0 {
		return nil, 0, err
	}
	switch op {
	case opText, opBin:
		if fin {
			c.frag = false
			if op == opBin {
				return nil, used, nil
			}
			return p, used, nil
		}
		c.frag = op == opText
		c.mbuf = append(c.mbuf[:0], p...)
	case opCont:
		if !c.frag {
			return nil, used, nil
		}
		c.mbuf = append(c.mbuf, p...)
		if len(c.mbuf) > maxFrame {
			return nil, 0, fmt.Errorf("message over %d bytes", maxFrame)
		}
		if fin {
			c.frag = false
			return c.mbuf, used, nil
		}
	case opPing:
		if err := c.writeControl(opPong, p); err != nil {
			return nil, 0, err
		}
	case opClose:
		return nil, 0, errClosed
	}
	return nil, used, nil
}

// parseFrame parses one WebSocket frame at the start of b, unmasking its payload in place; used == 0 when b
// does not hold all of it yet.
func parseFrame(b []byte) (op byte, fin bool, payload []byte, used int, err error) {
	if len(b) < 2 {
		return 0, false, nil, 0, nil
	}
	fin, op = b[0]&0x80 != 0, b[0]&0x0F
	n, h := uint64(b[1]&0x7F), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, false, nil, 0, nil
		}
		n, h = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, false, nil, 0, nil
		}
		n, h = binary.BigEndian.Uint64(b[2:]), 10
	}
	if n > maxFrame {
		return 0, false, nil, 0, fmt.Errorf("frame of %d bytes (limit %d)", n, maxFrame)
	}
	masked := b[1]&0x80 != 0
	var key [4]byte
	if masked {
		if len(b) < h+4 {
			return 0, false, nil, 0, nil
		}
		copy(key[:], b[h:h+4])
		h += 4
	}
	if uint64(len(b)-h) < n {
		return 0, false, nil, 0, nil
	}
	p := b[h : h+int(n)]
	if masked {
		maskBytes(p, key)
	}
	return op, fin, p, h + int(n), nil
}

var natsRegisteredMsg = []byte(natsRegistered)

// nextNATS is nextMessage for the NATS protocol: a MSG's body, a PONG as {"type":"registered"}; PINGs answered.
func (c *wsConn) nextNATS(b []byte) ([]byte, int, error) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		if len(b) > natsMaxLine {
			return nil, 0, fmt.Errorf("nats: protocol line over %d bytes", natsMaxLine)
		}
		return nil, 0, nil
	}
	line := bytes.TrimRight(b[:i], "\r")
	switch {
	case bytes.HasPrefix(line, []byte("MSG ")):
		// MSG <subject> <sid> [reply-to] <#bytes>
		sp := bytes.LastIndexByte(line, ' ')
		n, err := strconv.Atoi(string(line[sp+1:]))
		if err != nil || n < 0 || n > maxFrame {
			return nil, 0, fmt.Errorf("nats: bad MSG line %q", line)
		}
		end := i + 1 + n + 2
		if len(b) < end {
			return nil, 0, nil
		}
		return b[i+1 : i+1+n], end, nil
	case bytes.Equal(line, []byte("PING")):
		if err := c.writeRaw([]byte("PONG\r\n")); err != nil {
			return nil, 0, err
		}
	case bytes.Equal(line, []byte("PONG")):
		return natsRegisteredMsg, i + 1, nil
	case bytes.HasPrefix(line, []byte("-ERR")):
		return nil, 0, fmt.Errorf("nats: %s", line)
	}
	return nil, i + 1, nil // +OK and INFO updates are skipped
}
