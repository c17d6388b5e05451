//go:build linux

package gobus

import (
	"net"

	"github.com/gobwas/ws"
)

// maxPongBatch bounds the pongs framed before they are written.
const maxPongBatch = 16 << 10

// queuePong frames the pong for a ping into the poller's batch. The batch is written once the read's frames are
// parsed (or before any other control frame), so a flood of pings costs one write per read instead of one per
// ping: with a write per pong, ten connections pinging without reading starved every other connection of their
// poller (TestExhaustion/go-netpoll/ping-flood delivered 375 of 600 timed messages).
func (c *pollConn) queuePong(payload []byte) error {
	p := c.p
	if len(p.pongs)+2+len(payload) > maxPongBatch {
		if err := c.flushPongs(); err != nil {
			return err
		}
	}
	p.pongs = append(p.pongs, 0x80|byte(ws.OpPong), byte(len(payload)))
	p.pongs = append(p.pongs, payload...)
	return nil
}

// flushPongs writes the batched pongs after the bytes already accepted for the socket; beyond maxCtrlBacklog of
// held bytes they are dropped, as single pongs were. Nothing follows a close frame.
func (c *pollConn) flushPongs() error {
	p := c.p
	if len(p.pongs) == 0 {
		return nil
	}
	b := p.pongs
	p.pongs = p.pongs[:0]
	c.wmu.Lock()
	defer c.wmu.Unlock()
	switch {
	case c.fd < 0 || c.shutDown:
		return net.ErrClosed
	case c.closeSent:
		return nil
	case c.out != nil:
		if len(*c.out)-c.outOff <= maxCtrlBacklog {
			*c.out = append(*c.out, b...)
		} else {
			c.s.m.droppedPong.Add(float64(countFrames(b)))
		}
		return nil
	}
	return c.writeLocked(b, nil) // copies what the socket does not take
}

// countFrames counts the pong frames in a batch queuePong built (each: 2 header bytes, payload ≤ 125 bytes).
func countFrames(b []byte) int {
	n := 0
	for i := 0; i+1 < len(b); i += 2 + int(b[i+1]&0x7f) {
		n++
	}
	return n
}
