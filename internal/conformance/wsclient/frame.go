package wsclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Frame is one frame received from the bus. Raw is the exact text the bus sent; Fields holds every top-level
// field of the JSON object as raw JSON, so tests can compare values byte for byte; the string fields are decoded
// for convenience ("" when absent or not a string).
type Frame struct {
	Raw    []byte
	Binary bool
	Fields map[string]json.RawMessage

	Type, Mode, From, To, Group, ID, Code, Message string
}

// ParseFrame decodes one text frame. A frame that is not a JSON object is an error: the bus never sends one.
func ParseFrame(raw []byte) (Frame, error) {
	f := Frame{Raw: raw}
	if err := json.Unmarshal(raw, &f.Fields); err != nil {
		return f, fmt.Errorf("frame is not a JSON object: %w: %q", err, clip(raw))
	}
	if f.Fields == nil {
		return f, fmt.Errorf("frame is JSON null: %q", clip(raw))
	}
	for name, dst := range map[string]*string{
		"type": &f.Type, "mode": &f.Mode, "from": &f.From, "to": &f.To, "group": &f.Group,
		"id": &f.ID, "code": &f.Code, "message": &f.Message,
	} {
		if v, ok := f.Fields[name]; ok {
			_ = json.Unmarshal(v, dst) // a non-string stays ""; tests that care inspect Fields
		}
	}
	return f, nil
}

// Has reports whether the frame carries the top-level field name.
func (f Frame) Has(name string) bool { _, ok := f.Fields[name]; return ok }

// Seq returns the frame's seq when it is present and a non-negative integer.
func (f Frame) Seq() (uint64, bool) { return f.uint("seq") }

// TS returns the frame's ts when it is present and an integer.
func (f Frame) TS() (int64, bool) {
	v, ok := f.Fields["ts"]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil
}

func (f Frame) uint(name string) (uint64, bool) {
	v, ok := f.Fields[name]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	return n, err == nil
}

// Payload returns the raw JSON of payload, nil when absent.
func (f Frame) Payload() json.RawMessage { return f.Fields["payload"] }

// String is the raw frame, clipped, for test messages.
func (f Frame) String() string {
	if f.Binary {
		return fmt.Sprintf("binary(%d bytes)", len(f.Raw))
	}
	return string(clip(f.Raw))
}

func clip(b []byte) []byte {
	const max = 300
	if len(b) <= max {
		return b
	}
	out := append([]byte{}, b[:max]...)
	return append(out, fmt.Sprintf("…(%d bytes)", len(b))...)
}

// Msg is the optional part of an outgoing send, broadcast or group message. Nil fields are left out of the frame;
// Payload is written exactly as given (it must be valid JSON for a well-formed message), so a test can check that
// the bus carries it byte for byte.
type Msg struct {
	Seq     *uint64
	TS      *int64
	Payload json.RawMessage
}

// Seq returns a pointer to n, for Msg.Seq.
func Seq(n uint64) *uint64 { return &n }

// TS returns a pointer to n, for Msg.TS.
func TS(n int64) *int64 { return &n }

// builder writes a JSON object field by field. encoding/json is not used for the whole frame because it compacts
// and HTML-escapes json.RawMessage values, which would rewrite the payload under test.
type builder struct{ b bytes.Buffer }

func (w *builder) field(name string, raw []byte) {
	if w.b.Len() == 0 {
		w.b.WriteByte('{')
	} else {
		w.b.WriteByte(',')
	}
	w.b.WriteString(strconv.Quote(name)) // names are ASCII constants
	w.b.WriteByte(':')
	w.b.Write(raw)
}

func (w *builder) str(name, v string) {
	raw, _ := json.Marshal(v) // marshalling a string cannot fail
	w.field(name, raw)
}

func (w *builder) msg(m Msg) {
	if m.Seq != nil {
		w.field("seq", strconv.AppendUint(nil, *m.Seq, 10))
	}
	if m.TS != nil {
		w.field("ts", strconv.AppendInt(nil, *m.TS, 10))
	}
	if m.Payload != nil {
		w.field("payload", m.Payload)
	}
}

func (w *builder) bytes() []byte {
	if w.b.Len() == 0 {
		return []byte("{}")
	}
	w.b.WriteByte('}')
	return w.b.Bytes()
}

// RegisterFrame is the text of a register message.
func RegisterFrame(id string, groups ...string) []byte {
	var w builder
	w.str("type", "register")
	w.str("id", id)
	if len(groups) > 0 {
		raw, _ := json.Marshal(groups)
		w.field("groups", raw)
	}
	return w.bytes()
}

// SendFrame is the text of a direct message to id to.
func SendFrame(to string, m Msg) []byte {
	var w builder
	w.str("type", "send")
	w.str("to", to)
	w.msg(m)
	return w.bytes()
}

// BroadcastFrame is the text of a broadcast message.
func BroadcastFrame(m Msg) []byte {
	var w builder
	w.str("type", "broadcast")
	w.msg(m)
	return w.bytes()
}

// GroupFrame is the text of a round-robin group message.
func GroupFrame(group string, m Msg) []byte {
	var w builder
	w.str("type", "group")
	w.str("group", group)
	w.msg(m)
	return w.bytes()
}

// PingFrame is the text of an application-level ping (seq and ts optional).
func PingFrame(seq *uint64, ts *int64) []byte {
	var w builder
	w.str("type", "ping")
	w.msg(Msg{Seq: seq, TS: ts})
	return w.bytes()
}
