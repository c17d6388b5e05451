package streamclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/agentlab/agentlab/internal/mockllm"
)

// sdk streams with the official Go SDK: Messages.NewStreaming, Message.Accumulate.
type sdk struct {
	cfg    Config
	client anthropic.Client
	params anthropic.MessageNewParams
}

func newSDK(cfg Config, hc *http.Client) *sdk {
	return &sdk{
		cfg: cfg,
		client: anthropic.NewClient(option.WithBaseURL(cfg.URL), option.WithAPIKey(cfg.APIKey),
			option.WithHTTPClient(hc), option.WithMaxRetries(maxRetries)),
		params: anthropic.MessageNewParams{
			Model:     anthropic.Model(cfg.Model),
			MaxTokens: int64(cfg.Tokens),
			Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Stream a reply."))},
		},
	}
}

func (s *sdk) stream(ctx context.Context, seed int) (sr streamResult) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	sr.start = time.Now()
	// The middleware sees every attempt: attempts − 1 are the SDK's retries; the last answer's headers carry the
	// mock's digest.
	var attempts int
	var last *http.Response
	opts := []option.RequestOption{option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		attempts++
		res, err := next(r)
		if err == nil {
			last = res
		}
		return res, err
	})}
	for k, v := range s.cfg.mockHeaders(seed) {
		opts = append(opts, option.WithHeader(k, v))
	}
	st := s.client.Messages.NewStreaming(ctx, s.params, opts...)
	defer st.Close()
	var msg anthropic.Message
	sr.deltas = make([]time.Time, 0, s.cfg.Tokens)
	stopped := false
	var accErr error
	for st.Next() {
		ev := st.Current()
		if err := msg.Accumulate(ev); err != nil && accErr == nil {
			accErr = err
		}
		switch ev.Type {
		case "content_block_delta":
			if ev.Delta.Type == "text_delta" {
				sr.deltas = append(sr.deltas, time.Now())
				Burn(s.cfg.PlantBurn)
			}
		case "message_stop":
			stopped = true
		}
	}
	sr.retries = max(0, attempts-1)
	if sr.retries > 0 && last != nil {
		// The time to the last attempt's answer is not visible through the SDK; the first delta bounds it.
		if len(sr.deltas) > 0 {
			sr.retryDur = sr.deltas[0].Sub(sr.start)
		} else {
			sr.retryDur = time.Since(sr.start)
		}
	}
	err := st.Err()
	var apiErr *anthropic.Error
	switch {
	case stopped && err == nil && accErr == nil:
		var text []byte
		for _, b := range msg.Content {
			text = append(text, b.Text...)
		}
		want := ""
		if last != nil {
			want = last.Header.Get(mockllm.HeaderTextSHA256)
		}
		sr.outcome = verify(s.cfg.Live, want, text)
		if sr.outcome != OutcomeOK {
			sr.err = fmt.Errorf("text digest differs from the mock's (%d bytes)", len(text))
		}
	case errors.As(err, &apiErr) && apiErr.StatusCode >= 300 && len(sr.deltas) == 0 && !stopped:
		sr.outcome, sr.err = OutcomeHTTPErr, fmt.Errorf("POST /v1/messages: HTTP %d", apiErr.StatusCode)
	case isStreamErrorEvent(err, apiErr):
		sr.outcome, sr.err = OutcomeStreamErr, err
	default:
		if accErr != nil && err == nil {
			err = accErr
		}
		sr.outcome = classify(ctx, err, last != nil, false)
		if err == nil {
			err = errors.New("stream ended without message_stop")
		}
		sr.err = err
	}
	return sr
}

// isStreamErrorEvent tells an `event: error` from a broken connection: the SDK turns the event into an
// *anthropic.Error carrying the stream's 200 status (or, if its JSON does not parse, a "received error while
// streaming" error).
func isStreamErrorEvent(err error, apiErr *anthropic.Error) bool {
	if err == nil {
		return false
	}
	if apiErr != nil {
		return apiErr.StatusCode < 300
	}
	return strings.HasPrefix(err.Error(), "received error while streaming")
}
