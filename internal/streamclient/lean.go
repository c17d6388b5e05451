package streamclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentlab/agentlab/internal/mockllm"
	"github.com/agentlab/agentlab/internal/sse"
)

// maxRetries is the SDK's default (two retries after the first attempt), so both Go clients face the same policy.
const maxRetries = 2

func newLean(cfg Config, hc *http.Client) *lean {
	return &lean{cfg: cfg, hc: hc, body: fmt.Appendf(nil,
		`{"model":%q,"max_tokens":%d,"stream":true,"messages":[{"role":"user","content":"Stream a reply."}]}`, cfg.Model, cfg.Tokens)}
}

// lean streams with net/http and internal/sse.
type lean struct {
	cfg  Config
	hc   *http.Client
	body []byte
}

func (l *lean) request(ctx context.Context, seed, attempt int) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(l.cfg.URL, "/")+"/v1/messages", bytes.NewReader(l.body))
	if err != nil {
		return nil, err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "text/event-stream")
	h.Set("Anthropic-Version", "2023-06-01")
	h.Set("X-Api-Key", l.cfg.APIKey)
	h.Set(mockllm.HeaderRetryCount, strconv.Itoa(attempt))
	for k, v := range l.cfg.mockHeaders(seed) {
		h.Set(k, v)
	}
	return req, nil
}

// retryable is the SDK's rule: 408, 409, 429 and every 5xx (529 included), unless x-should-retry says otherwise.
func retryable(res *http.Response) bool {
	switch res.Header.Get("X-Should-Retry") {
	case "true":
		return true
	case "false":
		return false
	}
	c := res.StatusCode
	return c == 408 || c == 409 || c == 429 || c >= 500
}

// retryDelay is the SDK's: retry-after-ms, else retry-after seconds, else 0.5 s × 2^n capped at 8 s.
func retryDelay(res *http.Response, n int) time.Duration {
	if ms, err := strconv.ParseFloat(res.Header.Get("Retry-After-Ms"), 64); err == nil && ms > 0 && ms < 60000 {
		return time.Duration(ms * float64(time.Millisecond))
	}
	if s, err := strconv.ParseFloat(res.Header.Get("Retry-After"), 64); err == nil && s > 0 && s < 60 {
		return time.Duration(s * float64(time.Second))
	}
	return min(time.Duration(0.5*float64(time.Second)*math.Pow(2, float64(n))), 8*time.Second)
}

func (l *lean) stream(ctx context.Context, seed int) (sr streamResult) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	sr.start = time.Now()
	var res *http.Response
	for attempt := 0; ; attempt++ {
		req, err := l.request(ctx, seed, attempt)
		if err != nil {
			sr.outcome, sr.err = OutcomeConnectErr, err
			return sr
		}
		res, err = l.hc.Do(req)
		if err != nil {
			sr.outcome, sr.err = classify(ctx, err, false, false), fmt.Errorf("POST /v1/messages: %w", err)
			return sr
		}
		if res.StatusCode == http.StatusOK {
			break
		}
		if attempt >= maxRetries || !retryable(res) {
			b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
			res.Body.Close()
			sr.outcome, sr.err = OutcomeHTTPErr, fmt.Errorf("POST /v1/messages: %s: %s", res.Status, bytes.TrimSpace(b))
			return sr
		}
		d := retryDelay(res, attempt)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		sr.retries++
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			sr.outcome, sr.err = OutcomeTimeout, ctx.Err()
			return sr
		case <-t.C:
		}
	}
	if sr.retries > 0 {
		sr.retryDur = time.Since(sr.start)
	}
	defer res.Body.Close()
	sr.deltas = make([]time.Time, 0, l.cfg.Tokens)
	m := sse.Message{Text: make([]byte, 0, l.cfg.Tokens*l.cfg.TokenBytes)}
	d := sse.NewDecoder(res.Body)
	for {
		ev, err := d.Next()
		if err != nil {
			if m.Stopped {
				break
			}
			sr.outcome, sr.err = classify(ctx, err, true, false), fmt.Errorf("stream ended without message_stop: %w", err)
			if errors.Is(err, io.EOF) {
				sr.err = errors.New("stream ended without message_stop")
			}
			return sr
		}
		n := m.Deltas
		if err := m.Add(ev); err != nil {
			var ae *sse.APIError
			if errors.As(err, &ae) {
				sr.outcome, sr.err = OutcomeStreamErr, err
			} else {
				sr.outcome, sr.err = OutcomeTruncated, err
			}
			return sr
		}
		if m.Deltas > n {
			sr.deltas = append(sr.deltas, time.Now())
			Burn(l.cfg.PlantBurn)
		}
		if m.Stopped {
			break
		}
	}
	sr.outcome = verify(l.cfg.Live, res.Header.Get(mockllm.HeaderTextSHA256), m.Text)
	if sr.outcome != OutcomeOK {
		sr.err = fmt.Errorf("text digest differs from the mock's (%d bytes)", len(m.Text))
	}
	return sr
}
