package gobus

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// isJSONObject is the reference answer parseEnvelope must agree with.
func isJSONObject(data []byte) bool {
	if !json.Valid(data) {
		return false
	}
	var m map[string]json.RawMessage
	return json.Unmarshal(data, &m) == nil && m != nil
}

func TestParseEnvelopeAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{"a":1 "b":2}`, `{,}`, `{"a":}`, `{"a"}`, `{1:2}`,
		`{"a":[1,2,[3,{"b":[]}]],"c":{"d":{"e":null}}}`, `{"a":[1,]}`, `{"a":[,1]}`, `{"a":{"b":1,}}`,
		`{"a":-0}`, `{"a":-01}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":1e+5}`, `{"a":-1.5E-3}`,
		`{"a":tru}`, `{"a":true}`, `{"a":nul}`, `{"a":falsey}`, `{"a":"\q"}`, `{"a":"\u12"}`, `{"a":"\u12G4"}`,
		`{"a":"\uD800"}`, `{"a":"\/\b\f\n\r\t\"\\"}`, "{\"a\":\"\t\"}", `{"a":"x"`, `{"a":"x}`, `{"a":[}`, `{"a":{]}`,
		`{"a":[1}`, `{"a":{"b":1]}`, `[]`, `null`, `1`, `{} x`, `{}}`, ``, ` `, `{"a":1}` + "\n",
		strings.Repeat("[", 10) + strings.Repeat("]", 10),
		`{"a":` + strings.Repeat("[", 500) + strings.Repeat("]", 500) + `}`,
	} {
		var env envelope
		got := parseEnvelope([]byte(in), &env)
		if want := isJSONObject([]byte(in)); got != want {
			t.Errorf("parseEnvelope(%q) = %v, encoding/json says %v", in, got, want)
		}
	}
	// Special bytes at every offset around the 8-byte fast path of scanString.
	for _, special := range []string{`"`, `\\`, `\n`, "\x01", "\x1f", "\x7f", "é", `\"`} {
		for at := range 20 {
			in := `{"s":"` + strings.Repeat("a", at) + special + strings.Repeat("b", 20-at) + `"}`
			var env envelope
			got := parseEnvelope([]byte(in), &env)
			if want := isJSONObject([]byte(in)); got != want {
				t.Errorf("parseEnvelope(%q) = %v, encoding/json says %v", in, got, want)
			}
		}
	}
	// Nesting beyond maxDepth is refused even though it is valid JSON.
	deep := `{"a":` + strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2) + `}`
	var env envelope
	if parseEnvelope([]byte(deep), &env) {
		t.Errorf("nesting %d accepted", maxDepth+2)
	}
}

func TestParseEnvelopeFields(t *testing.T) {
	in := `{"type":"send","to":"b","seq":41,"ts":-5,"payload":{"x":[1, 2]},"id":"i","group":"g","groups":["a"],` +
		`"type":"ping","unknown":{"seq":1}}`
	var env envelope
	if !parseEnvelope([]byte(in), &env) {
		t.Fatal("rejected")
	}
	if env.msgType() != typePing { // the last "type" wins, as in encoding/json
		t.Errorf("type %v", env.msgType())
	}
	for name, f := range map[string]struct{ got, want string }{
		"to":      {string(env.to.raw), `"b"`},
		"seq":     {string(env.seq), `41`},
		"ts":      {string(env.ts), `-5`},
		"payload": {string(env.payload), `{"x":[1, 2]}`},
		"id":      {string(env.id.raw), `"i"`},
		"group":   {string(env.group.raw), `"g"`},
		"groups":  {string(env.groups), `["a"]`},
	} {
		if f.got != f.want {
			t.Errorf("%s = %s, want %s", name, f.got, f.want)
		}
	}
	var nulls envelope
	if !parseEnvelope([]byte(`{"type":"ping","seq":null,"ts":null,"groups":null,"payload":null}`), &nulls) {
		t.Fatal("rejected nulls")
	}
	if nulls.seq != nil || nulls.ts != nil || nulls.groups != nil || string(nulls.payload) != "null" {
		t.Errorf("nulls: seq=%q ts=%q groups=%q payload=%q", nulls.seq, nulls.ts, nulls.groups, nulls.payload)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, in := range []string{"", "plain", `q"b\s`, "ctl\x00\x1f\n\r\t", "ünïcode ✓", "bad\xffutf8", "\u2028"} {
		got := appendJSONString(nil, []byte(in))
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q → %s: %v", in, got, err)
		}
		want := strings.ToValidUTF8(in, "\uFFFD")
		if back != want {
			t.Errorf("%q → %s → %q", in, got, back)
		}
		if !utf8.Valid(got) {
			t.Errorf("%q → invalid UTF-8 %q", in, got)
		}
	}
}
