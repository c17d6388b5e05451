package sse

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// RecordedText is what testdata/recorded.sse (the Messages API's documented stream, with pings, unicode escapes,
// a surrogate pair and members in another order) accumulates to.
const RecordedText = "Hello! \"Café\" 🚀\nback\\slash"

func readAll(t testing.TB, r io.Reader) (*Message, error) {
	t.Helper()
	d := NewDecoder(r)
	m := &Message{}
	for {
		ev, err := d.Next()
		if err == io.EOF {
			return m, nil
		}
		if err != nil {
			return m, err
		}
		if err := m.Add(ev); err != nil {
			return m, err
		}
	}
}

func TestRecorded(t *testing.T) {
	b, err := os.ReadFile("testdata/recorded.sse")
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{"lf": b, "crlf": bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))} {
		t.Run(name, func(t *testing.T) {
			m, err := readAll(t, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(m.Text); got != RecordedText {
				t.Errorf("text = %q, want %q", got, RecordedText)
			}
			if !m.Started || !m.Stopped || m.StopReason != "end_turn" || m.OutputTokens != 15 || m.Deltas != 3 {
				t.Errorf("message = %+v", m)
			}
		})
	}
}

func TestDecoderFields(t *testing.T) {
	in := ": comment\nid: 7\nretry: 10\nevent: a\ndata: one\ndata:two\n\n" + // multi-line data, no space after colon
		"event: no-data\n\n" + // not dispatched
		"data: unnamed\n\n" +
		"event: cut\ndata: x"
	d := NewDecoder(strings.NewReader(in))
	want := []struct{ typ, data string }{{"a", "one\ntwo"}, {"", "unnamed"}}
	for _, w := range want {
		ev, err := d.Next()
		if err != nil {
			t.Fatal(err)
		}
		if string(ev.Type) != w.typ || string(ev.Data) != w.data {
			t.Errorf("event = %q %q, want %q %q", ev.Type, ev.Data, w.typ, w.data)
		}
	}
	if _, err := d.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("unterminated last event: err = %v, want ErrUnexpectedEOF", err)
	}
}

func TestLongLine(t *testing.T) {
	text := strings.Repeat("x", 100<<10)
	in := "event: content_block_delta\ndata: {\"delta\":{\"type\":\"text_delta\",\"text\":\"" + text + "\"}}\n\n"
	m, err := readAll(t, strings.NewReader(in))
	if err != nil || string(m.Text) != text {
		t.Fatalf("long line: err %v, %d bytes", err, len(m.Text))
	}
	huge := "data: " + strings.Repeat("x", MaxLine+10) + "\n\n"
	if _, err := NewDecoder(strings.NewReader(huge)).Next(); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("huge line: err = %v", err)
	}
}

func TestErrorEvent(t *testing.T) {
	in := "event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n"
	_, err := readAll(t, strings.NewReader(in))
	var ae *APIError
	if !errors.As(err, &ae) || ae.Type != "overloaded_error" || ae.Message != "Overloaded" {
		t.Fatalf("err = %v", err)
	}
}

func TestLookup(t *testing.T) {
	obj := []byte(`{"a": [1, {"b": "}"}, "x\"y"], "n": -1.5e3, "t": true, "z": null, "k": {"text": "v"}}`)
	for key, want := range map[string]string{"a": `[1, {"b": "}"}, "x\"y"]`, "n": "-1.5e3", "t": "true", "z": "null", "k": `{"text": "v"}`} {
		got, ok := Lookup(obj, key)
		if !ok || string(got) != want {
			t.Errorf("Lookup(%q) = %q %v, want %q", key, got, ok, want)
		}
	}
	if _, ok := Lookup(obj, "text"); ok {
		t.Error("Lookup found a nested key at the top level")
	}
	for _, bad := range []string{``, `[]`, `{`, `{"a"}`, `{"a":}`, `{"a":1 "b":2}`} {
		if _, ok := Lookup([]byte(bad), "b"); ok {
			t.Errorf("Lookup(%q) ok", bad)
		}
	}
}

func TestUnquoteMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{`""`, `"plain"`, `"\u00e9\ud83d\ude80"`, `"\ud83d"`, `"\ud83dx"`, `"\/\b\f\n\r\t"`, "\"\xff\"", `"\x"`, `"a`} {
		checkUnquote(t, []byte(s))
	}
}

func checkUnquote(t *testing.T, raw []byte) {
	t.Helper()
	var want string
	refErr := json.Unmarshal(raw, &want)
	got, err := AppendUnquote(nil, raw)
	if (refErr == nil) != (err == nil) {
		// encoding/json also rejects a literal with trailing data or surrounding space, which our callers never
		// pass: only compare well-delimited literals.
		if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
			t.Fatalf("AppendUnquote(%q): err %v, encoding/json err %v", raw, err, refErr)
		}
		return
	}
	if err == nil && string(got) != want {
		t.Fatalf("AppendUnquote(%q) = %q, encoding/json %q", raw, got, want)
	}
}

// FuzzUnquote: the string decoder agrees with encoding/json on every well-delimited literal.
func FuzzUnquote(f *testing.F) {
	for _, s := range []string{`"a"`, `"\u00e9"`, `"\ud83d\ude80"`, `"\"\\"`, "\"\xc3\"", `"\ud800\u0041"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
			return
		}
		if _, end, err := scanStringEnd(raw); err != nil || end != len(raw) {
			return // a quote inside: not one literal
		}
		checkUnquote(t, raw)
	})
}

func scanStringEnd(raw []byte) (bool, int, error) {
	end, esc, err := scanString(raw, 0)
	return esc, end, err
}

// FuzzStream: arbitrary bytes never panic the decoder or the accumulator, and every content_block_delta whose
// data encoding/json reads as a text_delta gives the lean reader the same text.
func FuzzStream(f *testing.F) {
	if b, err := os.ReadFile("testdata/recorded.sse"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("event: content_block_delta\ndata: {\"delta\":{\"type\":\"text_delta\",\"text\":\"\\u00e9\"}}\n\n"))
	f.Add([]byte("event: error\ndata: {\"error\":{\"type\":\"x\"}}\n\n"))
	f.Add([]byte("data: a\r\ndata: b\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(bytes.NewReader(in))
		for range 10000 {
			ev, err := d.Next()
			if err != nil {
				return
			}
			m := &Message{}
			lerr := m.Add(ev)
			if string(ev.Type) != "content_block_delta" || bytes.Count(ev.Data, []byte(`"delta"`)) > 1 ||
				bytes.Count(ev.Data, []byte(`"text"`)) > 1 || bytes.Count(ev.Data, []byte(`"type"`)) > 2 ||
				bytes.Contains(ev.Data, []byte(`\u`)) {
				continue // duplicate or escaped keys: encoding/json takes the last, case-insensitively; we take the first
			}
			// Exact-case keys (encoding/json's struct decoding matches keys case-insensitively; the API's are exact).
			var top, delta map[string]json.RawMessage
			var typ, text string
			if json.Unmarshal(ev.Data, &top) != nil || json.Unmarshal(top["delta"], &delta) != nil ||
				json.Unmarshal(delta["type"], &typ) != nil || typ != "text_delta" || delta["text"] == nil ||
				json.Unmarshal(delta["text"], &text) != nil {
				continue
			}
			if lerr != nil {
				t.Fatalf("lean reader failed on %q: %v", ev.Data, lerr)
			}
			if string(m.Text) != text {
				t.Fatalf("lean text %q, encoding/json %q (data %q)", m.Text, text, ev.Data)
			}
		}
	})
}

// BenchmarkDecode measures the lean reader's events/s over a realistic stream (4-byte tokens).
func BenchmarkDecode(b *testing.B) {
	for _, size := range []int{4, 64} {
		body := syntheticStream(1000, size)
		b.Run("token_bytes="+itoa(size), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			r := bytes.NewReader(body)
			var events int
			for b.Loop() {
				r.Reset(body)
				d := NewDecoder(r)
				m := Message{Text: make([]byte, 0, 1000*size)}
				for {
					ev, err := d.Next()
					if err != nil {
						break
					}
					events++
					if err := m.Add(ev); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func itoa(n int) string { return string(json.Number(jsonInt(n))) }

func jsonInt(n int) string { b, _ := json.Marshal(n); return string(b) }

func syntheticStream(tokens, size int) []byte {
	var b bytes.Buffer
	b.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"output_tokens\":1}}}\n\n")
	tok, _ := json.Marshal(strings.Repeat("é", size/2))
	for range tokens {
		b.WriteString(`event: content_block_delta` + "\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`)
		b.Write(tok)
		b.WriteString("}}\n\n")
	}
	b.WriteString("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":1000}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	return b.Bytes()
}
