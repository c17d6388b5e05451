package aistreaming

import (
	"encoding/json"
	"flag"
	"time"

	"github.com/agentlab/agentlab/scenarios/scenario"
)

// Flags are ai-streaming's own flags (the shared ones — --iterations as streams per client and level, --faults,
// --skip-rust — are in scenario.Params). Their JSON keys are final-report.json's parameters, flattened beside the
// shared ones.
type Flags struct {
	Concurrent string        `json:"concurrent"`  // comma-separated concurrency levels (streams in flight)
	Mock       bool          `json:"mock"`        // use the mock API even when ANTHROPIC_API_KEY is set
	Tokens     int           `json:"tokens"`      // tokens per streamed response
	TokenDelay time.Duration `json:"token_delay"` // the realistic inter-token delay (runs at 0 too: the CPU-bound check)
}

// MarshalJSON writes the delay as a Go duration string ("20ms"), not nanoseconds.
func (f Flags) MarshalJSON() ([]byte, error) {
	type plain Flags
	return json.Marshal(struct {
		plain
		TokenDelay string `json:"token_delay"`
	}{plain(f), f.TokenDelay.String()})
}

// Register defines ai-streaming's flags on fs, with their defaults.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Concurrent, "concurrent", "1,10,100,1000", "ai-streaming: concurrency levels, streams in flight (--quick: 1,10)")
	fs.BoolVar(&f.Mock, "mock", false, "ai-streaming: use the mock API (the default when ANTHROPIC_API_KEY is unset)")
	fs.IntVar(&f.Tokens, "tokens", 100, "ai-streaming: tokens per streamed response (--quick: 50)")
	fs.DurationVar(&f.TokenDelay, "token-delay", 20*time.Millisecond, "ai-streaming: realistic inter-token delay; every level also runs at 0 (decoder-bound)")
}

// Params are what ai-streaming reads: the shared flags and its own.
type Params struct {
	scenario.Params
	Flags
}

// Env is the scenario's environment with ai-streaming's parameters in place of the shared ones alone.
type Env struct {
	*scenario.Env
	Params Params
}
