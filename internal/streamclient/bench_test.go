package streamclient

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/agentlab/agentlab/internal/mockllm"
)

// memTransport answers every request with the same recorded mock stream from memory: the benchmarks measure
// decoding, not the network.
type memTransport struct {
	body   []byte
	header http.Header
}

func (m memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: m.header.Clone(), Body: io.NopCloser(bytes.NewReader(m.body)), Request: r}, nil
}

// recordStream captures one mock response of n tokens.
func recordStream(b *testing.B, n int) memTransport {
	srv := httptest.NewServer(mockllm.New(mockllm.Config{}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/messages", bytes.NewReader([]byte(`{"stream":true,"max_tokens":100000}`)))
	req.Header.Set("X-Api-Key", "k")
	req.Header.Set(mockllm.HeaderTokens, strconv.Itoa(n))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.Fatal(err)
	}
	return memTransport{body: body, header: res.Header}
}

// BenchmarkDecode: each Go client decodes a mock stream of 100 or 1000 tokens from memory (HTTP response plumbing
// included, no socket); events/s counts every SSE event (tokens + 6 per stream). The SDK's cost per token grows
// with the stream: Accumulate appends each delta to the block's text string (a copy per token).
func BenchmarkDecode(b *testing.B) {
	for _, tc := range []struct {
		mode   string
		tokens int
	}{{ModeSDK, 100}, {ModeSDK, 1000}, {ModeLean, 100}, {ModeLean, 1000}} {
		mode, tokens := tc.mode, tc.tokens
		tr := recordStream(b, tokens)
		b.Run("client="+mode+"/tokens="+strconv.Itoa(tokens), func(b *testing.B) {
			cfg := Config{URL: "http://mem", Mode: mode, Concurrent: 1, Rounds: 1, Tokens: tokens, TokenBytes: 4,
				Timeout: time.Minute, APIKey: "k", Model: "m"}
			hc := &http.Client{Transport: tr}
			var r runner = newLean(cfg, hc)
			if mode == ModeSDK {
				r = newSDK(cfg, hc)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(tr.body)))
			n := 0
			for b.Loop() {
				sr := r.stream(context.Background(), 0)
				if sr.outcome != OutcomeOK {
					b.Fatalf("outcome %s: %v", sr.outcome, sr.err)
				}
				n++
			}
			b.ReportMetric(float64(n*(tokens+6))/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*tokens), "ns/token")
		})
	}
}
