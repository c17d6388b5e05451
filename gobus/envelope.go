package gobus

import (
	"encoding/binary"
	"encoding/json"
	"math"
)

// msgType is the client → bus message type.
type msgType uint8

const (
	typeInvalid msgType = iota
	typeRegister
	typeSend
	typeBroadcast
	typeGroup
	typePing
	numMsgTypes
)

var msgTypeNames = [numMsgTypes]string{"invalid", "register", "send", "broadcast", "group", "ping"}

func (t msgType) String() string { return msgTypeNames[t] }

// maxDepth bounds JSON nesting so a hostile frame cannot make the scanner's work unbounded; deeper documents are
// malformed. encoding/json uses 10000; real payloads never come close to 512.
const maxDepth = 512

// strField is a string-valued top-level field as it appears in the frame.
type strField struct {
	raw     []byte // the JSON value, quotes included; nil when the field is absent
	escaped bool   // the string contains a backslash escape, so raw[1:len-1] is not the decoded value
}

func (f strField) present() bool  { return f.raw != nil }
func (f strField) isString() bool { return len(f.raw) >= 2 && f.raw[0] == '"' }

// value returns the decoded string; it allocates only when the string holds escapes.
func (f strField) value() []byte {
	if !f.escaped {
		return f.raw[1 : len(f.raw)-1]
	}
	var s string
	// raw was validated by the scanner, so Unmarshal cannot fail.
	_ = json.Unmarshal(f.raw, &s)
	return []byte(s)
}

// envelope holds the top-level fields of one client frame as sub-slices of the frame: nothing is decoded or copied
// unless a string carries escapes.
type envelope struct {
	typ     strField
	id      strField
	to      strField
	group   strField
	groups  []byte // raw JSON value
	seq     []byte // raw JSON value
	ts      []byte
	payload []byte
}

// parseEnvelope scans data, which must be one JSON object (already known to be valid UTF-8), and records the fields
// the bus reads. Unknown fields are validated and skipped; a repeated key keeps its last value, as encoding/json
// does. It reports false for anything that is not exactly one well-formed JSON object.
func parseEnvelope(data []byte, env *envelope) bool {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipWS(data, i+1) == len(data)
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return false
		}
		kStart := i
		end, esc, ok := scanString(data, i)
		if !ok {
			return false
		}
		key := data[kStart+1 : end-1]
		if esc {
			key = strField{raw: data[kStart:end], escaped: true}.value()
		}
		i = skipWS(data, end)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = skipWS(data, i+1)
		vStart := i
		var vEsc bool
		if i < len(data) && data[i] == '"' {
			i, vEsc, ok = scanString(data, i)
		} else {
			i, ok = skipValue(data, i)
		}
		if !ok {
			return false
		}
		val := data[vStart:i]
		switch string(key) {
		case "type":
			env.typ = strField{raw: val, escaped: vEsc}
		case "id":
			env.id = strField{raw: val, escaped: vEsc}
		case "to":
			env.to = strField{raw: val, escaped: vEsc}
		case "group":
			env.group = strField{raw: val, escaped: vEsc}
		case "groups":
			env.groups = nullToAbsent(val)
		case "seq":
			env.seq = nullToAbsent(val)
		case "ts":
			env.ts = nullToAbsent(val)
		case "payload":
			env.payload = val
		}
		i = skipWS(data, i)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case '}':
			return skipWS(data, i+1) == len(data)
		default:
			return false
		}
	}
}

// nullToAbsent treats an explicit null in an optional field as absence, as serde's Option and Go's nil slices
// and pointers produce it. payload is different: null is a JSON value and is carried.
func nullToAbsent(v []byte) []byte {
	if string(v) == "null" {
		return nil
	}
	return v
}

// msgType maps the type field; typeInvalid when absent, not a string or unknown.
func (env *envelope) msgType() msgType {
	if !env.typ.isString() {
		return typeInvalid
	}
	switch string(env.typ.value()) {
	case "register":
		return typeRegister
	case "send":
		return typeSend
	case "broadcast":
		return typeBroadcast
	case "group":
		return typeGroup
	case "ping":
		return typePing
	}
	return typeInvalid
}

// seqOK reports whether seq is absent or an integer in [0, 2^64-1] (the range a u64 holds).
func seqOK(raw []byte) bool {
	if raw == nil {
		return true
	}
	return isUint(raw, math.MaxUint64)
}

// tsOK reports whether ts is absent or an integer that fits an int64.
func tsOK(raw []byte) bool {
	if raw == nil {
		return true
	}
	if len(raw) > 0 && raw[0] == '-' {
		return isUint(raw[1:], 1<<63)
	}
	return isUint(raw, math.MaxInt64)
}

// isUint reports whether raw is a JSON integer without sign, fraction or exponent and at most max.
func isUint(raw []byte, max uint64) bool {
	if len(raw) == 0 || len(raw) > 20 {
		return false
	}
	if raw[0] == '0' && len(raw) > 1 {
		return false
	}
	var n uint64
	for _, c := range raw {
		if c < '0' || c > '9' {
			return false
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return false
		}
		n = n*10 + d
	}
	return n <= max
}

// forEachString calls fn with each element of the JSON array raw (already validated by the scanner). It reports
// false when raw is not an array or an element is not a string.
func forEachString(raw []byte, fn func(strField) bool) bool {
	if len(raw) == 0 || raw[0] != '[' {
		return false
	}
	i := skipWS(raw, 1)
	if i < len(raw) && raw[i] == ']' {
		return true
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return false
		}
		end, esc, ok := scanString(raw, i)
		if !ok || !fn(strField{raw: raw[i:end], escaped: esc}) {
			return false
		}
		i = skipWS(raw, end)
		if i >= len(raw) {
			return false
		}
		switch raw[i] {
		case ',':
			i = skipWS(raw, i+1)
		case ']':
			return true
		default:
			return false
		}
	}
}

func skipWS(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString scans the string starting at d[i] == '"' and returns the index after its closing quote and whether
// it holds escapes. Control characters and bad escapes are rejected; UTF-8 validity is checked for the whole frame
// elsewhere.
func scanString(d []byte, i int) (end int, escaped, ok bool) {
	i++
	for i < len(d) {
		// Skip eight plain bytes at a time: most of a payload is string content.
		for i+8 <= len(d) {
			x := binary.LittleEndian.Uint64(d[i:])
			if hasLess(x, 0x20) || hasByte(x, '"') || hasByte(x, '\\') {
				break
			}
			i += 8
		}
		if i >= len(d) {
			break
		}
		c := d[i]
		switch {
		case c == '"':
			return i + 1, escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(d) {
				return 0, false, false
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(d) {
					return 0, false, false
				}
				for _, h := range d[i+2 : i+6] {
					if !isHex(h) {
						return 0, false, false
					}
				}
				i += 6
			default:
				return 0, false, false
			}
		case c < 0x20:
			return 0, false, false
		default:
			i++
		}
	}
	return 0, false, false
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// hasLess reports whether any byte of x is below n (n ≤ 128); hasByte whether any byte equals b. Both are the
// classic SWAR bit tricks, exact for existence.
func hasLess(x uint64, n byte) bool { return (x-lsb*uint64(n))&^x&msb != 0 }
func hasByte(x uint64, b byte) bool { y := x ^ (lsb * uint64(b)); return (y-lsb)&^y&msb != 0 }

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// scanNumber scans a JSON number starting at d[i].
func scanNumber(d []byte, i int) (int, bool) {
	if i < len(d) && d[i] == '-' {
		i++
	}
	if i >= len(d) {
		return 0, false
	}
	switch {
	case d[i] == '0':
		i++
	case d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return 0, false
	}
	if i < len(d) && d[i] == '.' {
		i++
		start := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == start {
			return 0, false
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		start := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == start {
			return 0, false
		}
	}
	return i, true
}

func scanLiteral(d []byte, i int, lit string) (int, bool) {
	if len(d)-i < len(lit) || string(d[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// skipValue validates the JSON value starting at d[i] (no leading white space) and returns the index after it.
// It is iterative, with the open containers kept in a bit stack, so nesting costs no Go stack.
func skipValue(d []byte, i int) (int, bool) {
	var stack [maxDepth / 64]uint64 // bit set: object, clear: array
	depth := 0
	var ok bool
	for {
		// A value is expected at d[i].
		i = skipWS(d, i)
		if i >= len(d) {
			return 0, false
		}
		switch c := d[i]; {
		case c == '{' || c == '[':
			i = skipWS(d, i+1)
			if i < len(d) && (c == '{' && d[i] == '}' || c == '[' && d[i] == ']') {
				i++
				break
			}
			if depth == maxDepth {
				return 0, false
			}
			if c == '{' {
				stack[depth/64] |= 1 << (depth % 64)
			} else {
				stack[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			if c == '{' {
				if i, ok = objectKey(d, i); !ok {
					return 0, false
				}
			}
			continue
		case c == '"':
			if i, _, ok = scanString(d, i); !ok {
				return 0, false
			}
		case c == '-' || c >= '0' && c <= '9':
			if i, ok = scanNumber(d, i); !ok {
				return 0, false
			}
		case c == 't':
			if i, ok = scanLiteral(d, i, "true"); !ok {
				return 0, false
			}
		case c == 'f':
			if i, ok = scanLiteral(d, i, "false"); !ok {
				return 0, false
			}
		case c == 'n':
			if i, ok = scanLiteral(d, i, "null"); !ok {
				return 0, false
			}
		default:
			return 0, false
		}
		// A value ended: close containers until one continues with ','.
		for {
			if depth == 0 {
				return i, true
			}
			i = skipWS(d, i)
			if i >= len(d) {
				return 0, false
			}
			inObject := stack[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			if d[i] == ',' {
				i = skipWS(d, i+1)
				if inObject {
					if i, ok = objectKey(d, i); !ok {
						return 0, false
					}
				}
				break
			}
			if inObject && d[i] == '}' || !inObject && d[i] == ']' {
				i++
				depth--
				continue
			}
			return 0, false
		}
	}
}

// objectKey scans `"key" :` at d[i] and returns the index after the colon.
func objectKey(d []byte, i int) (int, bool) {
	if i >= len(d) || d[i] != '"' {
		return 0, false
	}
	i, _, ok := scanString(d, i)
	if !ok {
		return 0, false
	}
	i = skipWS(d, i)
	if i >= len(d) || d[i] != ':' {
		return 0, false
	}
	return i + 1, true
}
