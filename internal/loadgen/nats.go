package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
)

// The NATS adapter: the same generator drives nats-server (agentlab/nats) through the NATS text protocol on the
// same kind of socket, so the buses and NATS are measured by one client with one cost per message. A url
// nats://host:port selects it. The mapping of docs/protocol.md onto NATS:
//
//	register   SUB <id> (targeted), SUB bcast (broadcast), SUB <group> q (round-robin: a queue group), then
//	           PING; the PONG stands for "registered"
//	send       PUB <to id>     broadcast  PUB bcast (CONNECT with echo:false: the sender is not a recipient)
//	group      PUB <group id>: NATS picks one member of the queue group
//
// The message body is the same JSON template, retyped "msg" so the receiving side reads it like a bus delivery.
// NATS has no refusal frames: a message to nobody is dropped silently.

const (
	natsDefaultPort  = "4222"
	natsBroadcast    = "bcast"
	natsQueue        = "q"
	natsConnect      = `CONNECT {"verbose":false,"pedantic":false,"echo":false,"protocol":1,"name":"agentlab-loadgen"}` + "\r\n"
	natsRegistered   = `{"type":"registered"}`
	natsMaxLine      = 4096
	natsSidID        = "1"
	natsSidBroadcast = "2"
	natsSidGroup     = "3"
)

// dialNATS connects to a nats:// URL: INFO, CONNECT, PING, PONG before ctx ends.
func dialNATS(ctx context.Context, u *url.URL) (*wsConn, error) {
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), natsDefaultPort)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", host, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	c := &wsConn{nc: nc, br: bufio.NewReaderSize(nc, readBufSize), nats: true, rbuf: make([]byte, 0, 512)}
	line, err := c.natsLine()
	if err != nil || !bytes.HasPrefix(line, []byte("INFO ")) {
		nc.Close()
		return nil, fmt.Errorf("nats handshake: want INFO, got %q: %v", line, err)
	}
	if _, err := io.WriteString(nc, natsConnect+"PING\r\n"); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats handshake write: %w", err)
	}
	for {
		line, err := c.natsLine()
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("nats handshake read: %w", err)
		}
		if bytes.HasPrefix(line, []byte("-ERR")) {
			nc.Close()
			return nil, &HandshakeError{StatusCode: 0, Body: string(line)}
		}
		if bytes.Equal(line, []byte("PONG")) {
			break
		}
	}
	_ = nc.SetDeadline(timeZero)
	return c, nil
}

// natsLine reads one protocol line without its CRLF; the slice is valid until the next read.
func (c *wsConn) natsLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("nats: protocol line over %d bytes", c.br.Size())
		}
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

// register subscribes the agent (NATS) or sends the register frame (bus). group is nil outside round-robin.
func (c *wsConn) register(reg, id, group []byte) error {
	if !c.nats {
		return c.writeMessages(reg)
	}
	b := make([]byte, 0, 128)
	b = append(append(append(b, "SUB "...), id...), " "+natsSidID+"\r\n"...)
	b = append(b, "SUB "+natsBroadcast+" "+natsSidBroadcast+"\r\n"...)
	if group != nil {
		b = append(append(append(b, "SUB "...), group...), " "+natsQueue+" "+natsSidGroup+"\r\n"...)
	}
	b = append(b, "PING\r\n"...)
	return c.writeRaw(b)
}

// appendMessage appends one message for the wire: a masked text frame (bus) or a PUB to to, or to the broadcast
// subject when to is nil (NATS).
func (c *wsConn) appendMessage(dst, to, payload []byte, key uint32) []byte {
	if !c.nats {
		return appendFrame(dst, opText, payload, key)
	}
	dst = append(dst, "PUB "...)
	if to == nil {
		dst = append(dst, natsBroadcast...)
	} else {
		dst = append(dst, to...)
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(payload)), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, payload...)
	return append(dst, "\r\n"...)
}

// readNATS returns the next message body; a PONG (the answer to register's PING) reads as {"type":"registered"}.
// The server's PINGs are answered.
func (c *wsConn) readNATS() ([]byte, error) {
	for {
		line, err := c.natsLine()
		if err != nil {
			return nil, err
		}
		switch {
		case bytes.HasPrefix(line, []byte("MSG ")):
			// MSG <subject> <sid> [reply-to] <#bytes>
			sp := bytes.LastIndexByte(line, ' ')
			n, err := strconv.Atoi(string(line[sp+1:]))
			if err != nil || n < 0 || n > maxFrame {
				return nil, fmt.Errorf("nats: bad MSG line %q", line)
			}
			if cap(c.rbuf) < n+2 {
				c.rbuf = make([]byte, n+2)
			}
			c.rbuf = c.rbuf[:n+2]
			if _, err := io.ReadFull(c.br, c.rbuf); err != nil {
				return nil, err
			}
			return c.rbuf[:n], nil
		case bytes.Equal(line, []byte("PING")):
			if err := c.writeRaw([]byte("PONG\r\n")); err != nil {
				return nil, err
			}
		case bytes.Equal(line, []byte("PONG")):
			return []byte(natsRegistered), nil
		case bytes.HasPrefix(line, []byte("-ERR")):
			return nil, fmt.Errorf("nats: %s", line)
		}
		// +OK and INFO updates are skipped.
	}
}

// retype makes a template's type "msg", padding with spaces so no offset moves (NATS delivers the body as sent).
func (t *template) retype() {
	const key = `{"type":`
	if !bytes.HasPrefix(t.b, []byte(key)) {
		return
	}
	end := bytes.IndexByte(t.b[len(key)+1:], '"') + len(key) + 2 // after the closing quote
	v := t.b[len(key):end]
	if len(v) < len(`"msg"`) {
		return
	}
	copy(v, `"msg"`)
	for i := len(`"msg"`); i < len(v); i++ {
		v[i] = ' '
	}
}

// natsConnections reads "connections" from NATS's /varz: every agent subscribes before its PONG, so a connection
// counts as a registered agent for the start barrier.
func natsConnections(ctx context.Context, cl *http.Client, u string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var v struct {
		Connections *int `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return 0, fmt.Errorf("read %s: %w", u, err)
	}
	if v.Connections == nil {
		return 0, fmt.Errorf("no connections in %s", u)
	}
	return *v.Connections, nil
}
