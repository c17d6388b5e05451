package conformance

import (
	"context"
	"fmt"
	"time"
)

func shutdownCases() []Case {
	return []Case{{Name: "shutdown/1001-and-exit-0", Fresh: true, Run: testShutdown}}
}

// shutdownLimit is the protocol's bound on SIGTERM-to-exit.
const shutdownLimit = 5 * time.Second

// testShutdown: on SIGTERM the bus sends every connection close 1001 and exits 0 within 5 s, whether or not
// clients answer the close. Two registered agents read (and so answer the close); a third connection never reads
// and never answers.
func testShutdown(t T, e *Env) {
	st, ok := e.Bus.(Stopper)
	if !ok {
		t.Skip("this target cannot stop its bus")
	}
	readers := []*Agent{e.Agent(t, "r1"), e.Agent(t, "r2")}
	mute := e.Dial(t)
	waitHealth(t, e.Bus, 3)

	codes := make(chan error, len(readers))
	ctx, cancel := context.WithTimeout(t.Context(), 2*shutdownLimit)
	defer cancel()
	for _, r := range readers {
		go func() {
			code, err := r.ExpectClose(ctx)
			if err == nil && code != 1001 {
				err = fmt.Errorf("%s: close code %d, want 1001", r, code)
			}
			codes <- err
		}()
	}
	res, err := st.Stop(ctx)
	if err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Logf("bus exited with %d %v after the stop request", res.ExitCode, res.Elapsed.Round(time.Millisecond))
	if res.ExitCode != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", res.ExitCode)
	}
	if res.Elapsed > shutdownLimit {
		t.Errorf("bus took %v to exit after SIGTERM, want ≤ %v", res.Elapsed, shutdownLimit)
	}
	for range readers {
		if err := <-codes; err != nil {
			t.Error(err)
		}
	}
	// The mute connection's close frame waited in its socket buffer.
	code, err := mute.ExpectClose(ctx)
	if err != nil || code != 1001 {
		t.Errorf("connection that never read: want close 1001 in its buffer, got %d %v", code, err)
	}
}
