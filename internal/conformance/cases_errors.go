package conformance

import (
	"fmt"
	"sync"

	"github.com/agentlab/agentlab/internal/conformance/wsclient"
)

func errorCases() []Case {
	return []Case{
		{Name: "malformed/registered", Run: testMalformedRegistered},
		{Name: "malformed/unregistered-register", Run: testMalformedRegister},
		{Name: "malformed/binary-frame", Run: testMalformedBinary},
		{Name: "malformed/invalid-utf8", Run: testMalformedUTF8},
		{Name: "malformed/others-undisturbed", Run: testMalformedOthersUndisturbed},
	}
}

type badFrame struct {
	why string
	raw string
	seq seqRule
}

// badFrames are malformed messages from a registered connection (self is its id). seq is echoed when readable:
// a non-negative integer in an otherwise parseable object.
func badFrames(self string) []badFrame {
	return []badFrame{
		{"not JSON", `not json`, noSeq()},
		{"empty text frame", ``, noSeq()},
		{"JSON array", `[1,2,3]`, noSeq()},
		{"JSON string", `"send"`, noSeq()},
		{"JSON null", `null`, noSeq()},
		{"empty object", `{}`, noSeq()},
		{"missing type", `{"seq":7,"to":"` + self + `"}`, withSeq(7)},
		{"unknown type", `{"type":"bogus","seq":8}`, withSeq(8)},
		{"type msg is bus-to-client only", `{"type":"msg","seq":8}`, withSeq(8)},
		{"type not a string", `{"type":5,"seq":9}`, withSeq(9)},
		{"send without to", `{"type":"send","seq":11}`, withSeq(11)},
		{"send to a number", `{"type":"send","to":42,"seq":12}`, withSeq(12)},
		{"group without group", `{"type":"group","seq":13}`, withSeq(13)},
		{"group name an array", `{"type":"group","group":["g"],"seq":14}`, withSeq(14)},
		{"seq a string", `{"type":"ping","seq":"15"}`, noSeq()},
		{"seq negative", `{"type":"ping","seq":-1}`, anySeq()},
		{"seq fractional", `{"type":"ping","seq":1.5}`, anySeq()},
		{"ts a string", `{"type":"send","to":"` + self + `","ts":"now","seq":16}`, withSeq(16)},
		{"ts fractional", `{"type":"ping","ts":1.5,"seq":17}`, withSeq(17)},
		{"truncated object", `{"type":"broadcast","seq":18`, anySeq()},
		{"trailing garbage", `{"type":"ping","seq":19} x`, anySeq()},
	}
}

func testMalformedRegistered(t T, e *Env) {
	a := e.Agent(t, "garbler")
	for _, b := range badFrames(a.ID) {
		write(t, a, []byte(b.raw))
		f := next(t, a)
		if f.Type != "error" || f.Code != "malformed" {
			t.Errorf("%s %q: want error malformed, got %s", b.why, b.raw, f)
			continue
		}
		checkError(t, a, f, "malformed", b.seq)
	}
	// No error closes the connection: it still works.
	write(t, a, wsclient.SendFrame(a.ID, wsclient.Msg{Seq: seqPtr(99)}))
	checkMsg(t, next(t, a), "direct", a.ID, a.ID, "", u64(99), nil, nil)
}

// testMalformedRegister checks register's own fields on a fresh connection (on a registered one the document does
// not say whether malformed or already_registered wins), then that none of them registered it.
func testMalformedRegister(t T, e *Env) {
	a := e.Dial(t)
	for _, b := range []badFrame{
		{"register without id", `{"type":"register","seq":21}`, withSeq(21)},
		{"id a number", `{"type":"register","id":7,"seq":22}`, withSeq(22)},
		{"groups a string", `{"type":"register","id":"x","groups":"g","seq":23}`, withSeq(23)},
		{"groups holding a number", `{"type":"register","id":"x","groups":[1],"seq":24}`, withSeq(24)},
		{"id null", `{"type":"register","id":null,"seq":25}`, withSeq(25)},
	} {
		write(t, a, []byte(b.raw))
		f := next(t, a)
		if f.Type != "error" || f.Code != "malformed" {
			t.Errorf("%s %q: want error malformed, got %s", b.why, b.raw, f)
			continue
		}
		checkError(t, a, f, "malformed", b.seq)
	}
	write(t, a, wsclient.BroadcastFrame(wsclient.Msg{Seq: seqPtr(26)}))
	expectError(t, a, "not_registered", withSeq(26))
	e.register(t, a, e.ID("after-bad-register"))
}

// testMalformedBinary: a binary frame is answered with malformed and otherwise ignored, even when its bytes would be a
// valid message (whether its seq counts as readable is not specified, so it is not checked).
func testMalformedBinary(t T, e *Env) {
	a := e.Agent(t, "binary")
	ctx, cancel := contextFor(t)
	defer cancel()
	if err := a.WriteBinary(ctx, wsclient.SendFrame(a.ID, wsclient.Msg{Seq: seqPtr(10)})); err != nil {
		t.Fatal(err)
	}
	expectError(t, a, "malformed", anySeq())
	quiet(t, a) // not delivered to itself
}

// testMalformedUTF8: a text frame with invalid UTF-8 is malformed; the connection stays open (only the size limit
// closes it). The message would otherwise be a valid send to the sender itself.
func testMalformedUTF8(t T, e *Env) {
	a := e.Agent(t, "utf8")
	write(t, a, []byte(`{"type":"send","to":"`+a.ID+"\",\"seq\":19,\"payload\":\"\xff\xfe\"}"))
	f := next(t, a)
	if f.Type != "error" || f.Code != "malformed" {
		t.Fatalf("invalid UTF-8 text frame: want error malformed, got %s", f)
	}
	quiet(t, a)
}

// testMalformedOthersUndisturbed: while one connection sends every kind of garbage, two others exchange 200
// messages that all arrive, in order, with no error. Every burst stays below the default queue length (256), and
// b keeps at most 64 messages in flight, so no frame can be dropped as a slow-consumer drop.
func testMalformedOthersUndisturbed(t T, e *Env) {
	bad, b, c := e.Agent(t, "garbler"), e.Agent(t, "b"), e.Agent(t, "c")
	const n, window = 200, 64
	credits := make(chan struct{}, window)
	for range window {
		credits <- struct{}{}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() {
		ctx, cancel := contextFor(t)
		defer cancel()
		frames := badFrames(bad.ID)
		for i := range n {
			var err error
			if i%7 == 0 {
				err = bad.WriteBinary(ctx, []byte("\x00\x01"))
			} else {
				err = bad.WriteText(ctx, []byte(frames[i%len(frames)].raw))
			}
			if err != nil {
				errs <- fmt.Errorf("garbler: %w", err)
				return
			}
		}
	})
	wg.Go(func() {
		ctx, cancel := contextFor(t)
		defer cancel()
		for i := 1; i <= n; i++ {
			select {
			case <-credits:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
			if err := b.Send(ctx, c.ID, wsclient.Msg{Seq: seqPtr(uint64(i)), Payload: rawJSON(`{"ok":true}`)}); err != nil {
				errs <- err
				return
			}
		}
	})
	for i := 1; i <= n; i++ {
		ctx, cancel := contextFor(t)
		f, err := c.Next(ctx)
		cancel()
		if err != nil {
			select {
			case serr := <-errs:
				t.Fatalf("message %d: %v (a writer failed: %v)", i, err, serr)
			default:
				t.Fatalf("message %d from %s: %v", i, b.ID, err)
			}
		}
		if s, _ := f.Seq(); f.Type != "msg" || f.From != b.ID || s != uint64(i) {
			t.Fatalf("message %d from %s: got %s", i, b.ID, f)
		}
		credits <- struct{}{}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	quiet(t, b)
	// The garbler got one malformed error per frame and nothing else.
	for i := range n {
		f := next(t, bad)
		if f.Type != "error" || f.Code != "malformed" {
			t.Fatalf("garbler frame %d: want error malformed, got %s", i, f)
		}
	}
	quiet(t, bad)
}
