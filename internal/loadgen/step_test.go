package loadgen

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agentlab/agentlab/gobus"
	"github.com/agentlab/agentlab/gobus/gobustest"
)

func TestParseStepsAndArgs(t *testing.T) {
	steps, err := ParseSteps("0, 250,500,1000")
	if err != nil || !reflect.DeepEqual(steps, []int{0, 250, 500, 1000}) {
		t.Fatalf("ParseSteps = %v, %v", steps, err)
	}
	if FormatSteps(steps) != "0,250,500,1000" {
		t.Errorf("FormatSteps = %q", FormatSteps(steps))
	}
	for _, bad := range []string{"a", "-1", "1,x"} {
		if _, err := ParseSteps(bad); err == nil {
			t.Errorf("ParseSteps(%q) accepted", bad)
		}
	}
	c := DefaultConfig()
	c.Agents, c.Model, c.IdleSteps, c.StepTimeout = 1000, ModelIdle, steps, 30*time.Second
	back, err := Parse(c.Args(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.IdleSteps, steps) || back.StepTimeout != 30*time.Second || back.Model != ModelIdle {
		t.Errorf("round trip: steps %v, timeout %v, model %q", back.IdleSteps, back.StepTimeout, back.Model)
	}
	for _, bad := range [][]string{{"--idle-steps", "0,500,250"}, {"--idle-steps", "0,2000"}, {"--model", "idle", "--idle-steps", "5", "--step-timeout", "0s"}} {
		if _, err := Parse(append([]string{"--agents", "1000"}, bad...), io.Discard); err == nil {
			t.Errorf("Parse(%v) accepted", bad)
		}
	}
}

func TestSplitSteps(t *testing.T) {
	steps := []int{0, 250, 501, 1000}
	sum := make([]int, len(steps))
	for i := 0; i < 3; i++ {
		for k, n := range SplitSteps(steps, 3, i) {
			sum[k] += n
		}
	}
	if !reflect.DeepEqual(sum, steps) {
		t.Errorf("shares add up to %v, want %v", sum, steps)
	}
}

func TestStepLineRoundTrip(t *testing.T) {
	s := Step{Generator: 1, Index: 2, Steps: 4, Target: 500, Registered: 499, AtNs: 7}
	got, ok := ParseStepLine([]byte(StepLine(s) + "\n"))
	if !ok || got != s {
		t.Errorf("ParseStepLine = %+v, %v", got, ok)
	}
	if _, ok := ParseStepLine([]byte("loadgen 0: 10/10 agents registered")); ok {
		t.Error("a progress line parsed as a step")
	}
}

// The idle model pauses at every step with exactly that many agents registered on the bus, and waits for the
// gate before going on.
func TestIdleSteps(t *testing.T) {
	if testing.Short() {
		t.Skip("connects to an in-process bus (skipped with -short)")
	}
	b := gobustest.Start(t, gobus.Options{})
	cfg := smallConfig(b.Addr)
	cfg.Agents, cfg.Model, cfg.IdleSteps = 30, ModelIdle, []int{0, 10, 20}
	var seen []Step
	var onBus []int
	cfg.Gate = func(ctx context.Context, s Step) error {
		seen = append(seen, s)
		n, err := registeredAgents(ctx, &http.Client{Timeout: time.Second}, "http://"+b.Addr+"/metrics")
		if err != nil {
			return err
		}
		onBus = append(onBus, n)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sessions.Registered != 30 || res.Sent != 0 {
		t.Errorf("sessions %+v, sent %d", res.Sessions, res.Sent)
	}
	if len(seen) != 3 || len(res.Steps) != 3 {
		t.Fatalf("steps seen %v, recorded %v", seen, res.Steps)
	}
	for i, want := range []int{0, 10, 20} {
		if seen[i].Target != want || seen[i].Registered != want || onBus[i] != want || seen[i].Index != i || seen[i].Steps != 3 {
			t.Errorf("step %d: %+v, bus had %d registered; want %d", i, seen[i], onBus[i], want)
		}
	}

	// A gate that times out is noted and the ramp goes on; any other error ends the run.
	cfg.Gate = func(context.Context, Step) error { return ErrStepTimeout }
	res, err = Run(ctx, cfg, io.Discard)
	if err != nil || res.Sessions.Registered != 30 || !strings.Contains(strings.Join(res.Notes, ";"), "went on") {
		t.Errorf("timed-out steps: err %v, sessions %+v, notes %v", err, res.Sessions, res.Notes)
	}
	boom := errors.New("boom")
	cfg.Gate = func(_ context.Context, s Step) error {
		if s.Index == 1 {
			return boom
		}
		return nil
	}
	if _, err := Run(ctx, cfg, io.Discard); !errors.Is(err, boom) {
		t.Errorf("failing gate: err %v", err)
	}
}
