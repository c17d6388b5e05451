package loadgen

import (
	"bytes"
	"fmt"
	"strings"
)

// Outgoing messages are pre-encoded: one template per agent, in which only the fixed-width fields — the target
// id, seq and ts — are overwritten before each send. Numbers are written with exactly 19 digits (no leading zero),
// so they stay valid JSON and never move.

const (
	numWidth = 19
	// seqBase keeps every seq at 19 digits; below it sit the generator (×1e16), the sender (×1e9) and a counter.
	seqBase    uint64 = 1_000_000_000_000_000_000
	seqGenMul  uint64 = 10_000_000_000_000_000
	seqSendMul uint64 = 1_000_000_000
	// MaxAgentsPerGenerator is what the seq layout and the fixed-width ids allow.
	MaxAgentsPerGenerator = 1_000_000
	// MaxGenerators is what the seq layout allows.
	MaxGenerators = 90
	// tsMin is the smallest 19-digit nanosecond timestamp (2001-09-09); every real clock reading is above it.
	tsMin int64 = 1_000_000_000_000_000_000
)

// AgentID is the id agent i of generator g registers with: fixed width, so templates can be patched in place.
func AgentID(g, i int) string { return fmt.Sprintf("g%02d-a%06d", g, i) }

// GroupID names round-robin group k of generator g (same width as AgentID).
func GroupID(g, k int) string { return fmt.Sprintf("g%02d-r%06d", g, k) }

// EncodeSeq packs who sent a message into its seq, so the receiving side can return a closed-model window slot to
// its sender without a lookup.
func EncodeSeq(gen, sender int, counter uint64) uint64 {
	return seqBase + uint64(gen)*seqGenMul + uint64(sender)*seqSendMul + counter%seqSendMul
}

// DecodeSeq is EncodeSeq's inverse; ok is false for a seq this generator family did not write.
func DecodeSeq(seq uint64) (gen, sender int, ok bool) {
	if seq < seqBase {
		return 0, 0, false
	}
	v := seq - seqBase
	g := v / seqGenMul
	if g >= MaxGenerators {
		return 0, 0, false
	}
	return int(g), int(v % seqGenMul / seqSendMul), true
}

// template is one agent's outgoing message with the offsets of its patchable fields (-1 when absent).
type template struct {
	b                    []byte
	toOff, seqOff, tsOff int
}

// newTemplate builds the message for pattern: "send" with a "to", "group" with a "group", or "broadcast". The
// payload is a JSON string of payloadBytes 'x' characters.
func newTemplate(pattern string, payloadBytes int) (template, error) {
	placeholderID := strings.Repeat("0", len(AgentID(0, 0)))
	digits := strings.Repeat("1", numWidth)
	var head string
	switch pattern {
	case PatternTargeted:
		head = `{"type":"send","to":"` + placeholderID + `",`
	case PatternRoundRobin:
		head = `{"type":"group","group":"` + placeholderID + `",`
	case PatternBroadcast:
		head = `{"type":"broadcast",`
	default:
		return template{}, fmt.Errorf("unknown pattern %q", pattern)
	}
	s := head + `"seq":` + digits + `,"ts":` + digits + `,"payload":"` + strings.Repeat("x", payloadBytes) + `"}`
	t := template{b: []byte(s), toOff: -1}
	if pattern != PatternBroadcast {
		t.toOff = len(head) - 2 - len(placeholderID)
	}
	t.seqOff = bytes.Index(t.b, []byte(`"seq":`)) + len(`"seq":`)
	t.tsOff = bytes.Index(t.b, []byte(`"ts":`)) + len(`"ts":`)
	return t, nil
}

// set writes the target (when the template has one), seq and ts.
func (t *template) set(to []byte, seq uint64, ts int64) {
	if t.toOff >= 0 {
		copy(t.b[t.toOff:], to)
	}
	putDigits(t.b[t.seqOff:t.seqOff+numWidth], seq)
	putDigits(t.b[t.tsOff:t.tsOff+numWidth], uint64(ts))
}

// putDigits writes v right-aligned in b as decimal digits (v must have exactly len(b) digits to stay valid JSON),
// two digits per division: every message carries two 19-digit numbers.
func putDigits(b []byte, v uint64) {
	i := len(b)
	for i >= 2 {
		q := v / 100
		d := (v - q*100) * 2
		b[i-1], b[i-2] = digitPairs[d+1], digitPairs[d]
		v = q
		i -= 2
	}
	if i == 1 {
		b[0] = byte('0' + v%10)
	}
}

const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// inbound is what the generator needs from a frame the bus sent.
type inbound struct {
	typ, code     []byte
	ts            int64
	seq           uint64
	hasTS, hasSeq bool
}

// scanFrame reads the top-level fields of a JSON object without allocating: type and code (strings), ts and seq
// (integers); every other value is skipped. It accepts any key order and whitespace, as JSON allows. A "msg"
// stops being scanned once its ts and seq are known: both buses and the NATS body put the payload after them, and
// the payload is most of a frame.
func scanFrame(b []byte) (inbound, error) {
	var m inbound
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return m, fmt.Errorf("not a JSON object")
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return m, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return m, fmt.Errorf("expected a key at %d", i)
		}
		end := skipString(b, i)
		if end < 0 {
			return m, fmt.Errorf("unterminated key")
		}
		key := b[i+1 : end-1]
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return m, fmt.Errorf("expected ':' at %d", i)
		}
		i = skipWS(b, i+1)
		vend := skipValue(b, i)
		if vend < 0 {
			return m, fmt.Errorf("bad value for %q", key)
		}
		v := b[i:vend]
		switch string(key) {
		case "type":
			m.typ = unquote(v)
		case "code":
			m.code = unquote(v)
		case "ts":
			if n, ok := parseInt(v); ok {
				m.ts, m.hasTS = n, true
			}
		case "seq":
			if n, ok := parseInt(v); ok && n >= 0 {
				m.seq, m.hasSeq = uint64(n), true
			}
		}
		if m.hasTS && m.hasSeq && string(m.typ) == "msg" {
			return m, nil
		}
		i = skipWS(b, vend)
		if i >= len(b) {
			return m, fmt.Errorf("unterminated object")
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return m, nil
		default:
			return m, fmt.Errorf("expected ',' or '}' at %d", i)
		}
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"', or -1. It jumps from quote to quote
// (bytes.IndexByte is vectorised: payloads are most of a frame) and counts the backslashes before each.
func skipString(b []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		q := j + k
		bs := 0
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			bs++
		}
		if bs%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
}

// skipValue returns the index after the JSON value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := skipString(b, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default: // number, true, false, null
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' &&
			b[j] != '\n' && b[j] != '\r' {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}

// unquote returns a string value's bytes without the quotes (escapes kept: the fields read here never hold any).
func unquote(v []byte) []byte {
	if len(v) >= 2 && v[0] == '"' {
		return v[1 : len(v)-1]
	}
	return nil
}

// parseInt parses a JSON integer (no fraction or exponent) that fits in int64.
func parseInt(v []byte) (int64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	neg := v[0] == '-'
	if neg {
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > 1<<63-1 {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}
