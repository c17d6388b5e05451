//go:build unix

package loadgen

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// SignalGate is the generator's gate in a container: it prints the step line on log and waits for SIGUSR1, which
// the lab sends through the Engine API (docker kill --signal USR1: it reaches a remote daemon's containers too),
// at most timeout. The handler is installed here, before any step line can be printed, so a signal sent as soon
// as the line is read is never lost (a PID 1 without a handler would ignore it). stop removes the handler.
func SignalGate(log io.Writer, timeout time.Duration) (gate StepGate, stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	var mu sync.Mutex
	gate = func(ctx context.Context, s Step) error {
		// Drop a go-ahead left over from an earlier step (sent twice): each step waits for its own.
		select {
		case <-ch:
		default:
		}
		mu.Lock()
		fmt.Fprintln(log, StepLine(s))
		mu.Unlock()
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-ch:
			return nil
		case <-t.C:
			return ErrStepTimeout
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return gate, func() { signal.Stop(ch) }
}
