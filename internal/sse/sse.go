// Package sse is a lean reader of the Anthropic Messages API stream: a server-sent-events decoder over bufio
// (event/data fields, comments, CRLF, multi-line data) and an accumulator that reads the minimum of JSON each
// event needs — the delta's text, the stop reason, the output-token count, an error's type — with a small scanner
// instead of encoding/json, so a token costs one pass over its bytes and no allocation beyond the text it adds.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MaxLine bounds one SSE line (a data line carries one JSON event; 1 MiB is far above any delta).
const MaxLine = 1 << 20

// ErrLineTooLong is returned for a line over MaxLine.
var ErrLineTooLong = errors.New("sse: line too long")

// Event is one dispatched event. Type and Data are valid until the next call of Next.
type Event struct {
	Type []byte // the `event:` field ("" when absent)
	Data []byte // the `data:` lines joined by \n
}

// Decoder reads events from a text/event-stream body.
type Decoder struct {
	r         *bufio.Reader
	typ, data []byte
	line      []byte // a line longer than the bufio buffer, assembled
	hasData   bool
}

// NewDecoder returns a decoder reading r through a 32 KiB buffer.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: bufio.NewReaderSize(r, 32<<10)} }

// Next returns the next event. At the end of the body it returns io.EOF; an event not terminated by a blank line
// when the body ends is discarded (the SSE rule) and reported as io.ErrUnexpectedEOF.
func (d *Decoder) Next() (Event, error) {
	d.typ, d.data, d.hasData = d.typ[:0], d.data[:0], false
	pending := false
	for {
		line, err := d.readLine()
		if err != nil {
			if err == io.EOF && (pending || len(line) > 0) {
				return Event{}, io.ErrUnexpectedEOF
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if !pending {
				continue
			}
			if !d.hasData {
				// An event with no data is not dispatched (SSE: "if the data buffer is empty … return").
				d.typ, pending = d.typ[:0], false
				continue
			}
			return Event{Type: d.typ, Data: d.data}, nil
		}
		if line[0] == ':' {
			continue // comment
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "event":
			d.typ = append(d.typ[:0], value...)
			pending = true
		case "data":
			if d.hasData {
				d.data = append(d.data, '\n')
			}
			d.data = append(d.data, value...)
			d.hasData, pending = true, true
		default:
			// id, retry and unknown fields: nothing this client needs.
		}
	}
}

// readLine returns one line without its terminator (\n, \r\n); valid until the next call.
func (d *Decoder) readLine() ([]byte, error) {
	line, err := d.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		d.line = append(d.line[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(d.line) > MaxLine {
				return nil, ErrLineTooLong
			}
			line, err = d.r.ReadSlice('\n')
			d.line = append(d.line, line...)
		}
		if len(d.line) > MaxLine {
			return nil, ErrLineTooLong
		}
		line = d.line
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	if err == io.EOF && len(line) == 0 {
		return nil, io.EOF
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if err == io.EOF {
		// A last line with no terminator: hand it back with the EOF so Next can tell a cut stream.
		return line, io.EOF
	}
	return line, nil
}

// APIError is an `event: error` in the stream.
type APIError struct {
	Type    string // e.g. overloaded_error
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("stream error %s: %s", e.Type, e.Message) }

// ErrBadEvent wraps an event whose JSON this reader cannot use.
var ErrBadEvent = errors.New("sse: malformed event")

// Message accumulates one streamed message.
type Message struct {
	Text         []byte
	Deltas       int    // text deltas received
	StopReason   string // from message_delta
	OutputTokens int64  // message_delta's cumulative usage.output_tokens
	Started      bool   // message_start seen
	Stopped      bool   // message_stop seen: the stream is complete
}

var (
	evDelta        = []byte("content_block_delta")
	evMessageDelta = []byte("message_delta")
	evMessageStop  = []byte("message_stop")
	evMessageStart = []byte("message_start")
	evError        = []byte("error")
)

// Add folds one event into m. An `event: error` returns *APIError; events this reader does not use (ping,
// content_block_start/stop, unknown types) are ignored, as the SDK ignores them.
func (m *Message) Add(ev Event) error {
	switch {
	case bytes.Equal(ev.Type, evDelta):
		delta, ok := Lookup(ev.Data, "delta")
		if !ok {
			return fmt.Errorf("%w: content_block_delta without delta", ErrBadEvent)
		}
		typ, _ := Lookup(delta, "type")
		if !bytes.Equal(typ, []byte(`"text_delta"`)) {
			return nil // thinking, tool input: not text
		}
		raw, ok := Lookup(delta, "text")
		if !ok {
			return fmt.Errorf("%w: text_delta without text", ErrBadEvent)
		}
		var err error
		if m.Text, err = AppendUnquote(m.Text, raw); err != nil {
			return fmt.Errorf("%w: text: %v", ErrBadEvent, err)
		}
		m.Deltas++
	case bytes.Equal(ev.Type, evMessageDelta):
		if d, ok := Lookup(ev.Data, "delta"); ok {
			if sr, ok := Lookup(d, "stop_reason"); ok && sr[0] == '"' {
				s, err := AppendUnquote(nil, sr)
				if err != nil {
					return fmt.Errorf("%w: stop_reason: %v", ErrBadEvent, err)
				}
				m.StopReason = string(s)
			}
		}
		if u, ok := Lookup(ev.Data, "usage"); ok {
			if n, ok := Lookup(u, "output_tokens"); ok {
				v, err := parseInt(n)
				if err != nil {
					return fmt.Errorf("%w: output_tokens: %v", ErrBadEvent, err)
				}
				m.OutputTokens = v
			}
		}
	case bytes.Equal(ev.Type, evMessageStop):
		m.Stopped = true
	case bytes.Equal(ev.Type, evMessageStart):
		m.Started = true
	case bytes.Equal(ev.Type, evError):
		e := &APIError{}
		if o, ok := Lookup(ev.Data, "error"); ok {
			if t, ok := Lookup(o, "type"); ok {
				b, _ := AppendUnquote(nil, t)
				e.Type = string(b)
			}
			if t, ok := Lookup(o, "message"); ok {
				b, _ := AppendUnquote(nil, t)
				e.Message = string(b)
			}
		}
		return e
	}
	return nil
}

func parseInt(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, errors.New("empty number")
	}
	var v int64
	for i, c := range b {
		if c == '-' && i == 0 {
			continue
		}
		if c < '0' || c > '9' || v > (1<<62)/10 {
			return 0, fmt.Errorf("not an integer: %q", b)
		}
		v = v*10 + int64(c-'0')
	}
	if b[0] == '-' {
		if len(b) == 1 {
			return 0, errors.New("not an integer: -")
		}
		v = -v
	}
	return v, nil
}
