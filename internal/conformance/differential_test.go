package conformance_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/agentlab/agentlab/gobus"
	"github.com/agentlab/agentlab/internal/conformance"
	"github.com/agentlab/agentlab/internal/conformance/wsclient"
	"github.com/agentlab/agentlab/internal/images"
)

// The differential test: the same seeded random byte streams — valid frames with random fragmentation and
// interleaved control frames, then often one hostile ending (bad lengths, unmasked frames, reserved bits and
// opcodes, oversize, invalid close frames, truncation) — are sent to every bus design, and each bus's answer is
// written down as a transcript: every frame the attacking connection got (errors without their human message),
// how its connection ended, and what a second, well-behaved agent received meanwhile. Every design's transcript must
// equal the reference design's (the first of diffDesigns), unless docs/protocol.md lists the difference as allowed
// (diffAllowed, the same table).
//
//	go test ./internal/conformance/ -run TestDifferential                          # 500 streams per design
//	AGENTLAB_DIFF_STREAMS=20000 go test ./internal/conformance/ -run TestDifferential -timeout 1h
//	AGENTLAB_DIFF_SEED=7 go test ./internal/conformance/ -run TestDifferential     # another set of streams
//	go test -short ./internal/conformance/ -run TestDifferential                   # in-process gobus, both transports

// diffDesigns are the bus designs compared, the reference first. A new design is one line: its image and
// environment.
var diffDesigns = []struct {
	name, image string
	env         map[string]string
}{
	{"go-netpoll", "gobus", map[string]string{gobusTransportEnv: gobus.TransportNetpoll}},
	{"go", "gobus", nil},
	{"rust", "rustbus", nil},
	{"rust-epoll", "rustepoll", nil},
	{"node", "nodebus", nil},
}

const (
	diffStreamsEnv     = "AGENTLAB_DIFF_STREAMS"
	diffSeedEnv        = "AGENTLAB_DIFF_SEED"
	diffShowEnv        = "AGENTLAB_DIFF_SHOW" // differing streams printed in full (default 5)
	diffDefaultStreams = 500
	// diffMaxMessage is the buses' default max_message_bytes (the streams' oversize cases are built on it).
	diffMaxMessage = 65536
)

// diffAllowance is one documented difference (docs/protocol.md, "Allowed differences"): on streams ending in Kind,
// design Design may end its transcript with End instead of the reference's ending.
type diffAllowance struct {
	Kind, Design, End string
	// Tail: the design may also answer the ending itself (the lines after the last step's barrier and the pongs
	// differ).
	Tail bool
}

// diffDefect is a known defect of a design (docs/protocol.md, "Known defects"): a stream it matches may differ on
// that design; the test counts it instead of failing. Fixing the defect is removing the line.
type diffDefect struct {
	Design, Why string
	Match       func(diffStream) bool
}

var diffKnownDefects = []diffDefect{
	{"rust", "invalid UTF-8 in a fragmented text message (tungstenite keeps a message whose continuation fails " +
		"UTF-8 open: the rest is delivered corrupted, or the next message fails the connection)",
		func(s diffStream) bool { return s.utf8Frag }},
	{"rust", "a close frame whose reason is invalid UTF-8 is answered with malformed and the connection kept",
		func(s diffStream) bool { return s.kind == "close-reason-invalid-utf8" }},
}

var diffAllowed = []diffAllowance{
	// gorilla reads a 1-byte close body as "no status" and answers with an empty close frame.
	{Kind: "close-body-1-byte", Design: "go", End: "close empty"},
	// tungstenite judges a frame once all of it has arrived; the Go transports judge the header as soon as it is
	// in. A stream cut inside a frame with a bad header: rust sees the end of the stream first (no close frame).
	{Kind: "garbage", Design: "rust", End: "eof"},
	{Kind: "truncated-header", Design: "rust", End: "eof"},
	{Kind: "truncated-payload", Design: "rust", End: "eof"},
	// rust-epoll judges a header once its extended length is in: a bad header cut off inside its length, then
	// EOF, draws no close frame (seed 3, stream 246).
	{Kind: "garbage", Design: "rust-epoll", End: "eof"},
	{Kind: "truncated-header", Design: "rust-epoll", End: "eof"},
	// tungstenite accepts a control frame whose length is in the 16-bit form (not minimal, §5.2) and answers the
	// ping; the Go transports refuse it with 1002.
	{Kind: "control-long-form", Design: "rust", End: "open", Tail: true},
}

// diffTarget is one running bus of a design.
type diffTarget struct {
	name string
	ws   string
}

func TestDifferential(t *testing.T) {
	n := envInt(t, diffStreamsEnv, diffDefaultStreams)
	seed := uint64(envInt(t, diffSeedEnv, 1))
	var targets []diffTarget
	if testing.Short() {
		// No Docker: the Go bus's two transports in this process, under their designs' names (so the allowed
		// differences apply).
		for _, d := range []struct{ name, tr string }{{"go-netpoll", gobus.TransportNetpoll}, {"go", gobus.TransportGorilla}} {
			b := startInProcess(d.tr)(t, conformance.Options{})
			targets = append(targets, diffTarget{name: d.name, ws: b.WSURL()})
		}
		t.Log("short: the in-process Go bus's transports only")
	} else {
		for _, d := range diffDesigns {
			target, err := containerTargetE(t, d.image, d.env)
			if errors.Is(err, images.ErrNoCargo) || errors.Is(err, images.ErrNoRuntime) {
				t.Logf("design %s left out: %v", d.name, err)
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			targets = append(targets, diffTarget{name: d.name, ws: target.Start(t, conformance.Options{}).WSURL()})
		}
	}
	if len(targets) < 2 {
		t.Skip("fewer than two bus designs to compare")
	}
	streams := make([]diffStream, n)
	for i := range streams {
		streams[i] = genStream(rand.New(rand.NewPCG(seed, uint64(i))), i)
	}

	start := time.Now()
	answers := make([][]string, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for k, tg := range targets {
		wg.Go(func() { answers[k], errs[k] = runStreams(t.Context(), tg, streams) })
	}
	wg.Wait()
	for k, err := range errs {
		if err != nil {
			t.Fatalf("design %s: %v", targets[k].name, err)
		}
	}
	t.Logf("%d streams (seed %d) on %d designs in %v", n, seed, len(targets), time.Since(start).Round(time.Millisecond))

	ref := targets[0].name
	differ := 0
	allowed := map[string]int{}
	kinds := map[string]int{} // differing answers by ending kind and design
	defects := map[string]int{}
	show := envInt(t, diffShowEnv, 5)
	for i, s := range streams {
		for k := 1; k < len(targets); k++ {
			got, want := answers[k][i], answers[0][i]
			if got == want {
				continue
			}
			if a, ok := allowedDiff(s.kind, targets[k].name, got, want); ok {
				allowed[fmt.Sprintf("%s/%s→%s", a.Kind, a.Design, a.End)]++
				continue
			}
			if d, ok := knownDefect(s, targets[k].name); ok {
				defects[d.Design+": "+d.Why]++
				continue
			}
			differ++
			kinds[s.kind+"/"+targets[k].name]++
			if differ <= show {
				t.Errorf("stream %d (seed %d, ends %s): %s and %s differ\nstream (hex, phases split by |):\n%s\n%s:\n%s\n%s:\n%s",
					i, seed, s.kind, targets[k].name, ref, s.hex(), ref, clipLines(want), targets[k].name, clipLines(got))
			}
		}
	}
	if differ > show {
		t.Errorf("… %d differing answers in all, by ending/design: %v", differ, kinds)
	}
	for k, v := range allowed {
		t.Logf("allowed difference %s: %d streams", k, v)
	}
	for k, v := range defects {
		t.Logf("known defect of %s: %d streams", k, v)
	}
}

func knownDefect(s diffStream, design string) (diffDefect, bool) {
	for _, d := range diffKnownDefects {
		if d.Design == design && d.Match(s) {
			return d, true
		}
	}
	return diffDefect{}, false
}

// allowedDiff reports whether got differs from want only by an allowed ending.
func allowedDiff(kind, design, got, want string) (diffAllowance, bool) {
	for _, a := range diffAllowed {
		if a.Kind != kind || a.Design != design {
			continue
		}
		g, gEnd := splitEnd(got, a.Tail)
		w, _ := splitEnd(want, a.Tail)
		if g == w && gEnd == a.End {
			return a, true
		}
	}
	return diffAllowance{}, false
}

// splitEnd separates a transcript's "end:" line (the attacker's ending) from the rest, leaving the "tail:" and
// pong lines out too when tail is set.
func splitEnd(tr string, tail bool) (rest, end string) {
	var keep []string
	for _, l := range strings.Split(tr, "\n") {
		if tail && (strings.HasPrefix(l, "tail: ") || strings.HasPrefix(l, "pong ")) {
			continue
		}
		if e, ok := strings.CutPrefix(l, "end: "); ok {
			end = e
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n"), end
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}

// diffStream is one generated stream: steps of valid frames (each followed by a barrier ping whose pong says every
// earlier answer is in), then possibly one hostile ending.
type diffStream struct {
	id    string
	steps []diffStep
	kind  string // the ending's kind: "clean" (a close 1000 from the client) or a hostile one
	// utf8Frag: a text message with invalid UTF-8 is sent in fragments.
	utf8Frag bool
}

type diffStep struct {
	b         []byte
	cuts      []int // write boundaries within b
	terminal  bool
	halfClose bool // after the terminal step, the client half-closes (the stream is truncated)
}

// hex is the stream's bytes in hex, steps split by |, long runs clipped (the seed and index regenerate it whole).
func (s diffStream) hex() string {
	var parts []string
	for _, st := range s.steps {
		h := hex.EncodeToString(st.b)
		if len(h) > 512 {
			h = fmt.Sprintf("%s…%s (%d bytes)", h[:256], h[len(h)-128:], len(st.b))
		}
		parts = append(parts, h)
	}
	return strings.Join(parts, " | ")
}

// clipLines shortens a transcript's long lines for a failure message.
func clipLines(tr string) string {
	ls := strings.Split(tr, "\n")
	for i, l := range ls {
		if len(l) > 300 {
			ls[i] = fmt.Sprintf("%s…(%d bytes)", l[:300], len(l))
		}
	}
	return strings.Join(ls, "\n")
}

func frame(r *rand.Rand, op byte, fin bool, p []byte) []byte {
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], r.Uint32())
	return frameKey(op, fin, true, key, p)
}

func frameKey(op byte, fin, masked bool, key [4]byte, p []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var m byte
	if masked {
		m = 0x80
	}
	var b []byte
	switch n := len(p); {
	case n < 126:
		b = []byte{b0, m | byte(n)}
	case n <= 0xFFFF:
		b = []byte{b0, m | 126, byte(n >> 8), byte(n)}
	default:
		b = append([]byte{b0, m | 127}, binary.BigEndian.AppendUint64(nil, uint64(n))...)
	}
	if !masked {
		return append(b, p...)
	}
	b = append(b, key[:]...)
	for i, x := range p {
		b = append(b, x^key[i%4])
	}
	return b
}

// message is a random application message from the attacker (id self) to the observer w (in group g).
func message(r *rand.Rand, self string, i int) []byte {
	seeds := conformance.SeedMessages(self, "w", "g")
	switch r.IntN(10) {
	case 0:
		// Invalid UTF-8 inside an otherwise valid send.
		m := []byte(`{"type":"send","to":"w","seq":` + strconv.Itoa(i) + `,"payload":"abcdef"}`)
		bad := [][]byte{{0xff}, {0xc3, 0x28}, {0xe2, 0x82}, {0xf0, 0x9f, 0x98}, {0xed, 0xa0, 0x80}}[r.IntN(5)]
		at := bytes.Index(m, []byte("abcdef")) + r.IntN(6)
		return slices.Concat(m[:at], bad, m[at:])
	case 1:
		// Near the size limit, still valid.
		pad := bytes.Repeat([]byte("x"), diffMaxMessage-64-r.IntN(64))
		return slices.Concat([]byte(`{"type":"send","to":"w","seq":`+strconv.Itoa(i)+`,"payload":"`), pad, []byte(`"}`))
	case 2:
		return []byte(`{"type":"send","to":"w","seq":` + strconv.Itoa(i) + `,"ts":-5,"payload":{"k":["é",` + strconv.Itoa(r.IntN(1000)) + `]}}`)
	case 3:
		return []byte(`{"type":"register","id":"w"}`) // duplicate_id
	default:
		return seeds[r.IntN(len(seeds))]
	}
}

// genStream builds stream i: 0–5 valid steps, then a hostile ending (60 %) or a clean close.
func genStream(r *rand.Rand, i int) diffStream {
	self := "a" + strconv.Itoa(i)
	s := diffStream{id: self}
	reg := frame(r, 1, true, []byte(`{"type":"register","id":"`+self+`","groups":["h"]}`))
	s.steps = append(s.steps, diffStep{b: reg, cuts: cuts(r, len(reg))})
	for range r.IntN(6) {
		var b []byte
		for range 1 + r.IntN(3) {
			f, bad := validFrames(r, self, i)
			b = append(b, f...)
			s.utf8Frag = s.utf8Frag || bad
		}
		s.steps = append(s.steps, diffStep{b: b, cuts: cuts(r, len(b))})
	}
	if r.IntN(10) < 4 {
		s.kind = "clean"
		return s
	}
	kind, b, half := hostile(r)
	s.kind = kind
	s.steps = append(s.steps, diffStep{b: b, cuts: cuts(r, len(b)), terminal: true, halfClose: half})
	return s
}

// validFrames is one valid unit: a message (text or binary, whole or fragmented with control frames between the
// fragments) or a lone control frame; utf8Frag when it is a text message with invalid UTF-8 in fragments.
func validFrames(r *rand.Rand, self string, i int) (b []byte, utf8Frag bool) {
	switch r.IntN(8) {
	case 0:
		p := make([]byte, r.IntN(126))
		for j := range p {
			p[j] = byte(r.Uint32())
		}
		return frame(r, 9, true, p), false // ping
	case 1:
		return frame(r, 0xA, true, []byte("unsolicited")), false // pong
	}
	op := byte(1)
	m := message(r, self, i)
	if r.IntN(8) == 0 {
		op = 2
	}
	if r.IntN(5) < 3 || len(m) < 2 {
		return frame(r, op, true, m), false
	}
	// Fragments at random points (also inside a UTF-8 sequence), pings between some.
	k := 2 + r.IntN(3)
	pts := []int{0}
	for range k - 1 {
		pts = append(pts, r.IntN(len(m)+1))
	}
	slices.Sort(pts)
	pts = append(pts, len(m))
	for j := 0; j+1 < len(pts); j++ {
		fop := byte(0)
		if j == 0 {
			fop = op
		}
		b = append(b, frame(r, fop, j+2 == len(pts), m[pts[j]:pts[j+1]])...)
		if j+2 < len(pts) && r.IntN(3) == 0 {
			b = append(b, frame(r, 9, true, []byte("between"))...)
		}
	}
	return b, op == 1 && !utf8.Valid(m)
}

// hostile returns one hostile ending: its kind, bytes, and whether the client then half-closes.
func hostile(r *rand.Rand) (string, []byte, bool) {
	ok := []byte(`{"type":"ping","seq":1}`)
	key := [4]byte{1, 2, 3, 4}
	switch r.IntN(19) {
	case 0:
		return "unmasked", frameKey(1, true, false, key, ok), false
	case 1:
		b := frame(r, 1, true, ok)
		b[0] |= byte(0x10 << r.IntN(3))
		return "reserved-bits", b, false
	case 2:
		op := []byte{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}[r.IntN(10)]
		return "reserved-opcode", frame(r, op, true, ok), false
	case 3:
		return "control-too-long", frame(r, 9, true, bytes.Repeat([]byte("p"), 126+r.IntN(200))), false
	case 4:
		if r.IntN(2) == 0 {
			// A short ping with its length in the 16-bit form (not minimal, §5.2).
			f := frameKey(9, true, true, [4]byte{1, 2, 3, 4}, bytes.Repeat([]byte("p"), 126))
			f[2], f[3] = 0, 5
			return "control-long-form", f[:8+5], false
		}
		return "control-fragmented", frame(r, 9, false, []byte("x")), false
	case 5:
		return "continuation-first", frame(r, 0, r.IntN(2) == 0, ok), false
	case 6:
		return "data-inside-message", append(frame(r, 1, false, ok[:5]), frame(r, 1+byte(r.IntN(2)), true, ok)...), false
	case 7:
		return "close-body-1-byte", frame(r, 8, true, []byte{3}), false
	case 8:
		code := []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535}[r.IntN(11)]
		return "close-code-invalid", frame(r, 8, true, binary.BigEndian.AppendUint16(nil, code)), false
	case 9:
		return "close-reason-invalid-utf8", frame(r, 8, true, []byte{3, 0xE8, 'o', 0xff}), false
	case 10:
		code := []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999}[r.IntN(11)]
		return "close", frame(r, 8, true, append(binary.BigEndian.AppendUint16(nil, code), "bye"...)), false
	case 11:
		return "close-empty", frame(r, 8, true, nil), false
	case 12:
		p := slices.Concat([]byte(`{"type":"ping","payload":"`), bytes.Repeat([]byte("o"), diffMaxMessage), []byte(`"}`))
		return "oversize", frame(r, 1+byte(r.IntN(2)), true, p[:diffMaxMessage+1+r.IntN(100)]), false
	case 13:
		half := diffMaxMessage / 2
		p := bytes.Repeat([]byte("o"), half+1)
		return "oversize-fragmented", append(frame(r, 1, false, p), frame(r, 0, true, p)...), false
	case 14:
		// A header announcing 2^40 bytes, and a few of them.
		b := []byte{0x81, 0xFF, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4}
		return "oversize-header", append(b, "abcd"...), false
	case 15:
		b := []byte{0x81, 0xFF, 0x80 | byte(r.IntN(128)), 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
		return "length-top-bit", b, false
	case 16:
		f := frame(r, 1, true, bytes.Repeat([]byte("t"), 100))
		return "truncated-payload", f[:6+r.IntN(50)], true
	case 17:
		f := frame(r, 1, true, bytes.Repeat([]byte("t"), 300))
		return "truncated-header", f[:1+r.IntN(7)], true
	default:
		return "garbage", func() []byte {
			b := make([]byte, 1+r.IntN(64))
			for j := range b {
				b[j] = byte(r.Uint32())
			}
			return b
		}(), true
	}
}

func cuts(r *rand.Rand, n int) []int {
	var c []int
	for range r.IntN(4) {
		if n > 1 {
			c = append(c, 1+r.IntN(n-1))
		}
	}
	slices.Sort(c)
	return slices.Compact(c)
}

// runStreams runs every stream against one bus, one after another, with one observer registered as w in group
// g, and returns one transcript per stream.
func runStreams(ctx context.Context, tg diffTarget, streams []diffStream) ([]string, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	obs, err := wsclient.Dial(dctx, tg.ws)
	if err == nil {
		err = obs.Register(dctx, "w", "g")
	}
	cancel()
	if err != nil {
		return nil, fmt.Errorf("observer: %w", err)
	}
	defer obs.Abort()
	out := make([]string, len(streams))
	for i, s := range streams {
		tr, err := runStream(ctx, tg.ws, s)
		if err != nil {
			return nil, fmt.Errorf("stream %d: %w", i, err)
		}
		bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		before, err := obs.Barrier(bctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("stream %d: observer barrier: %w", i, err)
		}
		for _, f := range before {
			tr = append(tr, "w: "+canon(f.Raw))
		}
		out[i] = strings.Join(tr, "\n")
	}
	return out, nil
}

// barrierBase is the seq of the attacker's barrier pings (step j uses barrierBase+j).
const barrierBase = 1 << 61

// endWait bounds the wait for a bus's reaction to a hostile ending; "end: open" when it neither closes nor answers.
const endWait = 2 * time.Second

// runStream plays one stream on a fresh raw connection and returns the attacker's transcript.
func runStream(ctx context.Context, wsURL string, s diffStream) ([]string, error) {
	c, err := dialRaw(ctx, wsURL)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// Control pongs are written down apart, in their order, after the text frames: the order between a pong and a
	// reply is the transport's business (a pong may overtake a reply queued before its ping, or the reverse when
	// pongs are batched), so a pong is not tied to a step.
	var tr, pongs []string
	flush := func() {
		tr, pongs = append(tr, pongs...), nil
	}
	r := rand.New(rand.NewPCG(1, 2))
	for j, st := range s.steps {
		if err := c.writeCuts(st.b, st.cuts); err != nil {
			break // the bus closed: its close frame, if any, is read below
		}
		if st.terminal {
			if st.halfClose {
				c.CloseWrite()
			}
			break
		}
		seq := strconv.FormatUint(barrierBase+uint64(j), 10)
		if err := c.writeCuts(frame(r, 1, true, []byte(`{"type":"ping","seq":`+seq+`}`)), nil); err != nil {
			break
		}
		want := `{"type":"pong","seq":` + seq + `}`
		for {
			line, end := c.next(5 * time.Second)
			if end != "" {
				flush()
				return append(tr, fmt.Sprintf("ended in step %d", j), "end: "+end), nil
			}
			if line == "text "+canon([]byte(want)) {
				break
			}
			if strings.HasPrefix(line, "pong ") {
				pongs = append(pongs, line)
				continue
			}
			tr = append(tr, fmt.Sprintf("step %d: %s", j, line))
		}
	}
	if s.kind == "clean" {
		c.writeCuts(frame(r, 8, true, []byte{0x03, 0xE8}), nil) // an error shows in the ending read next
	}
	for {
		line, end := c.next(endWait)
		if end != "" {
			flush()
			return append(tr, "end: "+end), nil
		}
		if strings.HasPrefix(line, "pong ") {
			pongs = append(pongs, line)
			continue
		}
		if s.kind != "clean" && strings.HasPrefix(line, "text ") {
			// A reply to a message inside a hostile ending races the close frame the ending draws (the bus may
			// drop what it had queued when it fails the connection): not compared.
			continue
		}
		tr = append(tr, "tail: "+line)
	}
}

// canon is a text frame with its fields sorted and an error's human message left out.
func canon(raw []byte) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return "not JSON: " + strconv.Quote(string(raw))
	}
	if string(m["type"]) == `"error"` {
		delete(m, "message")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s ", k, m[k])
	}
	return strings.TrimSpace(b.String())
}

// rawConn is a WebSocket client connection that writes whatever bytes it is given.
type rawConn struct {
	*net.TCPConn
	r *bufio.Reader
}

func dialRaw(ctx context.Context, wsURL string) (*rawConn, error) { return dialRawBuf(ctx, wsURL, 0) }

// dialRawBuf is dialRaw with the socket's receive buffer set to rcvbuf bytes before connecting (0: the
// system's), as a client that wants to hold the bus's data back with a small window would.
func dialRawBuf(ctx context.Context, wsURL string, rcvbuf int) (*rawConn, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u.Host, err)
	}
	c := &rawConn{TCPConn: nc.(*net.TCPConn), r: bufio.NewReader(nc)}
	c.SetNoDelay(true)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + u.Path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		c.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	status, err := c.r.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		c.Close()
		return nil, fmt.Errorf("handshake: status %q: %v", status, err)
	}
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("handshake: %w", err)
		}
		if l == "\r\n" {
			break
		}
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// writeCuts writes b in pieces split at cuts, one Write each (no delay: TCP may still merge them).
func (c *rawConn) writeCuts(b []byte, cuts []int) error {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	prev := 0
	for _, x := range append(cuts[:len(cuts):len(cuts)], len(b)) { // a full slice: cuts is shared by every design
		if _, err := c.Write(b[prev:x]); err != nil {
			return err
		}
		prev = x
	}
	return nil
}

// next reads one frame from the bus: a transcript line ("text …", "pong <hex>", "ping <hex>"), or an ending
// ("close 1002", "close empty", "eof", "reset", "open" after wait).
func (c *rawConn) next(wait time.Duration) (line, end string) {
	c.SetReadDeadline(time.Now().Add(wait))
	var h [2]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return "", readEnd(err)
	}
	if h[0]&0x70 != 0 || h[1]&0x80 != 0 || h[0]&0x80 == 0 {
		return "", fmt.Sprintf("bad server frame header % x", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		if _, err := io.ReadFull(c.r, x[:]); err != nil {
			return "", readEnd(err)
		}
		n = uint64(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		if _, err := io.ReadFull(c.r, x[:]); err != nil {
			return "", readEnd(err)
		}
		n = binary.BigEndian.Uint64(x[:])
	}
	if n > 1<<20 {
		return "", fmt.Sprintf("server frame of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.r, p); err != nil {
		return "", readEnd(err)
	}
	switch op := h[0] & 0x0f; op {
	case 1:
		return "text " + canon(p), ""
	case 0xA:
		return "pong " + hex.EncodeToString(p), ""
	case 9:
		return "ping " + hex.EncodeToString(p), ""
	case 8:
		if len(p) < 2 {
			return "", "close empty"
		}
		return "", "close " + strconv.Itoa(int(binary.BigEndian.Uint16(p)))
	default:
		return "", fmt.Sprintf("server opcode %d", op)
	}
}

func readEnd(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.As(err, &ne) && ne.Timeout():
		return "open"
	default:
		return "reset"
	}
}
