//go:build !unix

package loadgen

import (
	"context"
	"errors"
	"io"
	"time"
)

// SignalGate needs SIGUSR1: elsewhere every step fails at once.
func SignalGate(io.Writer, time.Duration) (StepGate, func()) {
	return func(context.Context, Step) error { return errors.New("idle steps need a Unix system (SIGUSR1)") }, func() {}
}
