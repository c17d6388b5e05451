package gobus

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzHandleMessage feeds arbitrary bytes as a client text frame, from an unregistered and from a registered
// connection. The handler must never panic, every frame it queues must be a JSON object with a type, and the
// envelope scanner must agree with encoding/json on what is a JSON object. Seeds: testdata/fuzz/FuzzHandleMessage.
func FuzzHandleMessage(f *testing.F) {
	f.Add([]byte(`{"type":"register","id":"x","groups":["g"]}`))
	f.Add([]byte(`{"type":"send","to":"p","seq":1,"payload":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := New(Options{QueueLen: 4})
		if err != nil {
			t.Fatal(err)
		}
		peer := s.testConn(t).register("p", "g")
		sender := s.testConn(t).register("s", "g")
		fresh := s.testConn(t)

		var env envelope
		scanned := utf8.Valid(data) && parseEnvelope(data, &env)
		if want := utf8.Valid(data) && isJSONObject(data); scanned != want && !(want && nesting(data) > maxDepth) {
			t.Fatalf("scanner says %v, encoding/json says %v for %q", scanned, want, data)
		}

		for _, c := range []*testConn{fresh, sender, fresh} {
			c.in(string(data))
		}
		for _, c := range []*testConn{peer, sender, fresh} {
			for _, frame := range c.out() {
				var m map[string]json.RawMessage
				if err := json.Unmarshal([]byte(frame), &m); err != nil {
					t.Fatalf("input %q: queued invalid frame %q: %v", data, frame, err)
				}
				if !utf8.ValidString(frame) {
					t.Fatalf("input %q: queued invalid UTF-8 %q", data, frame)
				}
				var typ string
				if json.Unmarshal(m["type"], &typ) != nil || typ == "" {
					t.Fatalf("input %q: frame without type %q", data, frame)
				}
				// What was carried must be what was sent.
				if typ == "msg" && env.payload != nil && string(m["payload"]) != string(env.payload) {
					t.Fatalf("payload %s became %s", env.payload, m["payload"])
				}
			}
		}
	})
}

// nesting returns the deepest bracket nesting of a JSON text, ignoring brackets inside strings.
func nesting(data []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && (c == '[' || c == '{'):
			depth++
			deepest = max(deepest, depth)
		case !inString && (c == ']' || c == '}'):
			depth--
		}
	}
	return deepest
}
