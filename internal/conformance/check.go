package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNotHealthy is returned by a Starter whose bus never answered GET /health.
var ErrNotHealthy = errors.New("bus never became healthy")

// Starter starts one bus with the case's options for Check; stop removes it (Check calls it when the bus's cases
// are over). An error starting the shared bus ends Check; a fresh case's failing start fails that rule.
type Starter func(ctx context.Context, o Options) (bus Bus, stop func(), err error)

// RuleResult is one rule of docs/protocol.md as Check found it.
type RuleResult struct {
	Name     string        `json:"name"`
	Status   string        `json:"status"` // pass, fail or skip
	Messages []string      `json:"messages,omitempty"`
	Elapsed  time.Duration `json:"elapsed_ns"` // ns
}

// Report is every rule's result, in document order.
type Report struct {
	Rules []RuleResult `json:"rules"`
}

// Broken lists the rules that failed.
func (r Report) Broken() []RuleResult {
	var out []RuleResult
	for _, x := range r.Rules {
		if x.Status == "fail" {
			out = append(out, x)
		}
	}
	return out
}

// Check runs the suite's cases (only those whose name has one of the prefixes in only, or all) outside `go test`:
// each case in its own goroutine with a T that records failures, as `go test` would. progress, if not nil, gets one
// line per rule.
func Check(ctx context.Context, start Starter, only []string, progress io.Writer) (Report, error) {
	var rep Report
	var cases []Case
	for _, c := range Cases() {
		if len(only) == 0 || hasPrefix(c.Name, only) {
			cases = append(cases, c)
		}
	}
	n := new(atomic.Uint64)
	var shared Bus
	for _, c := range cases {
		if !c.Fresh {
			b, stop, err := start(ctx, Options{})
			if err != nil {
				return rep, err
			}
			defer stop()
			shared = b
			break
		}
	}
	for _, c := range cases {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		began := time.Now()
		r := newRunner(ctx)
		r.run(func(t T) {
			bus := shared
			if c.Fresh {
				b, stop, err := start(t.Context(), c.Options)
				if errors.Is(err, errSkipRule) {
					t.Skip(err.Error())
				}
				if err != nil {
					t.Fatalf("start a bus with %v: %v", c.Options, err)
				}
				t.Cleanup(stop)
				bus = b
			}
			c.Run(t, &Env{Bus: bus, n: n})
		})
		res := RuleResult{Name: c.Name, Status: "pass", Messages: r.msgs, Elapsed: time.Since(began)}
		switch {
		case r.Failed():
			res.Status = "fail"
		case r.skipped:
			res.Status = "skip"
		}
		rep.Rules = append(rep.Rules, res)
		if progress != nil {
			line := fmt.Sprintf("%-4s %s", res.Status, c.Name)
			if res.Status != "pass" && len(res.Messages) > 0 {
				line += ": " + res.Messages[0]
			}
			fmt.Fprintln(progress, line)
		}
	}
	return rep, nil
}

func hasPrefix(s string, ps []string) bool {
	for _, p := range ps {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// runner is the T of one case outside `go test`: Fatal and Skip end the case's goroutine (runtime.Goexit), as
// they do a test's; cleanups run last-in first-out when it ends.
type runner struct {
	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex
	failed  bool
	skipped bool
	msgs    []string
	cleanup []func()
}

func newRunner(ctx context.Context) *runner {
	c, cancel := context.WithCancel(ctx)
	return &runner{ctx: c, cancel: cancel}
}

func (r *runner) run(f func(T)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				r.fail(fmt.Sprintf("panic: %v", p))
			}
		}()
		f(r)
	}()
	<-done
	r.cancel()
	for i := len(r.cleanup) - 1; i >= 0; i-- {
		r.cleanup[i]()
	}
}

func (r *runner) fail(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
	r.msgs = append(r.msgs, msg)
}

func (r *runner) Helper()                  {}
func (r *runner) Context() context.Context { return r.ctx }
func (r *runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanup = append(r.cleanup, f)
}
func (r *runner) Error(args ...any)                 { r.fail(strings.TrimSpace(fmt.Sprintln(args...))) }
func (r *runner) Errorf(format string, args ...any) { r.fail(fmt.Sprintf(format, args...)) }
func (r *runner) Fatal(args ...any)                 { r.Error(args...); runtime.Goexit() }
func (r *runner) Fatalf(format string, args ...any) { r.Errorf(format, args...); runtime.Goexit() }
func (r *runner) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}
func (r *runner) Log(args ...any)                 {}
func (r *runner) Logf(format string, args ...any) {}
func (r *runner) Skip(args ...any) {
	r.mu.Lock()
	r.skipped = true
	r.msgs = append(r.msgs, strings.TrimSpace(fmt.Sprintln(args...)))
	r.mu.Unlock()
	runtime.Goexit()
}
func (r *runner) Skipf(format string, args ...any) { r.Skip(fmt.Sprintf(format, args...)) }
