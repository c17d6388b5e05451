package conformance

import (
	"github.com/agentlab/agentlab/internal/conformance/wsclient"
)

func deliveryCases() []Case {
	return []Case{
		{Name: "send/fields-carried-exactly", Run: testDirectExact},
		{Name: "send/payload-whitespace-kept", Run: testPayloadWhitespace},
		{Name: "send/payload-null-kept", Run: testPayloadNull},
		{Name: "send/absent-fields-stay-absent", Run: testAbsentFields},
		{Name: "send/unknown-fields-and-key-order", Run: testUnknownFields},
		{Name: "send/to-self", Run: testSendSelf},
		{Name: "send/unknown_target", Run: testUnknownTarget},
		{Name: "broadcast/all-but-sender", Run: testBroadcast},
		{Name: "broadcast/alone-is-no-error", Run: testBroadcastAlone},
	}
}

// payloads the bus must carry byte for byte: key order, nesting, number spellings a decoder would normalise,
// raw and escaped unicode, HTML characters an encoder might escape, integers beyond 64 bits.
func payloads() []string {
	return []string{
		`{"text":"hi"}`,
		`{"z":1,"a":[1,2.50,-3e+2,1.0E-7,{"deep":{"deeper":[null,true,false,"",{}]}}],"m":{}}`,
		`"héllo wörld 世界 🎉"`,
		`"\u00e9\ud83c\udf89 \n\t\"\\\/"`,
		`"<script>&amp;</script>"`,
		`123456789012345678901234567890`,
		`-0.0`,
		`[]`,
		`true`,
		`""`,
		`{"nested":{"a":{"b":{"c":{"d":["é",1,{"e":"\u0000"}]}}}}}`,
	}
}

func testDirectExact(t T, e *Env) {
	a, b := e.Agent(t, "src"), e.Agent(t, "dst")
	const ts int64 = 1732556000123456789
	for i, p := range payloads() {
		seq := uint64(41 + i)
		write(t, a, wsclient.SendFrame(b.ID, wsclient.Msg{Seq: &seq, TS: wsclient.TS(ts), Payload: rawJSON(p)}))
		checkMsg(t, next(t, b), "direct", a.ID, b.ID, "", u64(seq), i64(ts), rawJSON(p))
	}
	// seq beyond 2^53 must not go through a float.
	write(t, a, []byte(`{"type":"send","to":"`+b.ID+`","seq":9007199254740993,"ts":1732556000123456789}`))
	checkMsg(t, next(t, b), "direct", a.ID, b.ID, "", rawJSON("9007199254740993"), i64(ts), nil)
	quiet(t, a)
}

// testPayloadWhitespace: "carried byte-for-byte" read literally keeps insignificant whitespace inside payload.
func testPayloadWhitespace(t T, e *Env) {
	a, b := e.Agent(t, "src"), e.Agent(t, "dst")
	p := "{ \"spaced\" : [ 1 , 2 ] ,\n\t\"x\" : { } }"
	write(t, a, wsclient.SendFrame(b.ID, wsclient.Msg{Seq: seqPtr(1), Payload: rawJSON(p)}))
	checkMsg(t, next(t, b), "direct", a.ID, b.ID, "", u64(1), nil, rawJSON(p))
}

// testPayloadNull: payload is "any JSON", and null is a JSON value: present as null, it is delivered as null.
func testPayloadNull(t T, e *Env) {
	a, b := e.Agent(t, "src"), e.Agent(t, "dst")
	write(t, a, wsclient.SendFrame(b.ID, wsclient.Msg{Seq: seqPtr(1), Payload: rawJSON("null")}))
	checkMsg(t, next(t, b), "direct", a.ID, b.ID, "", u64(1), nil, rawJSON("null"))
}

func testAbsentFields(t T, e *Env) {
	a, b := e.Agent(t, "src"), e.Agent(t, "dst")
	write(t, a, wsclient.SendFrame(b.ID, wsclient.Msg{}))
	checkMsg(t, next(t, b), "direct", a.ID, b.ID, "", nil, nil, nil)
	write(t, a, wsclient.SendFrame(b.ID, wsclient.Msg{TS: wsclient.TS(7)}))
	checkMsg(t, next(t, b), "direct", a.ID, b.ID, "", nil, rawJSON("7"), nil)
	write(t, a, wsclient.SendFrame(b.ID, wsclient.Msg{Payload: rawJSON(`{"only":"payload"}`)}))
	checkMsg(t, next(t, b), "direct", a.ID, b.ID, "", nil, nil, rawJSON(`{"only":"payload"}`))
	write(t, a, wsclient.SendFrame(b.ID, wsclient.Msg{Seq: seqPtr(0)}))
	checkMsg(t, next(t, b), "direct", a.ID, b.ID, "", rawJSON("0"), nil, nil)
}

// testUnknownFields: fields not listed are ignored (no error, the message is routed), whatever the key order and
// the whitespace around the object's members.
func testUnknownFields(t T, e *Env) {
	a, b := e.Agent(t, "src"), e.Agent(t, "dst")
	write(t, a, []byte(`{"type":"send","to":"`+b.ID+`","seq":1,"extra":{"x":[1,2]},"from":"forged","mode":"x","payload":1}`))
	checkMsg(t, next(t, b), "direct", a.ID, b.ID, "", u64(1), nil, rawJSON("1"))
	write(t, a, []byte(` { "payload" : {"p":2} , "seq" : 2 , "to" : "`+b.ID+`" , "type" : "send" } `))
	checkMsg(t, next(t, b), "direct", a.ID, b.ID, "", u64(2), nil, rawJSON(`{"p":2}`))
	write(t, a, []byte(`{"group":"nope","type":"broadcast","to":"nobody","seq":3}`))
	checkMsg(t, next(t, b), "broadcast", a.ID, "", "", u64(3), nil, nil)
	quiet(t, a)
}

func testSendSelf(t T, e *Env) {
	a := e.Agent(t, "self")
	write(t, a, wsclient.SendFrame(a.ID, wsclient.Msg{Seq: seqPtr(1), Payload: rawJSON(`"me"`)}))
	checkMsg(t, next(t, a), "direct", a.ID, a.ID, "", u64(1), nil, rawJSON(`"me"`))
}

func testUnknownTarget(t T, e *Env) {
	a := e.Agent(t, "lonely")
	write(t, a, wsclient.SendFrame(e.ID("nobody"), wsclient.Msg{Seq: seqPtr(41)}))
	expectError(t, a, "unknown_target", withSeq(41))
	write(t, a, wsclient.SendFrame(e.ID("nobody"), wsclient.Msg{}))
	expectError(t, a, "unknown_target", noSeq())
}

func testBroadcast(t T, e *Env) {
	a := e.Agent(t, "caster")
	others := []*Agent{e.Agent(t, "b"), e.Agent(t, "c"), e.Agent(t, "d")}
	unregistered := e.Dial(t)
	const ts int64 = 1732556000123456789
	write(t, a, wsclient.BroadcastFrame(wsclient.Msg{Seq: seqPtr(42), TS: wsclient.TS(ts), Payload: rawJSON(`"status?"`)}))
	for _, o := range others {
		checkMsg(t, next(t, o), "broadcast", a.ID, "", "", u64(42), i64(ts), rawJSON(`"status?"`))
	}
	quiet(t, a) // the sender is excluded
	quiet(t, unregistered)
}

// testBroadcastAlone: the doc's rule is that a broadcast nobody receives is not an error. On the shared bus other
// agents may exist; what is checked is the sender's side, which is the same either way.
func testBroadcastAlone(t T, e *Env) {
	a := e.Agent(t, "alone")
	write(t, a, wsclient.BroadcastFrame(wsclient.Msg{Seq: seqPtr(1)}))
	quiet(t, a)
}
