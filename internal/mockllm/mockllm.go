// Package mockllm is a mock of the Anthropic Messages API (POST /v1/messages) that streams in the real wire
// format: every SSE event carries its `event:` line; message_start, content_block_start, ping, N ×
// content_block_delta (text_delta), content_block_stop, message_delta (stop_reason, cumulative
// usage.output_tokens), message_stop. Non-streaming requests get the whole message as JSON.
//
// Everything a measurement needs is a knob, per container (Config) or per request (X-Mock-* headers, which win):
// tokens per response, bytes per token, time to first token, inter-token delay, and faults on demand — HTTP 529
// overloaded_error before the stream (with retry-after-ms), an `event: error` mid-stream, a connection cut before
// message_stop. The text is a pure function of (seed, tokens, token bytes), and its SHA-256 is sent in the
// X-Mock-Text-Sha256 header before the body, so a client can verify what it accumulated.
package mockllm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Fault is a failure the mock produces on demand.
type Fault string

const (
	FaultNone       Fault = ""
	FaultOverloaded Fault = "overloaded" // HTTP 529 overloaded_error before the stream, with retry-after-ms
	FaultMidstream  Fault = "midstream"  // `event: error` (overloaded_error) after half the tokens; no message_stop
	FaultCut        Fault = "cut"        // the connection is cut after half the tokens; no message_stop
)

// Faults lists the faults, in the order the scenario injects them.
var Faults = []Fault{FaultOverloaded, FaultMidstream, FaultCut}

// ErrBadFault is returned for an unknown fault name.
var ErrBadFault = errors.New("unknown fault")

// ParseFault reads a fault name ("" or "none" = no fault).
func ParseFault(s string) (Fault, error) {
	switch f := Fault(strings.TrimSpace(s)); f {
	case FaultNone, "none":
		return FaultNone, nil
	case FaultOverloaded, FaultMidstream, FaultCut:
		return f, nil
	default:
		return "", fmt.Errorf("%w %q (known: overloaded, midstream, cut)", ErrBadFault, s)
	}
}

// Request headers that override Config for one request.
const (
	HeaderTokens        = "X-Mock-Tokens"         // tokens in the response
	HeaderTokenBytes    = "X-Mock-Token-Bytes"    // bytes of text per token
	HeaderTTFT          = "X-Mock-Ttft"           // time to first token (Go duration)
	HeaderTokenDelay    = "X-Mock-Token-Delay"    // delay between tokens (Go duration; 0 = as fast as possible)
	HeaderFault         = "X-Mock-Fault"          // overloaded | midstream | cut
	HeaderFaultAttempts = "X-Mock-Fault-Attempts" // overloaded: attempts answered 529 before one succeeds
	HeaderSeed          = "X-Mock-Seed"           // selects the text
	// HeaderRetryCount is the SDK's retry counter (0 on the first attempt); the overloaded fault reads it, so a
	// fault is reproducible without server state.
	HeaderRetryCount = "X-Stainless-Retry-Count"
)

// Response headers.
const (
	HeaderTextSHA256 = "X-Mock-Text-Sha256" // hex SHA-256 of the complete text the response would carry
	HeaderRequestID  = "Request-Id"
)

// Config is the container-wide default of every knob.
type Config struct {
	Tokens        int           // tokens per response (default 100)
	TokenBytes    int           // bytes of text per token (default 4)
	TTFT          time.Duration // time to first token: before message_start's first delta
	TokenDelay    time.Duration // between deltas; 0 = as fast as possible
	Fault         Fault         // a fault on every request
	FaultAttempts int           // overloaded: the first FaultAttempts attempts get 529 (default 1)
	RetryAfter    time.Duration // retry-after-ms sent with 529 (default 20 ms)
}

func (c Config) withDefaults() Config {
	if c.Tokens <= 0 {
		c.Tokens = 100
	}
	if c.TokenBytes <= 0 {
		c.TokenBytes = 4
	}
	if c.FaultAttempts <= 0 {
		c.FaultAttempts = 1
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = 20 * time.Millisecond
	}
	return c
}

// Counters are what the mock has served, for /stats.
type Counters struct {
	Requests     int64 `json:"requests"`
	Streams      int64 `json:"streams_started"`
	Completed    int64 `json:"streams_completed"` // reached message_stop
	Active       int64 `json:"streams_active"`
	PeakActive   int64 `json:"streams_peak_active"`
	Overloaded   int64 `json:"overloaded_529"`
	Midstream    int64 `json:"midstream_errors"`
	Cut          int64 `json:"cut_connections"`
	Unauthorized int64 `json:"unauthorized"`
	Tokens       int64 `json:"tokens_sent"`
}

// Server is the mock API; it is an http.Handler.
type Server struct {
	cfg Config
	mux *http.ServeMux
	ids atomic.Int64

	requests, streams, completed, active, peak   atomic.Int64
	overloaded, midstream, cut, unauth, tokensTx atomic.Int64
}

// New returns a server with cfg's defaults.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg.withDefaults(), mux: http.NewServeMux()}
	s.mux.HandleFunc("POST /v1/messages", s.messages)
	s.mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	s.mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Counters())
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Counters returns what has been served so far.
func (s *Server) Counters() Counters {
	return Counters{Requests: s.requests.Load(), Streams: s.streams.Load(), Completed: s.completed.Load(),
		Active: s.active.Load(), PeakActive: s.peak.Load(), Overloaded: s.overloaded.Load(),
		Midstream: s.midstream.Load(), Cut: s.cut.Load(), Unauthorized: s.unauth.Load(), Tokens: s.tokensTx.Load()}
}

// plan is one request's knobs after the headers were applied.
type plan struct {
	Config
	seed   int
	stream bool
	model  string
	maxTok int
}

func (s *Server) plan(r *http.Request, body *requestBody) (plan, error) {
	p := plan{Config: s.cfg, stream: body.Stream, model: body.Model, maxTok: body.MaxTokens}
	h := r.Header
	var err error
	geti := func(name string, dst *int) {
		if v := h.Get(name); v != "" && err == nil {
			n, e := strconv.Atoi(v)
			if e != nil || n < 0 {
				err = fmt.Errorf("%s: want a non-negative integer, got %q", name, v)
				return
			}
			*dst = n
		}
	}
	getd := func(name string, dst *time.Duration) {
		if v := h.Get(name); v != "" && err == nil {
			d, e := time.ParseDuration(v)
			if e != nil || d < 0 {
				err = fmt.Errorf("%s: want a duration ≥ 0, got %q", name, v)
				return
			}
			*dst = d
		}
	}
	geti(HeaderTokens, &p.Tokens)
	geti(HeaderTokenBytes, &p.TokenBytes)
	geti(HeaderFaultAttempts, &p.FaultAttempts)
	geti(HeaderSeed, &p.seed)
	getd(HeaderTTFT, &p.TTFT)
	getd(HeaderTokenDelay, &p.TokenDelay)
	if v := h.Get(HeaderFault); v != "" && err == nil {
		p.Fault, err = ParseFault(v)
	}
	if p.TokenBytes < 1 {
		p.TokenBytes = 1
	}
	if p.maxTok > 0 && p.Tokens > p.maxTok {
		p.Tokens = p.maxTok
	}
	return p, err
}

type requestBody struct {
	Model     string          `json:"model"`
	MaxTokens int             `json:"max_tokens"`
	Stream    bool            `json:"stream"`
	Messages  json.RawMessage `json:"messages"`
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	id := s.ids.Add(1)
	reqID := fmt.Sprintf("req_mock%016d", id)
	w.Header().Set(HeaderRequestID, reqID)
	if r.Header.Get("X-Api-Key") == "" && !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		s.unauth.Add(1)
		writeError(w, http.StatusUnauthorized, "authentication_error", "x-api-key header or Authorization: Bearer is required", reqID)
		return
	}
	var body requestBody
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "body: "+err.Error(), reqID)
		return
	}
	p, err := s.plan(r, &body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error(), reqID)
		return
	}
	if p.Fault == FaultOverloaded {
		attempt, _ := strconv.Atoi(r.Header.Get(HeaderRetryCount))
		if attempt < p.FaultAttempts {
			s.overloaded.Add(1)
			w.Header().Set("Retry-After-Ms", strconv.FormatInt(p.RetryAfter.Milliseconds(), 10))
			w.Header().Set("X-Should-Retry", "true")
			writeError(w, 529, "overloaded_error", "Overloaded", reqID)
			return
		}
	}
	text := Text(p.seed, p.Tokens, p.TokenBytes)
	sum := sha256.New()
	for _, t := range text {
		sum.Write([]byte(t))
	}
	w.Header().Set(HeaderTextSHA256, hex.EncodeToString(sum.Sum(nil)))
	msgID := fmt.Sprintf("msg_mock%016d", id)
	if p.model == "" {
		p.model = "mock-model"
	}
	if !p.stream {
		s.whole(w, r, p, msgID, text)
		return
	}
	s.stream(w, r, p, msgID, text)
}

func (s *Server) whole(w http.ResponseWriter, r *http.Request, p plan, msgID string, text []string) {
	if p.TTFT > 0 {
		t := time.NewTimer(p.TTFT + time.Duration(len(text))*p.TokenDelay)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": msgID, "type": "message", "role": "assistant", "model": p.model,
		"content":     []map[string]any{{"type": "text", "text": strings.Join(text, "")}},
		"stop_reason": "end_turn", "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": 10, "output_tokens": len(text)},
	})
}

// stream writes the SSE response. With a token delay every event is flushed as it is written (what the real API
// does: one token, one write); at delay 0 events are flushed when the 16 KiB buffer fills, so the client's
// decoder, not the mock's syscalls, is the limit.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, p plan, msgID string, text []string) {
	s.streams.Add(1)
	n := s.active.Add(1)
	for {
		pk := s.peak.Load()
		if n <= pk || s.peak.CompareAndSwap(pk, n) {
			break
		}
	}
	defer s.active.Add(-1)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	ew := &eventWriter{w: w, f: flusher, buf: make([]byte, 0, 16<<10), eager: p.TokenDelay > 0 || p.TTFT > 0}
	ctx := r.Context()

	ew.event("message_start", fmt.Appendf(nil,
		`{"type":"message_start","message":{"id":%q,"type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}`,
		msgID, p.model))
	ew.event("content_block_start", []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`))
	ew.event("ping", []byte(`{"type": "ping"}`))
	if !ew.flush() {
		return
	}

	start := time.Now()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	half := len(text) / 2
	delta := make([]byte, 0, 256)
	for i, tok := range text {
		// Pace against the schedule, not the previous write, so delays do not accumulate.
		if due := start.Add(p.TTFT + time.Duration(i)*p.TokenDelay); p.TTFT > 0 || p.TokenDelay > 0 {
			if d := time.Until(due); d > 0 {
				timer.Reset(d)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
		} else if i%256 == 0 && ctx.Err() != nil {
			return
		}
		if i == half && p.Fault == FaultMidstream {
			s.midstream.Add(1)
			ew.event("error", []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
			ew.flush()
			return
		}
		if i == half && p.Fault == FaultCut {
			s.cut.Add(1)
			ew.flush()
			// ErrAbortHandler makes net/http close the connection without the final chunk: the client sees the
			// body end early (unexpected EOF), as when a proxy or the network drops a stream.
			panic(http.ErrAbortHandler)
		}
		delta = append(delta[:0], `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`...)
		delta = appendJSONString(delta, tok)
		delta = append(delta, "}}"...)
		ew.event("content_block_delta", delta)
		s.tokensTx.Add(1)
		if ew.eager && !ew.flush() {
			return
		}
		if ew.err != nil {
			return
		}
	}
	ew.event("content_block_stop", []byte(`{"type":"content_block_stop","index":0}`))
	ew.event("message_delta", fmt.Appendf(nil,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":%d}}`, len(text)))
	ew.event("message_stop", []byte(`{"type":"message_stop"}`))
	if ew.flush() {
		s.completed.Add(1)
	}
}

type eventWriter struct {
	w     io.Writer
	f     http.Flusher
	buf   []byte
	eager bool
	err   error
}

func (e *eventWriter) event(name string, data []byte) {
	e.buf = append(e.buf, "event: "...)
	e.buf = append(e.buf, name...)
	e.buf = append(e.buf, "\ndata: "...)
	e.buf = append(e.buf, data...)
	e.buf = append(e.buf, "\n\n"...)
	if len(e.buf) >= cap(e.buf)-512 {
		e.write()
	}
}

func (e *eventWriter) write() {
	if e.err == nil && len(e.buf) > 0 {
		_, e.err = e.w.Write(e.buf)
	}
	e.buf = e.buf[:0]
}

// flush writes what is buffered and pushes it to the client; false once the client is gone.
func (e *eventWriter) flush() bool {
	e.write()
	if e.err == nil && e.f != nil {
		e.f.Flush()
	}
	return e.err == nil
}

func writeError(w http.ResponseWriter, code int, typ, msg, reqID string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "error",
		"error": map[string]string{"type": typ, "message": msg}, "request_id": reqID})
}

// vocab holds the pieces tokens are cut from: plain words, and the characters a decoder must unescape (quote,
// backslash, newline, tab) or keep whole (2-, 3- and 4-byte UTF-8).
var vocab = []string{"the ", "agent", " streams", " tokens", ", ", "quick", " \"quoted\"", " back\\slash", "\n",
	"\ttab", " café", " 東京", " 🚀", " over", " a", " network", ". "}

// Text returns the response's tokens: token i starts from vocab[(seed+i) mod len] and is repeated or cut (on a
// rune boundary) to tokenBytes bytes (at least one rune).
func Text(seed, tokens, tokenBytes int) []string {
	out := make([]string, tokens)
	for i := range out {
		w := vocab[(seed+i)%len(vocab)]
		for len(w) < tokenBytes {
			w += w
		}
		cut := tokenBytes
		for cut > 0 && cut < len(w) && !utf8.RuneStart(w[cut]) {
			cut--
		}
		if cut == 0 {
			_, cut = utf8.DecodeRuneInString(w)
		}
		out[i] = w[:cut]
	}
	return out
}

// TextSHA256 is the hex digest the mock sends for (seed, tokens, tokenBytes).
func TextSHA256(seed, tokens, tokenBytes int) string {
	h := sha256.New()
	for _, t := range Text(seed, tokens, tokenBytes) {
		h.Write([]byte(t))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// appendJSONString appends s as a JSON string literal (the escapes encoding/json would use, minus HTML escaping).
func appendJSONString(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// TextSHA256Bytes is the hex SHA-256 of b, as the mock sends it.
func TextSHA256Bytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
