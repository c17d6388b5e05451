package conformance

import (
	"strings"

	"github.com/agentlab/agentlab/internal/conformance/wsclient"
)

// DefaultMaxMessageBytes is the protocol's default size limit.
const DefaultMaxMessageBytes = 65536

func sizeCases() []Case {
	return []Case{
		{Name: "size/at-limit-accepted", Run: testAtLimit},
		{Name: "size/over-limit-closes-1009", Run: testOverLimit},
		{Name: "size/fragmented", Run: testFragmented},
	}
}

// sendOfSize is a send from nobody-in-particular to `to` that is exactly n bytes long: the payload string is
// padded to fit. It returns the frame and its payload.
func sendOfSize(to string, seq uint64, n int) ([]byte, []byte) {
	head := `{"type":"send","to":"` + to + `","seq":` + string(u64(seq)) + `,"payload":"`
	pad := n - len(head) - 2
	if pad < 0 {
		panic("frame too small for its header")
	}
	payload := `"` + strings.Repeat("x", pad) + `"`
	return []byte(head + payload[1:] + "}"), []byte(payload)
}

func testAtLimit(t T, e *Env) {
	a := e.Agent(t, "big")
	raw, payload := sendOfSize(a.ID, 1, DefaultMaxMessageBytes)
	write(t, a, raw)
	checkMsg(t, next(t, a), "direct", a.ID, a.ID, "", u64(1), nil, payload)
}

// testOverLimit: one byte over closes the sender with 1009 and nothing before it; bystanders, including one the
// oversize message was addressed to, carry on.
func testOverLimit(t T, e *Env) {
	big, p, q := e.Agent(t, "toobig"), e.Agent(t, "p"), e.Agent(t, "q")
	raw, _ := sendOfSize(q.ID, 1, DefaultMaxMessageBytes+1)
	writeOversize(t, big, raw, 1009)
	write(t, p, wsclient.SendFrame(q.ID, wsclient.Msg{Seq: seqPtr(2)}))
	checkMsg(t, next(t, q), "direct", p.ID, q.ID, "", u64(2), nil, nil)
	quiet(t, p)
	quiet(t, q) // the oversize message was not delivered
}

// testFragmented: the limit applies after reassembly. A client writing 4 KiB frames sends a message of exactly the
// limit (accepted) and then one byte more (closed with 1009).
func testFragmented(t T, e *Env) {
	a := e.DialWith(t, &wsclient.Dialer{WriteBufferSize: 4096})
	e.register(t, a, e.ID("frag"))
	raw, payload := sendOfSize(a.ID, 1, DefaultMaxMessageBytes)
	write(t, a, raw)
	checkMsg(t, next(t, a), "direct", a.ID, a.ID, "", u64(1), nil, payload)
	raw, _ = sendOfSize(a.ID, 2, DefaultMaxMessageBytes+1)
	writeOversize(t, a, raw, 1009)
}

// writeOversize writes raw, which the bus must refuse, and expects the close code. The write runs on its own
// goroutine and its error is ignored: a bus may close as soon as it has read the frame header, so the rest of
// the message meets a reset socket.
func writeOversize(t T, a *Agent, raw []byte, code int) {
	t.Helper()
	ctx, cancel := contextFor(t)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.WriteText(ctx, raw)
	}()
	expectCloseCode(t, a, code)
	<-done
}

func expectCloseCode(t T, a *Agent, want int) {
	t.Helper()
	ctx, cancel := contextFor(t)
	defer cancel()
	code, err := a.ExpectClose(ctx)
	if err != nil {
		t.Fatalf("%s: want close %d: %v", a, want, err)
	}
	if code != want {
		t.Fatalf("%s: close code %d, want %d", a, code, want)
	}
}
