package gobus

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/agentlab/agentlab/internal/conformance"
)

// This file is the oracle of the transport fuzz targets (FuzzNetpollFrames, FuzzGorillaFrames): RFC 6455's
// client → server framing and docs/protocol.md's rules, written from the documents, not from either parser. Given a
// complete byte stream it says what a bus must do: which messages it handles, which pings it answers, and the close
// frame it ends with. The transports' own ways of reacting (gorilla answers a binary message at its first frame) are
// the dialect.

// wireDialect is what a transport may do differently within the RFC (docs/protocol.md, allowed differences).
type wireDialect struct {
	// closeLen1Protocol: a close frame with a 1-byte payload is a protocol error (RFC 6455 §5.5.1: a body starts
	// with a 2-byte code). gorilla reads it as "no status" and answers with an empty close frame.
	closeLen1Protocol bool
	// valid1014: close code 1014 (IANA: bad gateway) is accepted from a peer; gorilla's table lacks it.
	valid1014 bool
	// binaryAtStart: a binary message is answered (malformed) when its first frame arrives, not when it completes.
	binaryAtStart bool
}

var (
	netpollDialect = wireDialect{closeLen1Protocol: true, valid1014: true}
	gorillaDialect = wireDialect{binaryAtStart: true}
)

// closeEmpty is wireOutcome.close for a close frame without a body (the answer to a close without a code).
const closeEmpty = -1

type wireEvent struct {
	ping    bool // a ping control frame (a pong with its payload is due); else a message
	op      byte // 1 text, 2 binary
	payload []byte
}

type wireOutcome struct {
	events []wireEvent
	// close is the close frame the bus must send last: 1002, 1009, an echoed code, closeEmpty; 0 = none (the stream
	// ended without a close, so the bus sees EOF and closes without one).
	close int
	// failed: ended by a protocol error or the size limit (the bus may drop replies it had queued).
	failed bool
	// ended: a close or a failure; bytes after it are not read.
	ended bool
	// need is the number of bytes that would complete the frame the stream ends in (0 at a frame boundary); for
	// a failed stream, the header (mask key included) of the frame that failed it.
	need int
	// inMessage: the stream ends inside a fragmented message.
	inMessage bool
}

func validPeerCloseCode(code int, d wireDialect) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1013:
		return true
	case code == 1014:
		return d.valid1014
	}
	return code >= 3000 && code <= 4999
}

// modelWire runs b through the RFC's rules with the size limit maxMsg.
func modelWire(b []byte, maxMsg int, d wireDialect) wireOutcome {
	var o wireOutcome
	var fragOp byte // 0: no message in progress
	var frag []byte
	var fragLen uint64 // counted toward the limit
	headerEnd := 0     // where the current frame's header (mask key included) ends
	fail := func(code int) wireOutcome {
		o.close, o.failed, o.ended = code, true, true
		// A transport may want the whole header before it judges a frame (gorilla reads the mask key first).
		o.need = max(0, headerEnd-len(b))
		return o
	}
	off := 0
	for off < len(b) {
		h := b[off:]
		if len(h) < 2 {
			o.need = 2 - len(h)
			break
		}
		fin := h[0]&0x80 != 0
		op := h[0] & 0x0f
		n := uint64(h[1] & 0x7f)
		hl := 2
		switch n {
		case 126:
			hl = 4
		case 127:
			hl = 10
		}
		if len(h) < hl {
			o.need = hl - len(h)
			break
		}
		switch hl {
		case 4:
			n = uint64(binary.BigEndian.Uint16(h[2:4]))
		case 10:
			n = binary.BigEndian.Uint64(h[2:10])
		}
		control := op >= 8
		headerEnd = off + hl + 4
		switch {
		case h[0]&0x70 != 0, h[1]&0x80 == 0: // reserved bits, unmasked client frame (§5.1, §5.2)
			return fail(1002)
		case op >= 3 && op <= 7, op >= 0xB: // reserved opcodes
			return fail(1002)
		case control && (!fin || h[1]&0x7f > 125): // §5.5; a 16/64-bit length form is not minimal for ≤ 125 (§5.2)
			return fail(1002)
		case op == 0 && fragOp == 0, (op == 1 || op == 2) && fragOp != 0: // §5.4
			return fail(1002)
		}
		if !control {
			counted := fragLen
			if op != 0 {
				counted = 0
			}
			if n > uint64(maxMsg) || counted+n > uint64(maxMsg) {
				return fail(1009)
			}
		}
		if uint64(len(h)) < uint64(hl)+4+n {
			o.need = int(uint64(hl) + 4 + n - uint64(len(h)))
			break
		}
		key := h[hl : hl+4]
		p := make([]byte, n)
		for i := range p {
			p[i] = h[hl+4+i] ^ key[i%4]
		}
		off += hl + 4 + int(n)
		switch op {
		case 1, 2:
			if fin {
				o.events = append(o.events, wireEvent{op: op, payload: p})
				continue
			}
			fragOp, frag, fragLen = op, p, n
			if op == 2 && d.binaryAtStart {
				o.events = append(o.events, wireEvent{op: 2})
			}
		case 0:
			frag = append(frag, p...)
			fragLen += n
			if !fin {
				continue
			}
			if fragOp == 1 || !d.binaryAtStart {
				o.events = append(o.events, wireEvent{op: fragOp, payload: frag})
			}
			fragOp, frag, fragLen = 0, nil, 0
		case 9:
			o.events = append(o.events, wireEvent{ping: true, payload: p})
		case 0xA:
		case 8:
			o.ended = true
			switch {
			case len(p) == 0:
				o.close = closeEmpty
			case len(p) == 1 && d.closeLen1Protocol:
				return fail(1002)
			case len(p) == 1:
				o.close = closeEmpty
			case !validPeerCloseCode(int(binary.BigEndian.Uint16(p)), d), !utf8.Valid(p[2:]):
				return fail(1002)
			default:
				o.close = int(binary.BigEndian.Uint16(p))
			}
			return o
		}
	}
	o.inMessage = fragOp != 0
	return o
}

// maskedFrame is one client frame with mask key key.
func maskedFrame(op byte, fin bool, key [4]byte, p []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var b []byte
	switch n := len(p); {
	case n < 126:
		b = []byte{b0, 0x80 | byte(n)}
	case n <= 0xFFFF:
		b = []byte{b0, 0x80 | 126, byte(n >> 8), byte(n)}
	default:
		b = append([]byte{b0, 0x80 | 127}, binary.BigEndian.AppendUint64(nil, uint64(n))...)
	}
	b = append(b, key[:]...)
	for i, x := range p {
		b = append(b, x^key[i%4])
	}
	return b
}

// barrierSeq is the seq of the text ping that ends every completed stream: its pong says every earlier reply has
// been written (replies leave through one queue, in order).
const barrierSeq = "18446744073709551614"

var barrierPing = []byte(`{"type":"ping","seq":` + barrierSeq + `}`)
var barrierPong = []byte(`{"type":"pong","seq":` + barrierSeq + `}`)

// completeStream turns an arbitrary stream into one whose outcome is decided: the frame it ends in is padded with
// zero bytes to its end, an open fragmented message is finished with an empty final continuation, then a text ping
// (the barrier) and a close 1000 follow. phases are what a runner sends, in order: the padded stream, the barrier,
// the close — a runner waits for the barrier's pong before sending the close, so no reply is lost to the close.
// A stream that ends itself (close, protocol error, size) gets nothing appended and one phase.
func completeStream(stream []byte, maxMsg int, d wireDialect) (phases [][]byte, o wireOutcome) {
	b := bytes.Clone(stream)
	o = modelWire(b, maxMsg, d)
	for !o.ended && o.need > 0 {
		b = append(b, make([]byte, o.need)...)
		o = modelWire(b, maxMsg, d)
	}
	if o.ended {
		return [][]byte{append(b, make([]byte, o.need)...)}, o
	}
	if o.inMessage {
		b = append(b, maskedFrame(0, true, [4]byte{}, nil)...)
	}
	barrier := maskedFrame(1, true, [4]byte{9, 8, 7, 6}, barrierPing)
	closeF := maskedFrame(8, true, [4]byte{1, 2, 3, 4}, []byte{0x03, 0xE8})
	phases = [][]byte{b, barrier, closeF}
	o = modelWire(bytes.Join(phases, nil), maxMsg, d)
	return phases, o
}

// serverFrame is one bus → client frame.
type serverFrame struct {
	op      byte
	payload []byte
}

// parseServerFrames splits what the bus wrote into frames; every frame must be final, unmasked, without reserved
// bits, and text, pong or close.
func parseServerFrames(b []byte) ([]serverFrame, error) {
	var out []serverFrame
	for len(b) > 0 {
		if len(b) < 2 {
			return out, fmt.Errorf("truncated frame header % x", b)
		}
		if b[0]&0xF0 != 0x80 || b[1]&0x80 != 0 {
			return out, fmt.Errorf("bad frame header % x", b[:2])
		}
		op := b[0] & 0x0f
		n := uint64(b[1] & 0x7f)
		hl := 2
		switch n {
		case 126:
			if len(b) < 4 {
				return out, fmt.Errorf("truncated length")
			}
			n, hl = uint64(binary.BigEndian.Uint16(b[2:4])), 4
		case 127:
			if len(b) < 10 {
				return out, fmt.Errorf("truncated length")
			}
			n, hl = binary.BigEndian.Uint64(b[2:10]), 10
		}
		if uint64(len(b)-hl) < n {
			return out, fmt.Errorf("truncated payload: %d of %d bytes", len(b)-hl, n)
		}
		if op != 1 && op != 0xA && op != 8 {
			return out, fmt.Errorf("bus sent opcode %d", op)
		}
		out = append(out, serverFrame{op: op, payload: b[hl : hl+int(n)]})
		b = b[hl+int(n):]
	}
	return out, nil
}

// wireSeeds are seed streams from the conformance suite's messages: each message alone (zero mask key, so the
// fuzzer sees the JSON), the set after a register, fragmented with a ping between, and the protocol errors and
// size cases of the wire tests, with the split patterns that go with them.
func wireSeeds(maxMsg int) (streams [][]byte, splits [][]byte) {
	msgs := conformance.SeedMessages("fz", "peer", "g")
	zero := [4]byte{}
	add := func(s []byte, sp []byte) { streams, splits = append(streams, s), append(splits, sp) }
	reg := maskedFrame(1, true, zero, msgs[0])
	for _, m := range msgs {
		add(append(bytes.Clone(reg), maskedFrame(1, true, zero, m)...), nil)
	}
	var all []byte
	for _, m := range msgs {
		all = append(all, maskedFrame(1, true, [4]byte{1, 2, 3, 4}, m)...)
	}
	add(all, []byte{0, 1, 2, 3, 5, 7, 11, 13, 17, 255})
	ping := []byte(`{"type":"ping","seq":7}`)
	var frag []byte
	frag = append(frag, maskedFrame(1, false, zero, ping[:5])...)
	frag = append(frag, maskedFrame(9, true, zero, []byte("hi"))...)
	frag = append(frag, maskedFrame(0, false, zero, ping[5:12])...)
	frag = append(frag, maskedFrame(0, true, zero, ping[12:])...)
	add(frag, []byte{0})
	add(maskedFrame(2, true, zero, msgs[2]), nil)
	add(append(maskedFrame(2, false, zero, []byte("ab")), maskedFrame(0, true, zero, []byte("cd"))...), nil)
	big := append([]byte(`{"type":"ping","payload":"`), bytes.Repeat([]byte("x"), maxMsg)...)
	add(maskedFrame(1, true, zero, big[:maxMsg]), []byte{200})
	add(maskedFrame(1, true, zero, big[:maxMsg+1]), nil)
	add(append(maskedFrame(1, false, zero, big[:maxMsg/2]), maskedFrame(0, true, zero, big[maxMsg/2:maxMsg+1])...), nil)
	add([]byte{0x81, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0}, nil)
	add([]byte{0x81, 2, '{', '}'}, nil)
	add(append([]byte{0x80 | 0x40 | 0x1}, maskedFrame(1, true, zero, []byte("{}"))[1:]...), nil)
	add(maskedFrame(3, true, zero, []byte("{}")), nil)
	add(maskedFrame(9, false, zero, nil), nil)
	add(maskedFrame(0, true, zero, []byte("{}")), nil)
	for _, code := range []uint16{1000, 1001, 1005, 1014, 2999, 3000, 4999, 5000} {
		add(maskedFrame(8, true, zero, binary.BigEndian.AppendUint16(nil, code)), nil)
	}
	add(maskedFrame(8, true, zero, []byte{3}), nil)
	add(maskedFrame(8, true, zero, []byte{3, 0xE8, 0xff}), nil)
	add(maskedFrame(1, true, zero, []byte("{\"type\":\"ping\",\"seq\":1,\"x\":\"\xff\"}")), nil)
	return streams, splits
}

// chunks splits b at the points splits describes: each byte is the next chunk's length minus one (cycling); no
// splits is one chunk.
func chunks(b, splits []byte) [][]byte {
	if len(splits) == 0 {
		return [][]byte{b}
	}
	var out [][]byte
	for i := 0; len(b) > 0; i++ {
		n := min(len(b), int(splits[i%len(splits)])+1)
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// wireFuzzOptions: a small size limit, so the fuzzer reaches it, and queues that never drop (the oracle does not
// model slow consumers).
func wireFuzzOptions(transport string) Options {
	return Options{MaxMessageBytes: 1024, QueueLen: 1 << 20, Transport: transport}
}

// wireServers recycles Servers between fuzz inputs: New's metrics registry costs more than a run. A recycled
// Server has no connection left (its runner waited for them) and gets an empty routing table.
var wireServers sync.Pool

func wireServer(t *testing.T, opts Options) *Server {
	for {
		s, _ := wireServers.Get().(*Server)
		if s == nil {
			return newTestServer(t, opts)
		}
		if s.opts.Transport == opts.Transport {
			s.hub = newHub()
			return s
		}
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}

// wireRunner feeds the phases of a completed stream to a fresh connection of s and returns every byte the bus
// wrote to it, once the connection is gone.
type wireRunner func(t *testing.T, s *Server, phases [][]byte, splits []byte) []byte

// checkWire runs stream (split by splits) through a transport and compares what it did with the oracle: the
// pongs, the replies (all of them, or a prefix when the stream failed), the close frame, and what a second,
// in-process agent ("peer", in group "g") received, against the same messages handed to an in-process bus.
func checkWire(t *testing.T, transport string, d wireDialect, run wireRunner, stream, splits []byte) {
	opts := wireFuzzOptions(transport)
	phases, want := completeStream(stream, opts.MaxMessageBytes, d)

	// The reference: the modelled messages handed to an in-process bus, replies drained after each.
	ref := wireServer(t, opts)
	defer wireServers.Put(ref)
	refPeer := ref.testConn(t).register("peer", "g")
	refSender := ref.testConn(t)
	var wantReplies []string
	var wantPongs [][]byte
	for _, ev := range want.events {
		switch {
		case ev.ping:
			wantPongs = append(wantPongs, ev.payload)
		case ev.op == 1:
			ref.handleFrame(refSender.c, ev.payload)
		default:
			ref.malformed(refSender.c, nil, "binary frames are not part of the protocol")
		}
		wantReplies = append(wantReplies, refSender.out()...)
	}
	wantPeer := refPeer.out()

	s := wireServer(t, opts)
	defer wireServers.Put(s)
	tooLarge := counterValue(s.m.errors[codeTooLarge])
	peer := s.testConn(t).register("peer", "g")
	out := run(t, s, phases, splits)
	gotPeer := peer.out()

	frames, err := parseServerFrames(out)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("stream % x (split %v):\n"+format, append([]any{bytes.Join(phases, nil), splits}, args...)...)
	}
	if err != nil {
		fail("bus output: %v (frames so far %d)", err, len(frames))
	}
	var replies []string
	var pongs [][]byte
	closeCode := 0
	for i, f := range frames {
		switch f.op {
		case 1:
			replies = append(replies, string(f.payload))
		case 0xA:
			pongs = append(pongs, f.payload)
		case 8:
			if i != len(frames)-1 {
				fail("a frame follows the close frame: %d more", len(frames)-1-i)
			}
			switch len(f.payload) {
			case 0:
				closeCode = closeEmpty
			case 1:
				fail("close frame with a 1-byte body")
			default:
				closeCode = int(binary.BigEndian.Uint16(f.payload))
			}
		}
	}
	if closeCode != want.close {
		fail("close: got %d, want %d (0 none, -1 empty)", closeCode, want.close)
	}
	if len(pongs) != len(wantPongs) {
		fail("pongs: got %d, want %d", len(pongs), len(wantPongs))
	}
	for i := range pongs {
		if !bytes.Equal(pongs[i], wantPongs[i]) {
			fail("pong %d: got %q, want %q", i, pongs[i], wantPongs[i])
		}
	}
	// A stream that ends itself (its own close, a protocol error, the size limit) may lose the replies queued just
	// before it: the close frame goes out at once and nothing follows it. A completed stream loses none.
	lossy := len(phases) == 1
	if len(replies) > len(wantReplies) || (!lossy && len(replies) != len(wantReplies)) {
		fail("replies: got %d, want %d (lossy %v)\ngot  %q\nwant %q", len(replies), len(wantReplies), lossy,
			replies, wantReplies)
	}
	for i := range replies {
		if replies[i] != wantReplies[i] {
			fail("reply %d: got %s, want %s", i, replies[i], wantReplies[i])
		}
	}
	if len(gotPeer) != len(wantPeer) {
		fail("peer received %d frames, want %d:\ngot  %q\nwant %q", len(gotPeer), len(wantPeer), gotPeer, wantPeer)
	}
	for i := range gotPeer {
		if gotPeer[i] != wantPeer[i] {
			fail("peer frame %d: got %s, want %s", i, gotPeer[i], wantPeer[i])
		}
	}
	if want.failed && want.close == 1009 { // the size limit, not a client's own close 1009 echoed
		if n := counterValue(s.m.errors[codeTooLarge]) - tooLarge; n != 1 {
			fail("close 1009 counted %v times in bus_errors_total{code=too_large}", n)
		}
	}
	if n := s.open.Load(); n != 0 {
		fail("%d connections still counted open", n)
	}
}
