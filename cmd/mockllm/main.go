// Command mockllm serves the mock Anthropic Messages API (internal/mockllm) on :8080: POST /v1/messages,
// GET /health, GET /stats. Flags set the container-wide defaults; X-Mock-* request headers override them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/agentlab/agentlab/internal/mockllm"
)

func main() {
	var cfg mockllm.Config
	var fault, addr string
	flag.StringVar(&addr, "addr", ":8080", "listen address")
	flag.IntVar(&cfg.Tokens, "tokens", 100, "tokens per response")
	flag.IntVar(&cfg.TokenBytes, "token-bytes", 4, "bytes of text per token")
	flag.DurationVar(&cfg.TTFT, "ttft", 0, "time to first token")
	flag.DurationVar(&cfg.TokenDelay, "token-delay", 0, "delay between tokens (0 = as fast as possible)")
	flag.StringVar(&fault, "fault", "", "fault on every request: overloaded, midstream or cut")
	flag.IntVar(&cfg.FaultAttempts, "fault-attempts", 1, "overloaded: attempts answered 529 before one succeeds")
	flag.DurationVar(&cfg.RetryAfter, "retry-after", 20*time.Millisecond, "retry-after-ms sent with 529")
	flag.Parse()
	var err error
	if cfg.Fault, err = mockllm.ParseFault(fault); err != nil {
		fmt.Fprintln(os.Stderr, "mockllm:", err)
		os.Exit(2)
	}
	// No write timeout: a stream lasts as long as its tokens; the client's deadline ends a stalled one.
	srv := &http.Server{Addr: addr, Handler: mockllm.New(cfg), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "mockllm:", err)
		os.Exit(1)
	}
}
