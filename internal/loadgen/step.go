package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Idle steps: the connection ramp pauses at given counts so that the lab can read the bus's memory with that many
// idle registered connections, after it settles (internal/connmem); memory per connection is then the slope of
// those readings, not one difference that also holds the runtime's fixed costs.

// StepLinePrefix starts the line a generator prints on stderr at each idle step; the rest is a Step in JSON.
const StepLinePrefix = "loadgen-step "

// ErrStepTimeout is a step whose go-ahead did not come within Config.StepTimeout: the ramp went on without it.
var ErrStepTimeout = errors.New("no go-ahead within the step timeout")

// Step is one pause of the ramp: this generator's connection attempts up to Target are done.
type Step struct {
	Generator  int   `json:"generator"`
	Index      int   `json:"index"` // 0-based, of Steps
	Steps      int   `json:"steps"`
	Target     int   `json:"target"`     // agents attempted so far
	Registered int   `json:"registered"` // of them, registered
	AtNs       int64 `json:"at_ns"`      // when the step was reached, Unix ns
}

// StepGate is called at each step and returns when the ramp may go on (ErrStepTimeout after the timeout, which
// the generator notes and goes on; any other error ends the run).
type StepGate func(ctx context.Context, s Step) error

// StepResult is a step as the generator's result records it.
type StepResult struct {
	Step
	ReleasedNs int64  `json:"released_ns"` // when the ramp went on
	Error      string `json:"error,omitempty"`
}

// ParseSteps reads a comma-separated list of counts ("0,250,500,1000").
func ParseSteps(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("idle steps %q: want counts like 0,250,500,1000", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// FormatSteps is ParseSteps' inverse.
func FormatSteps(steps []int) string {
	parts := make([]string, len(steps))
	for i, n := range steps {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

// StepLine is the line a generator prints at step s (no newline).
func StepLine(s Step) string {
	b, _ := json.Marshal(s)
	return StepLinePrefix + string(b)
}

// ParseStepLine reads a step line; ok is false for any other line.
func ParseStepLine(line []byte) (Step, bool) {
	rest, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte(StepLinePrefix))
	if !ok {
		return Step{}, false
	}
	var s Step
	if err := json.Unmarshal(rest, &s); err != nil {
		return Step{}, false
	}
	return s, true
}

// SplitSteps divides steps of a run's total connections over gens generators the way the lab splits the agents
// (the first total%gens generators take one more): generator i's step k is its share of steps[k].
func SplitSteps(steps []int, gens, i int) []int {
	out := make([]int, len(steps))
	for k, n := range steps {
		out[k] = n / gens
		if i < n%gens {
			out[k]++
		}
	}
	return out
}
