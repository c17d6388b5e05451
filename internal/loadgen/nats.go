package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/agentlab/agentlab/internal/prom"
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
	nc, err := dialTCP(ctx, u, natsDefaultPort)
	if err != nil {
		return nil, err
	}
	c := &wsConn{nc: nc, br: bufio.NewReaderSize(nc, readBufSize), nats: true, rbuf: make([]byte, 0, 512), fd: -1}
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

// Varz is the part of NATS's /varz the lab reads: counters that do not depend on CPU accounting (messages and
// bytes in and out), connections, slow consumers, and the server's own view of its CPU (percent of one core) and
// RSS (bytes).
type Varz struct {
	Connections   int     `json:"connections"`
	InMsgs        int64   `json:"in_msgs"`
	OutMsgs       int64   `json:"out_msgs"` // deliveries: one per recipient
	InBytes       int64   `json:"in_bytes"`
	OutBytes      int64   `json:"out_bytes"`
	SlowConsumers int64   `json:"slow_consumers"`
	CPU           float64 `json:"cpu"` // percent of one core, as nats-server samples it
	Mem           int64   `json:"mem"` // RSS, bytes
}

// ReadVarz reads a /varz URL once.
func ReadVarz(ctx context.Context, cl *http.Client, u string) (Varz, error) {
	var v Varz
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return v, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return v, fmt.Errorf("read %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("read %s: HTTP %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return v, fmt.Errorf("decode %s: %w", u, err)
	}
	return v, nil
}

// BusSeries maps /varz onto the buses' series keys (docs/protocol.md metrics), so one code path reads a bus and
// NATS: out_msgs is bus_deliveries_total, in_msgs bus_messages_in_total, slow consumers bus_dropped_total (NATS
// drops a slow consumer's connection, not single frames), connections both bus_connections and
// bus_registered_agents (an agent subscribes before its first PONG), mem process_resident_memory_bytes.
func (v Varz) BusSeries() map[string]float64 {
	return map[string]float64{
		"bus_deliveries_total":          float64(v.OutMsgs),
		"bus_messages_in_total":         float64(v.InMsgs),
		"bus_bytes_in_total":            float64(v.InBytes),
		"bus_bytes_out_total":           float64(v.OutBytes),
		"bus_dropped_total":             float64(v.SlowConsumers),
		"bus_connections":               float64(v.Connections),
		"bus_registered_agents":         float64(v.Connections),
		"process_resident_memory_bytes": float64(v.Mem),
	}
}

// ScrapeBus reads a bus's counters as series keys (internal/prom): its /metrics, or NATS's /varz through
// Varz.BusSeries when u ends in /varz.
func ScrapeBus(ctx context.Context, cl *http.Client, u string) (map[string]float64, error) {
	if strings.HasSuffix(u, "/varz") {
		v, err := ReadVarz(ctx, cl, u)
		if err != nil {
			return nil, err
		}
		return v.BusSeries(), nil
	}
	m, err := prom.Scrape(ctx, cl, u)
	if err != nil {
		return nil, err
	}
	return m.Values, nil
}
