package loadgen

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// A lean RFC 6455 client for the hot path. gorilla/websocket costs one allocation per message read and one write
// syscall per message; this client reuses one buffer per connection, writes a batch of frames with one syscall and
// reads server frames straight from a small bufio.Reader. It speaks only what the bus needs: text frames,
// close, ping/pong, continuation (reassembled), no extensions.

const (
	opCont  = 0x0
	opText  = 0x1
	opBin   = 0x2
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA

	readBufSize = 4096
	// maxFrame bounds what the client accepts from the bus: the protocol's default message limit, with room.
	maxFrame = 1 << 20
	wsGUID   = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
)

// HandshakeError is a refused upgrade (e.g. 503 when the bus is at max_connections).
type HandshakeError struct {
	StatusCode int
	Body       string
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("websocket handshake refused: HTTP %d %q", e.StatusCode, e.Body)
}

// wsConn is one client connection. Writes go through write/writeFrames under wmu (the sender, the reader's pong
// and the final close may race); reads (readMessage) belong to one goroutine.
type wsConn struct {
	nc net.Conn
	br *bufio.Reader

	wmu  sync.Mutex
	wbuf []byte
	mask uint64 // xorshift state for masking keys

	rbuf []byte // current frame payload
	mbuf []byte // fragmented message being reassembled

	nats bool // the NATS protocol (nats.go), not WebSocket

	// Once detached (rx_linux.go) the rx loop reads the descriptor fd: nc and br are nil, in[inOff:] is input not
	// yet parsed, frag says a fragmented text message is being reassembled. fd is -1 before; fdClosed (under wmu)
	// once the descriptor is closed.
	fd       int
	fdClosed bool
	in       []byte
	inOff    int
	frag     bool
}

var timeZero time.Time

// dialWS connects to a ws:// URL (or a nats:// one: dialNATS) and completes the opening handshake before ctx ends.
func dialWS(ctx context.Context, u *url.URL) (*wsConn, error) {
	if u.Scheme == "nats" {
		return dialNATS(ctx, u)
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("unsupported scheme %q (ws or nats)", u.Scheme)
	}
	nc, err := dialTCP(ctx, u, "80")
	if err != nil {
		return nil, err
	}
	c, err := handshake(nc, u)
	if err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

func handshake(nc net.Conn, u *url.URL) (*wsConn, error) {
	var seed [24]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	key := base64.StdEncoding.EncodeToString(seed[:16])
	path := u.RequestURI()
	req := "GET " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		return nil, fmt.Errorf("handshake write: %w", err)
	}
	br := bufio.NewReaderSize(nc, readBufSize)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet, URL: u})
	if err != nil {
		return nil, fmt.Errorf("handshake read: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		resp.Body.Close()
		return nil, &HandshakeError{StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	h := sha1.Sum([]byte(key + wsGUID))
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != base64.StdEncoding.EncodeToString(h[:]) {
		return nil, fmt.Errorf("handshake: bad Sec-WebSocket-Accept %q", got)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		return nil, fmt.Errorf("handshake: Upgrade header %q", resp.Header.Get("Upgrade"))
	}
	m := binary.LittleEndian.Uint64(seed[16:]) | 1
	return &wsConn{nc: nc, br: br, mask: m, rbuf: make([]byte, 0, 512), fd: -1}, nil
}

// nextMask returns a fresh masking key (xorshift64: the bus only needs keys to vary, not to be secret).
func (c *wsConn) nextMask() uint32 {
	x := c.mask
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	c.mask = x
	return uint32(x)
}

// appendFrame appends one final, masked client frame holding payload to dst.
func appendFrame(dst []byte, op byte, payload []byte, key uint32) []byte {
	n := len(payload)
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	var k [4]byte
	binary.LittleEndian.PutUint32(k[:], key)
	dst = append(dst, k[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	maskBytes(dst[start:], k)
	return dst
}

// maskBytes XORs b with the repeating 4-byte key, eight bytes at a time.
func maskBytes(b []byte, k [4]byte) {
	k32 := binary.LittleEndian.Uint32(k[:])
	k64 := uint64(k32) | uint64(k32)<<32
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k64)
	}
	for ; i < len(b); i++ {
		b[i] ^= k[i&3]
	}
}

// writeMessages writes each payload as a text frame, all with one syscall.
func (c *wsConn) writeMessages(payloads ...[]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = c.wbuf[:0]
	for _, p := range payloads {
		c.wbuf = appendFrame(c.wbuf, opText, p, c.nextMask())
	}
	return c.writeLocked(c.wbuf, time.Time{})
}

// writeRaw writes frames already built with appendFrame (by a caller holding no lock on c's buffers).
func (c *wsConn) writeRaw(frames []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(frames, time.Time{})
}

func (c *wsConn) writeControl(op byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = appendFrame(c.wbuf[:0], op, payload, c.nextMask())
	return c.writeLocked(c.wbuf, time.Now().Add(time.Second))
}

// writeLocked writes b to the socket, giving up at deadline (zero: none); the caller holds wmu.
func (c *wsConn) writeLocked(b []byte, deadline time.Time) error {
	if c.nc == nil {
		return c.writeFD(b, deadline)
	}
	if !deadline.IsZero() {
		_ = c.nc.SetWriteDeadline(deadline)
		defer c.nc.SetWriteDeadline(time.Time{})
	}
	_, err := c.nc.Write(b)
	return err
}

// closeGracefully sends close 1000 (bounded to a second) and closes the socket without waiting for the echo. A
// detached connection is shut down: the rx loop then reads its end and closes the descriptor.
func (c *wsConn) closeGracefully() {
	if !c.nats {
		_ = c.writeControl(opClose, []byte{0x03, 0xE8})
	}
	if c.nc == nil {
		c.shutdownFD()
		return
	}
	c.nc.Close()
}

// errClosed is returned by readMessage when the bus sent a close frame.
var errClosed = errors.New("closed by the bus")

// readMessage returns the next text message; the slice is valid until the next call. Pings are answered, pongs
// and binary frames skipped, fragments reassembled.
func (c *wsConn) readMessage() ([]byte, error) {
	if c.nats {
		return c.readNATS()
	}
	fragmented := false
	for {
		op, fin, p, err := c.readFrame()
		if err != nil {
			return nil, err
		}
		switch op {
		case opText, opBin:
			if fin {
				if op == opBin {
					continue
				}
				return p, nil
			}
			fragmented = op == opText
			c.mbuf = append(c.mbuf[:0], p...)
		case opCont:
			if !fragmented {
				continue
			}
			c.mbuf = append(c.mbuf, p...)
			if len(c.mbuf) > maxFrame {
				return nil, fmt.Errorf("message over %d bytes", maxFrame)
			}
			if fin {
				return c.mbuf, nil
			}
		case opPing:
			if err := c.writeControl(opPong, p); err != nil {
				return nil, err
			}
		case opClose:
			return nil, errClosed
		}
	}
}

func (c *wsConn) readFrame() (op byte, fin bool, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(c.br, h[:]); err != nil {
		return
	}
	fin, op = h[0]&0x80 != 0, h[0]&0x0F
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var e [2]byte
		if _, err = io.ReadFull(c.br, e[:]); err != nil {
			return
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err = io.ReadFull(c.br, e[:]); err != nil {
			return
		}
		n = binary.BigEndian.Uint64(e[:])
	}
	if n > maxFrame {
		return 0, false, nil, fmt.Errorf("frame of %d bytes (limit %d)", n, maxFrame)
	}
	var key [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err = io.ReadFull(c.br, key[:]); err != nil {
			return
		}
	}
	if cap(c.rbuf) < int(n) {
		c.rbuf = make([]byte, n)
	}
	c.rbuf = c.rbuf[:n]
	if _, err = io.ReadFull(c.br, c.rbuf); err != nil {
		return
	}
	if masked {
		maskBytes(c.rbuf, key)
	}
	return op, fin, c.rbuf, nil
}

// dialTCP connects to u's host (defaultPort when it names none), with ctx's deadline on the connection until the
// caller's handshake is done.
func dialTCP(ctx context.Context, u *url.URL, defaultPort string) (net.Conn, error) {
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), defaultPort)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", host, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	return nc, nil
}
