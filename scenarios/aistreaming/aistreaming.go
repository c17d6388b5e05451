package aistreaming

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/mockllm"
	"github.com/agentlab/agentlab/internal/stats"
	"github.com/agentlab/agentlab/internal/streamclient"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// ai-streaming (seed Test 4): is token streaming CPU-bound or network-bound? The same streams from the mock
// Messages API (agentlab/mockllm, reached by container name on a lab network) are decoded by the official Go SDK
// and by the lean Go reader, each in its own client container, at every --concurrent level, once with the
// realistic --token-delay and once with delay 0 (the decoder is the limit). Per-token processing is the client's
// own CPU (getrusage) per token, per round; the decision reads the SDK's rounds at the realistic delay.

// Clients of ai-streaming. The reference client is what the agents would run: the official SDK.
const (
	clientSDK       = "go-sdk"
	clientLean      = "go-lean"
	clientRust      = "rust"
	streamReference = clientSDK
	mockAlias       = "mockllm"
	liveURL         = "https://api.anthropic.com"
	liveModel       = "claude-haiku-4-5"
	liveBudget      = 8 * time.Second // the live check's deadline: unreachable → exit 2 well within 10 s
	streamTimeout   = 2 * time.Minute
	faultLevel      = 10 // streams in flight in the fault runs
)

// --quick sizes.
const (
	streamQuickConcurrent = "1,10"
	streamQuickIterations = 6 // 6 rounds at one stream: the fewest a 95 % CI needs
	streamQuickTokens     = 50
)

type aiStreamingScenario struct{ flags *Flags }

// New is the ai-streaming scenario, reading its own flags from f.
func New(f *Flags) scenario.Scenario { return aiStreamingScenario{flags: f} }

func (aiStreamingScenario) Name() string      { return "ai-streaming" }
func (aiStreamingScenario) NeedsDocker() bool { return true }
func (aiStreamingScenario) Describe() string {
	return "token streaming, official Go SDK vs lean Go reader vs Rust, 1–1000 streams: CPU per token vs network wait (seed Test 4)"
}

// ApplyQuick implements Quicker.
func (s aiStreamingScenario) ApplyQuick(sp *scenario.Params, set func(string) bool) {
	p := Params{*sp, *s.flags}
	p.applyQuick(set)
	*sp, *s.flags = p.Params, p.Flags
}

func (p *Params) applyQuick(set func(string) bool) {
	if !set("concurrent") {
		p.Concurrent = streamQuickConcurrent
	}
	if !set("iterations") {
		p.Iterations = streamQuickIterations
	}
	if !set("tokens") {
		p.Tokens = streamQuickTokens
	}
}

// Check implements Checker.
func (s aiStreamingScenario) Check(sp scenario.Params) error { return Params{sp, *s.flags}.check() }

func (p Params) check() error {
	var errs []error
	if _, err := parseLevels(p.Concurrent); err != nil {
		errs = append(errs, err)
	}
	if p.Tokens < 2 {
		errs = append(errs, fmt.Errorf("--tokens must be ≥ 2, got %d", p.Tokens))
	}
	if p.TokenDelay < 0 || p.TokenDelay > time.Second {
		errs = append(errs, fmt.Errorf("--token-delay must be in [0, 1s], got %v", p.TokenDelay))
	}
	return errors.Join(errs...)
}

func parseLevels(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 5000 {
			return nil, fmt.Errorf("--concurrent %q: want comma-separated counts in 1..5000", s)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// roundsFor is how many rounds of n concurrent streams a client runs at one level: --iterations streams per
// client and level, at least one round.
func roundsFor(iterations, n int) int { return max(1, (iterations+n-1)/n) }

// aiStreamingSchema is ai-streaming.json's schema_version.
const aiStreamingSchema = 1

// Result is ai-streaming.json.
type Result struct {
	Schema       int     `json:"schema_version"` // aiStreamingSchema
	Mode         string  `json:"mode"`           // mock | live
	Tokens       int     `json:"tokens_per_stream"`
	TokenBytes   int     `json:"token_bytes"`
	TokenDelayMS float64 `json:"token_delay_ms"` // the realistic pacing; every level also runs at 0
	Levels       []int   `json:"concurrency_levels"`
	Iterations   int     `json:"iterations"` // streams per client per level (rounds = ceil(iterations / level))

	Clients []streamClientInfo `json:"clients"`
	Runs    []streamRun        `json:"runs"`
	Faults  []faultRun         `json:"faults,omitempty"`
	// Mock is what the mock served over the whole scenario (its /stats).
	Mock *mockllm.Counters `json:"mock,omitempty"`

	Decision decide.StreamingDecision `json:"decision"`
	Notes    []string                 `json:"notes,omitempty"`
}

type streamClientInfo struct {
	Client   string `json:"client"`
	Language string `json:"language"`
	Image    string `json:"image,omitempty"`
	Built    bool   `json:"built"`
	Note     string `json:"note,omitempty"`
}

// streamRun is one client at one concurrency level and one pacing.
type streamRun struct {
	Client       string  `json:"client"`
	Language     string  `json:"language"`
	Concurrent   int     `json:"concurrent"`
	TokenDelayMS float64 `json:"token_delay_ms"`
	Rounds       int     `json:"rounds"`

	Streams  int            `json:"streams"`
	Outcomes map[string]int `json:"outcomes"`
	Retries  int            `json:"retries"`
	Tokens   int64          `json:"tokens"`

	// PerTokenCPU is the client's own CPU (getrusage user + system) per token: median over rounds with its 95 %
	// CI, ms; PerTokenCPURounds the per-round values.
	PerTokenCPU       stats.Interval `json:"per_token_cpu_ms"`
	PerTokenCPURounds []float64      `json:"per_token_cpu_rounds_ms"`
	CPUUserS          float64        `json:"cpu_user_s"`
	CPUSysS           float64        `json:"cpu_sys_s"`
	WallS             float64        `json:"wall_s"`
	// NetworkWaitPerToken is the mean over streams of (stream duration / tokens) − per-token CPU, ms.
	NetworkWaitPerToken float64 `json:"network_wait_per_token_ms"`

	TTFT       stats.Summary `json:"ttft"`        // request → first text delta, ms (HDR)
	InterToken stats.Summary `json:"inter_token"` // between text deltas, ms (HDR)
	// StreamTokensPerS is the median over streams of tokens / (last delta − request); TotalTokensPerS all
	// tokens / wall.
	StreamTokensPerS float64 `json:"stream_tokens_per_s"`
	TotalTokensPerS  float64 `json:"total_tokens_per_s"`

	// Memory, bytes. Heap: the client's Go heap (HeapInuse) peak − before the first stream, per stream in flight.
	// Container: the client container's memory (MemSource), peak, and (peak − lowest sample) per stream in flight.
	HeapPerStream      float64 `json:"go_heap_per_stream_bytes,omitempty"`
	ContainerMemPeak   float64 `json:"container_mem_peak_bytes"`
	ContainerPerStream float64 `json:"container_mem_per_stream_bytes"`
	MemSource          string  `json:"memory_source,omitempty"`
	MemSamples         int     `json:"memory_samples"`
	// MockCPUCores is the mock container's CPU while this client ran (cgroup CPU usage delta ÷ wall, container
	// start and exit included), cores: near the machine's free cores the mock, not the client, set the pace.
	MockCPUCores float64 `json:"mock_cpu_cores"`

	Errors []string `json:"errors,omitempty"`
	Error  string   `json:"error,omitempty"` // the run itself failed (container, result)
}

// faultRun is one client under one fault.
type faultRun struct {
	Client   string         `json:"client"`
	Fault    string         `json:"fault"`
	Streams  int            `json:"streams"`
	Outcomes map[string]int `json:"outcomes"`
	Retries  int            `json:"retries"`
	// RetryWait is, for streams that retried, first attempt → the answer of the last (SDK: → first delta), ms.
	RetryWait stats.Summary `json:"retry_wait"`
	WallS     float64       `json:"wall_s"`
	Errors    []string      `json:"errors,omitempty"`
	Error     string        `json:"error,omitempty"`
}

func runFromResult(r *streamclient.Result, lang string) streamRun {
	sr := streamRun{Client: r.Client, Language: lang, Concurrent: r.Concurrent, TokenDelayMS: r.TokenDelay,
		Rounds: r.Rounds, Streams: r.Streams, Outcomes: r.Outcomes, Retries: r.Retries, Tokens: r.Tokens,
		PerTokenCPU: stats.MedianCI(r.PerTokenCPUMS), PerTokenCPURounds: r.PerTokenCPUMS,
		CPUUserS: r.CPUUserS, CPUSysS: r.CPUSysS, WallS: r.WallS, NetworkWaitPerToken: r.NetworkWaitPerTokenMS,
		TTFT: r.TTFT.Summary(), InterToken: r.InterToken.Summary(), StreamTokensPerS: stats.Median(r.StreamTokensPerS),
		TotalTokensPerS: r.TotalTokensPerS, Errors: r.Errors}
	if r.HeapPeakBytes > r.HeapIdleBytes && r.Concurrent > 0 {
		sr.HeapPerStream = float64(r.HeapPeakBytes-r.HeapIdleBytes) / float64(r.Concurrent)
	}
	return sr
}

// decisionInput is Test 4's input: each client's per-round per-token CPU at the realistic pacing, every level
// pooled (the question is the cost of a token as the API delivers it: one event per read).
func decisionInput(runs []streamRun, delayMS float64) decide.StreamingInput {
	in := decide.StreamingInput{Reference: streamReference}
	idx := map[string]int{}
	for _, r := range runs {
		if r.TokenDelayMS != delayMS || r.Error != "" {
			continue
		}
		i, ok := idx[r.Client]
		if !ok {
			i = len(in.Clients)
			idx[r.Client] = i
			in.Clients = append(in.Clients, decide.StreamingClient{Client: r.Client, Language: r.Language})
		}
		in.Clients[i].PerTokenMS = append(in.Clients[i].PerTokenMS, r.PerTokenCPURounds...)
	}
	return in
}

// liveKey returns the API key when the run is live (key set, no --mock).
func liveKey(p Params) string {
	if p.Mock {
		return ""
	}
	return os.Getenv("ANTHROPIC_API_KEY")
}

// runLive streams a few short responses from the real API through the SDK client, in-process. An unreachable API
// is an ErrEnvironment within liveBudget; the key is never printed (errors carry the URL, not headers).
func runLive(ctx context.Context, env *Env, key string) (*scenario.Outcome, error) {
	fmt.Fprintln(env.Log, "ai-streaming: live mode (ANTHROPIC_API_KEY is set): 3 short streams from "+liveURL+" through the Go SDK")
	cfg := streamclient.Config{URL: liveURL, Mode: streamclient.ModeSDK, Concurrent: 1, Rounds: 1, Tokens: 32,
		Timeout: liveBudget, Model: liveModel, APIKey: key, Live: true}
	cctx, cancel := context.WithTimeout(ctx, liveBudget)
	probe, err := streamclient.Run(cctx, cfg)
	cancel()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if probe == nil || probe.Outcomes[streamclient.OutcomeOK] != 1 {
		why := "no answer"
		if probe != nil && len(probe.Errors) > 0 {
			why = probe.Errors[0]
		} else if err != nil {
			why = err.Error()
		}
		return nil, scenario.EnvError{Err: fmt.Errorf("live mode: the Anthropic API at %s is unreachable or refused the stream (%s); pass --mock or unset ANTHROPIC_API_KEY to use the mock",
			liveURL, scenario.Truncate([]byte(why), 200))}
	}
	cfg.Rounds, cfg.Timeout = 2, 30*time.Second
	rest, err := streamclient.Run(ctx, cfg)
	res := &Result{Schema: aiStreamingSchema, Mode: "live", Tokens: cfg.Tokens, Levels: []int{1}, Iterations: 3,
		Clients: []streamClientInfo{{Client: clientSDK, Language: "go", Built: true, Note: "in-process, real API"}},
		Notes:   []string{"live mode: per-token CPU over a real network and TLS; too few rounds for a 95 % CI"}}
	for _, r := range []*streamclient.Result{probe, rest} {
		if r != nil {
			res.Runs = append(res.Runs, runFromResult(r, "go"))
		}
	}
	res.Decision = decide.Streaming(decisionInput(res.Runs, 0))
	return &scenario.Outcome{Files: []scenario.File{{Name: "ai-streaming.json", Value: res}}, Report: res.WriteTable,
		Decisions: decide.Decisions{AIStreaming: &res.Decision}}, err
}
