package streamclient

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/agentlab/agentlab/internal/mockllm"
)

// recordedText is what ../sse/testdata/recorded.sse (the documented Messages stream) accumulates to.
const recordedText = "Hello! \"Café\" 🚀\nback\\slash"

// The recorded stream, served verbatim, is read back by the official SDK (and the lean reader) to the same text:
// the format the mock imitates is the one the SDK parses.
func TestRecordedStreamReadBySDK(t *testing.T) {
	body, err := os.ReadFile("../sse/testdata/recorded.sse")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set(mockllm.HeaderTextSHA256, sha(recordedText))
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	c := anthropic.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("test"))
	st := c.Messages.NewStreaming(t.Context(), anthropic.MessageNewParams{Model: "m", MaxTokens: 10,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
	var msg anthropic.Message
	for st.Next() {
		if err := msg.Accumulate(st.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != recordedText || msg.StopReason != "end_turn" || msg.Usage.OutputTokens != 15 {
		t.Fatalf("SDK accumulated %+v", msg)
	}
	for _, mode := range []string{ModeSDK, ModeLean} {
		res := run(t, Config{URL: srv.URL, Mode: mode, Concurrent: 2, Rounds: 1, Tokens: 3, TokenBytes: 4})
		if res.Outcomes[OutcomeOK] != 2 || res.Tokens != 6 {
			t.Errorf("%s on the recorded stream: %+v", mode, res.Outcomes)
		}
	}
}

func sha(s string) string { return mockllm.TextSHA256Bytes([]byte(s)) }

func run(t *testing.T, cfg Config) *Result {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	cfg.APIKey = "test-key"
	if cfg.Model == "" {
		cfg.Model = "mock-model"
	}
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func mock(t *testing.T, cfg mockllm.Config) (*httptest.Server, *mockllm.Server) {
	t.Helper()
	m := mockllm.New(cfg)
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return srv, m
}

// Both decoders read the mock's streams to the mock's text (verified by digest), count every token, and the
// mock counts what it served.
func TestClientsAgreeOnMock(t *testing.T) {
	srv, m := mock(t, mockllm.Config{})
	for _, mode := range []string{ModeSDK, ModeLean} {
		res := run(t, Config{URL: srv.URL, Mode: mode, Concurrent: 4, Rounds: 2, Tokens: 50, TokenBytes: 7})
		if res.Outcomes[OutcomeOK] != 8 || res.Streams != 8 || res.Tokens != 400 || res.Retries != 0 {
			t.Errorf("%s: outcomes %v, tokens %d, retries %d, errors %v", mode, res.Outcomes, res.Tokens, res.Retries, res.Errors)
		}
		if len(res.PerTokenCPUMS) != 2 || res.TTFT.Count() != 8 || res.InterToken.Count() != 8*49 {
			t.Errorf("%s: per-round CPU %v, ttft %d, inter-token %d", mode, res.PerTokenCPUMS, res.TTFT.Count(), res.InterToken.Count())
		}
	}
	// The client is done at message_stop; the mock's handler counts the stream as completed a moment later, when it
	// returns. Wait for the handlers to finish (Active 0), then check.
	c := m.Counters()
	for deadline := time.Now().Add(5 * time.Second); c.Active != 0 && time.Now().Before(deadline); c = m.Counters() {
		time.Sleep(5 * time.Millisecond) // poll: the mock has no completion signal to wait on
	}
	if c.Completed != 16 || c.Active != 0 {
		t.Errorf("mock counters %+v", c)
	}
}

// Every fault is reproducible, and each client reports it as the same outcome.
func TestFaults(t *testing.T) {
	srv, _ := mock(t, mockllm.Config{RetryAfter: time.Millisecond})
	for _, tc := range []struct {
		fault    mockllm.Fault
		attempts string // X-Mock-Fault-Attempts
		outcome  string
		retries  int // per stream
		tokens   int64
	}{
		{mockllm.FaultOverloaded, "1", OutcomeOK, 1, 20},
		{mockllm.FaultOverloaded, "3", OutcomeHTTPErr, 2, 0}, // the SDK gives up after its 2 retries
		{mockllm.FaultMidstream, "", OutcomeStreamErr, 0, 10},
		{mockllm.FaultCut, "", OutcomeTruncated, 0, 10},
	} {
		for _, mode := range []string{ModeSDK, ModeLean} {
			t.Run(string(tc.fault)+"-"+tc.attempts+"/"+mode, func(t *testing.T) {
				srv := srv
				if tc.attempts != "" {
					// The attempts knob goes per container here (the client sends no such header).
					s, _ := mock(t, mockllm.Config{RetryAfter: time.Millisecond, FaultAttempts: atoi(tc.attempts)})
					srv = s
				}
				res := run(t, Config{URL: srv.URL, Mode: mode, Concurrent: 2, Rounds: 1, Tokens: 20, Fault: tc.fault})
				if res.Outcomes[tc.outcome] != 2 || res.Retries != 2*tc.retries || res.Tokens != 2*tc.tokens {
					t.Errorf("outcomes %v (want 2 × %s), retries %d (want %d), tokens %d (want %d); errors %v",
						res.Outcomes, tc.outcome, res.Retries, 2*tc.retries, res.Tokens, 2*tc.tokens, res.Errors)
				}
			})
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// The wire format: event lines always present, the documented order, cumulative usage, request-id; a
// non-streaming answer; authentication required (x-api-key or Bearer).
func TestMockWireFormat(t *testing.T) {
	srv, _ := mock(t, mockllm.Config{Tokens: 3})
	post := func(body string, hdr map[string]string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/messages", strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	res := post(`{"model":"x","max_tokens":10,"stream":true}`, map[string]string{"Authorization": "Bearer k"})
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") || res.Header.Get("Request-Id") == "" {
		t.Fatalf("status %d, headers %v", res.StatusCode, res.Header)
	}
	var names []string
	sc := bufio.NewScanner(res.Body)
	var lastData string
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			names = append(names, n)
		} else if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			lastData = d
			if len(names) == 0 {
				t.Fatal("data before any event line")
			}
		}
	}
	want := "message_start content_block_start ping content_block_delta content_block_delta content_block_delta content_block_stop message_delta message_stop"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("events:\n got %s\nwant %s", got, want)
	}
	if lastData != `{"type":"message_stop"}` {
		t.Errorf("last data %q", lastData)
	}

	res = post(`{"model":"x","max_tokens":10}`, map[string]string{"X-Api-Key": "k", mockllm.HeaderSeed: "2"})
	var whole struct {
		Content []struct{ Text string }
		Usage   struct {
			OutputTokens int `json:"output_tokens"`
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&whole); err != nil || len(whole.Content) != 1 || whole.Usage.OutputTokens != 3 ||
		mockllm.TextSHA256Bytes([]byte(whole.Content[0].Text)) != res.Header.Get(mockllm.HeaderTextSHA256) {
		t.Errorf("non-streaming: %+v, %v", whole, err)
	}
	if res := post(`{"stream":true}`, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("no key: status %d", res.StatusCode)
	}
	if res := post(`{"stream":true}`, map[string]string{"X-Api-Key": "k", mockllm.HeaderFault: "nope"}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("bad fault: status %d", res.StatusCode)
	}
}

// A deadline ends a stalled stream: nothing hangs.
func TestStreamDeadline(t *testing.T) {
	srv, _ := mock(t, mockllm.Config{})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, mode := range []string{ModeSDK, ModeLean} {
		res, _ := Run(ctx, Config{URL: srv.URL, Mode: mode, Concurrent: 1, Rounds: 1, Tokens: 5, TokenBytes: 4, TTFT: time.Minute,
			Timeout: 200 * time.Millisecond, APIKey: "k", Model: "m"})
		if res.Outcomes[OutcomeTimeout] != 1 {
			t.Errorf("%s: outcomes %v, errors %v", mode, res.Outcomes, res.Errors)
		}
	}
}
