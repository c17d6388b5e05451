package loadgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

func TestTemplatePatchesInPlace(t *testing.T) {
	for _, pattern := range Patterns {
		tm, err := newTemplate(pattern, 16)
		if err != nil {
			t.Fatal(err)
		}
		size := len(tm.b)
		to := []byte(AgentID(3, 4242))
		if pattern == PatternRoundRobin {
			to = []byte(GroupID(3, 17))
		}
		seq := EncodeSeq(3, 4242, 99)
		tm.set(to, seq, 1_732_556_000_123_456_789)
		if len(tm.b) != size {
			t.Fatalf("%s: template changed size", pattern)
		}
		var m map[string]any
		dec := json.NewDecoder(bytesReader(tm.b))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%s: not JSON: %v: %s", pattern, err, tm.b)
		}
		wantType := map[string]string{PatternTargeted: "send", PatternBroadcast: "broadcast", PatternRoundRobin: "group"}[pattern]
		if m["type"] != wantType || m["ts"].(json.Number).String() != "1732556000123456789" ||
			m["seq"].(json.Number).String() != "1030004242000000099" || m["payload"] != "xxxxxxxxxxxxxxxx" {
			t.Errorf("%s: %s", pattern, tm.b)
		}
		switch pattern {
		case PatternTargeted:
			if m["to"] != "g03-a004242" {
				t.Errorf("to = %v", m["to"])
			}
		case PatternRoundRobin:
			if m["group"] != "g03-r000017" {
				t.Errorf("group = %v", m["group"])
			}
		}
	}
	if _, err := newTemplate("fanout", 1); err == nil {
		t.Error("unknown pattern accepted")
	}
}

func TestSeqRoundTrip(t *testing.T) {
	for _, c := range []struct {
		gen, sender int
		n           uint64
	}{{0, 0, 0}, {89, 999_999, 1e9 + 5}, {7, 12, 123}} {
		g, s, ok := DecodeSeq(EncodeSeq(c.gen, c.sender, c.n))
		if !ok || g != c.gen || s != c.sender {
			t.Errorf("DecodeSeq(EncodeSeq(%d, %d)) = %d, %d, %v", c.gen, c.sender, g, s, ok)
		}
	}
	if _, _, ok := DecodeSeq(41); ok {
		t.Error("a foreign seq decoded")
	}
}

func TestScanFrame(t *testing.T) {
	cases := []struct {
		in            string
		typ, code     string
		ts            int64
		seq           uint64
		hasTS, hasSeq bool
	}{
		{in: `{"type":"msg","mode":"direct","from":"a","to":"b","seq":41,"ts":1732556000123456789,"payload":{"text":"hi"}}`,
			typ: "msg", ts: 1732556000123456789, seq: 41, hasTS: true, hasSeq: true},
		// Any key order and whitespace; "ts" and "seq" inside the payload must not be taken.
		{in: " { \"payload\" : {\"ts\":1,\"seq\":[2,\"}\"]} , \"ts\" : 7 ,\n\"type\":\"msg\", \"seq\": 3 } ",
			typ: "msg", ts: 7, seq: 3, hasTS: true, hasSeq: true},
		{in: `{"type":"error","code":"unknown_target","seq":41,"message":"no agent with id \"x\""}`,
			typ: "error", code: "unknown_target", seq: 41, hasSeq: true},
		{in: `{"type":"registered","id":"agent-7"}`, typ: "registered"},
		{in: `{"type":"pong","seq":-1,"ts":-5}`, typ: "pong", ts: -5, hasTS: true},
		{in: `{}`},
		// Escaped quotes and backslashes inside strings, before and after the fields read.
		{in: `{"p":"a\\","q":"\\\"}\"","type":"msg","r":"x\\\\","seq":5}`, typ: "msg", seq: 5, hasSeq: true},
	}
	for _, c := range cases {
		m, err := scanFrame([]byte(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if string(m.typ) != c.typ || string(m.code) != c.code || m.ts != c.ts || m.seq != c.seq ||
			m.hasTS != c.hasTS || m.hasSeq != c.hasSeq {
			t.Errorf("%s: got %+v", c.in, m)
		}
	}
	for _, bad := range []string{``, `[]`, `{"type"}`, `{"type":"msg"`, `{"a":1 "b":2}`, `{"a":"x}`} {
		if _, err := scanFrame([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzScanFrame(f *testing.F) {
	f.Add([]byte(`{"type":"msg","seq":1,"ts":2,"payload":{"a":[1,"]"]}}`))
	f.Add([]byte(`{"type":"error","code":"x"}`))
	f.Add([]byte(`{"a":"\\\"","type":"b\\"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := scanFrame(b)
		if err != nil {
			return
		}
		// What the scanner accepts with a string type must agree with encoding/json on that field.
		var v map[string]json.RawMessage
		if json.Unmarshal(b, &v) != nil {
			return
		}
		var typ string
		// (A key given twice: encoding/json keeps the last, the scanner may stop at the first "msg".)
		if raw, ok := v["type"]; ok && bytes.Count(b, []byte(`"type"`)) == 1 && json.Unmarshal(raw, &typ) == nil && typ != "" && string(raw) == `"`+typ+`"` &&
			string(m.typ) != typ {
			t.Fatalf("type %q, encoding/json says %q", m.typ, typ)
		}
	})
}

func TestPutDigits(t *testing.T) {
	for _, v := range []uint64{0, 7, 42, 100, 1_000_000_000_000_000_000, 1_764_759_600_123_456_789, 9_999_999_999_999_999_999} {
		for _, width := range []int{19, 20, 21} {
			b := make([]byte, width)
			putDigits(b, v)
			want := fmt.Sprintf("%0*d", width, v)
			if string(b) != want {
				t.Errorf("putDigits(%d, width %d) = %q, want %q", v, width, b, want)
			}
		}
	}
}
