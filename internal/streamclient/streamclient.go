// Package streamclient is the ai-streaming scenario's Go client program: Concurrent streams at a time, Rounds
// times, against the Messages API (the mock, or the real API in live mode), decoded either by the official SDK
// (Messages.NewStreaming + Accumulate) or by the lean reader (internal/sse). It measures what Test 4 asks:
// the process's own CPU time (getrusage, user + system) per token — everything the client does for a token:
// the HTTP read, SSE framing, JSON, accumulation, GC — separated from the time streams spent waiting; time to
// first token and inter-token gaps in HDR histograms; tokens/s; Go heap; and each stream's outcome (verified
// against the mock's X-Mock-Text-Sha256, truncated without message_stop, mid-stream error, HTTP error after the
// retries, which are counted).
package streamclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/agentlab/agentlab/internal/mockllm"
	"github.com/agentlab/agentlab/internal/stats"
)

// Modes.
const (
	ModeSDK  = "sdk"
	ModeLean = "lean"
)

// EnvPlantBurnUS is --plant-burn-us's environment form (a flag given wins).
const EnvPlantBurnUS = "STREAM_PLANT_BURN_US"

// Config is one client run.
type Config struct {
	URL        string        // API base URL (http://mockllm:8080, https://api.anthropic.com)
	Mode       string        // sdk | lean
	Concurrent int           // streams in flight at once
	Rounds     int           // rounds: each starts Concurrent streams and waits for them all
	Tokens     int           // tokens per response (mock: X-Mock-Tokens; live: max_tokens)
	TokenBytes int           // mock: bytes per token
	TTFT       time.Duration // mock: time to first token
	TokenDelay time.Duration // mock: inter-token delay (0 = as fast as possible)
	Fault      mockllm.Fault // mock: a fault on every stream
	Timeout    time.Duration // deadline of one stream, retries included
	Model      string
	APIKey     string // never printed
	Live       bool   // real API: no mock headers, no digest to verify
	// PlantBurn is a planted fault (calibration only, never tuning; 0 = off): CPU burned per text delta (Burn).
	PlantBurn time.Duration
}

// Args is cfg as the program's command line (the key is passed in the environment, never on a command line).
func (c Config) Args() []string {
	a := []string{"--url", c.URL, "--mode", c.Mode, "--concurrent", strconv.Itoa(c.Concurrent), "--rounds", strconv.Itoa(c.Rounds),
		"--tokens", strconv.Itoa(c.Tokens), "--token-bytes", strconv.Itoa(c.TokenBytes), "--ttft", c.TTFT.String(),
		"--token-delay", c.TokenDelay.String(), "--timeout", c.Timeout.String(), "--model", c.Model}
	if c.Fault != mockllm.FaultNone {
		a = append(a, "--fault", string(c.Fault))
	}
	if c.PlantBurn > 0 {
		a = append(a, "--plant-burn-us", strconv.FormatInt(c.PlantBurn.Microseconds(), 10))
	}
	return a
}

// ParseArgs reads a command line written by Args.
func ParseArgs(args []string, stderr io.Writer) (Config, error) {
	var c Config
	var fault string
	fs := flag.NewFlagSet("streamclient", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.URL, "url", "http://mockllm:8080", "API base URL")
	fs.StringVar(&c.Mode, "mode", ModeLean, "sdk or lean")
	fs.IntVar(&c.Concurrent, "concurrent", 1, "streams in flight")
	fs.IntVar(&c.Rounds, "rounds", 5, "rounds of --concurrent streams")
	fs.IntVar(&c.Tokens, "tokens", 100, "tokens per response")
	fs.IntVar(&c.TokenBytes, "token-bytes", 4, "mock: bytes per token")
	fs.DurationVar(&c.TTFT, "ttft", 0, "mock: time to first token")
	fs.DurationVar(&c.TokenDelay, "token-delay", 0, "mock: inter-token delay")
	fs.DurationVar(&c.Timeout, "timeout", 60*time.Second, "deadline per stream")
	fs.StringVar(&c.Model, "model", "mock-model", "model")
	fs.StringVar(&fault, "fault", "", "mock: overloaded, midstream or cut")
	burnUS := fs.Int("plant-burn-us", 0, "PLANTED FAULT for calibration, not tuning: CPU µs burned per token (env "+EnvPlantBurnUS+")")
	if v := os.Getenv(EnvPlantBurnUS); v != "" {
		if err := fs.Set("plant-burn-us", v); err != nil {
			return c, fmt.Errorf("%s=%q: %w", EnvPlantBurnUS, v, err)
		}
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if *burnUS < 0 || *burnUS > 1_000_000 {
		return c, fmt.Errorf("--plant-burn-us %d out of range 0..1000000", *burnUS)
	}
	c.PlantBurn = time.Duration(*burnUS) * time.Microsecond
	var err error
	if c.Fault, err = mockllm.ParseFault(fault); err != nil {
		return c, err
	}
	if c.Mode != ModeSDK && c.Mode != ModeLean {
		return c, fmt.Errorf("--mode: want sdk or lean, got %q", c.Mode)
	}
	if c.Concurrent < 1 || c.Rounds < 1 || c.Tokens < 1 {
		return c, errors.New("--concurrent, --rounds and --tokens must be ≥ 1")
	}
	return c, nil
}

// Outcome of one stream.
const (
	OutcomeOK         = "ok"              // message_stop seen, text verified (or, live, not verifiable)
	OutcomeMismatch   = "digest_mismatch" // message_stop seen but the text differs from the mock's
	OutcomeTruncated  = "truncated"       // the body ended without message_stop and without an error event
	OutcomeStreamErr  = "stream_error"    // an `event: error` mid-stream
	OutcomeHTTPErr    = "http_error"      // no stream: a non-2xx answer after the retries
	OutcomeTimeout    = "timeout"         // the stream's deadline passed
	OutcomeConnectErr = "connect_error"   // no answer at all (DNS, refused, reset before headers)
)

// Result is one run's figures; the program prints it as JSON on stdout.
type Result struct {
	Client     string  `json:"client"` // go-sdk | go-lean
	Mode       string  `json:"mode"`
	Concurrent int     `json:"concurrent"`
	Rounds     int     `json:"rounds"`
	TokenDelay float64 `json:"token_delay_ms"`
	Fault      string  `json:"fault,omitempty"`

	Streams  int            `json:"streams"`
	Outcomes map[string]int `json:"outcomes"` // by Outcome*
	// Retries are the extra attempts streams needed (SDK: its own retries, counted in a middleware; lean: the same
	// policy — 2 retries on 408/409/429/5xx, honouring retry-after-ms). RetryWait is the time from a stream's first
	// attempt to the answer of its last, for streams that retried (µs HDR).
	Retries   int         `json:"retries"`
	RetryWait *stats.Hist `json:"retry_wait_hdr"`

	Tokens int64   `json:"tokens"` // text deltas received, all streams
	WallS  float64 `json:"wall_s"` // the rounds end to end
	// CPU is the process's own CPU over the rounds (getrusage RUSAGE_SELF), seconds.
	CPUUserS float64 `json:"cpu_user_s"`
	CPUSysS  float64 `json:"cpu_sys_s"`
	// PerTokenCPUMS is, per round, (user + system CPU in that round) / tokens received in it, ms: the per-token
	// processing time Test 4 decides on.
	PerTokenCPUMS []float64 `json:"per_token_cpu_ms"`
	// NetworkWaitPerTokenMS is the mean over streams of (stream duration / its tokens) minus the per-token CPU:
	// the part of a token's time spent waiting for bytes, not computing.
	NetworkWaitPerTokenMS float64 `json:"network_wait_per_token_ms"`

	TTFT       *stats.Hist `json:"ttft_hdr"`        // request sent → first text delta decoded, µs
	InterToken *stats.Hist `json:"inter_token_hdr"` // between consecutive text deltas of a stream, µs
	// StreamTokensPerS is, per stream, tokens / (last delta − request sent); TotalTokensPerS all tokens / wall.
	StreamTokensPerS []float64 `json:"stream_tokens_per_s"`
	TotalTokensPerS  float64   `json:"total_tokens_per_s"`

	// Go heap in use (runtime/metrics heap objects + unused slots, = MemStats.HeapInuse), bytes: before the first
	// stream and the peak sampled every 100 ms.
	HeapIdleBytes uint64 `json:"heap_idle_bytes"`
	HeapPeakBytes uint64 `json:"heap_peak_bytes"`

	Errors []string `json:"errors,omitempty"` // the first few distinct errors

	// Raw samples (µs) from clients that do not write HDR histograms (the Rust client); DecodeResult folds them
	// into TTFT, InterToken and RetryWait.
	TTFTUS       []int64 `json:"ttft_us,omitempty"`
	InterTokenUS []int64 `json:"inter_token_us,omitempty"`
	RetryWaitUS  []int64 `json:"retry_wait_us,omitempty"`
}

// streamResult is one stream's record.
type streamResult struct {
	outcome  string
	retries  int
	retryDur time.Duration
	start    time.Time
	deltas   []time.Time // arrival of each text delta
	err      error
}

type runner interface {
	stream(ctx context.Context, seed int) streamResult
}

// Run runs cfg and returns its result; ctx bounds the whole run.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	tr := &http.Transport{MaxIdleConns: cfg.Concurrent + 16, MaxIdleConnsPerHost: cfg.Concurrent + 16,
		IdleConnTimeout: 90 * time.Second, ResponseHeaderTimeout: cfg.Timeout, DisableCompression: true}
	if cfg.Live {
		tr.Proxy = http.ProxyFromEnvironment
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	var r runner
	client := "go-lean"
	if cfg.Mode == ModeSDK {
		r, client = newSDK(cfg, hc), "go-sdk"
	} else {
		r = newLean(cfg, hc)
	}
	res := &Result{Client: client, Mode: cfg.Mode, Concurrent: cfg.Concurrent, Rounds: cfg.Rounds,
		TokenDelay: float64(cfg.TokenDelay) / float64(time.Millisecond), Fault: string(cfg.Fault),
		Outcomes: map[string]int{}, RetryWait: stats.NewHist(), TTFT: stats.NewHist(), InterToken: stats.NewHist()}

	runtime.GC()
	res.HeapIdleBytes = heapInUse()
	stopHeap := sampleHeap(&res.HeapPeakBytes)

	errSeen := map[string]bool{}
	var waitPerToken []float64
	t0, ru0 := time.Now(), rusage()
	for round := range cfg.Rounds {
		if ctx.Err() != nil {
			break
		}
		rs := make([]streamResult, cfg.Concurrent)
		rr0 := rusage()
		var wg sync.WaitGroup
		for i := range rs {
			wg.Go(func() { rs[i] = r.stream(ctx, round*cfg.Concurrent+i) })
		}
		wg.Wait()
		rr1 := rusage()
		var tokens int64
		for _, s := range rs {
			res.Streams++
			res.Outcomes[s.outcome]++
			res.Retries += s.retries
			if s.retries > 0 {
				res.RetryWait.RecordUS(s.retryDur.Microseconds())
			}
			if s.err != nil && len(res.Errors) < 5 && !errSeen[s.err.Error()] {
				errSeen[s.err.Error()] = true
				res.Errors = append(res.Errors, s.err.Error())
			}
			tokens += int64(len(s.deltas))
			if len(s.deltas) == 0 {
				continue
			}
			res.TTFT.RecordUS(s.deltas[0].Sub(s.start).Microseconds())
			for j := 1; j < len(s.deltas); j++ {
				res.InterToken.RecordUS(s.deltas[j].Sub(s.deltas[j-1]).Microseconds())
			}
			dur := s.deltas[len(s.deltas)-1].Sub(s.start)
			res.StreamTokensPerS = append(res.StreamTokensPerS, float64(len(s.deltas))/dur.Seconds())
			waitPerToken = append(waitPerToken, float64(dur)/float64(time.Millisecond)/float64(len(s.deltas)))
		}
		res.Tokens += tokens
		if tokens > 0 {
			res.PerTokenCPUMS = append(res.PerTokenCPUMS, rr1.sub(rr0).total()*1000/float64(tokens))
		}
	}
	ru1 := rusage()
	res.WallS = time.Since(t0).Seconds()
	stopHeap()
	d := ru1.sub(ru0)
	res.CPUUserS, res.CPUSysS = d.user, d.sys
	if res.Tokens > 0 {
		res.TotalTokensPerS = float64(res.Tokens) / res.WallS
		cpuPerTok := d.total() * 1000 / float64(res.Tokens)
		var sum float64
		for _, w := range waitPerToken {
			sum += w
		}
		if len(waitPerToken) > 0 {
			res.NetworkWaitPerTokenMS = max(0, sum/float64(len(waitPerToken))-cpuPerTok)
		}
	}
	return res, ctx.Err()
}

type cpu struct{ user, sys float64 }

func (c cpu) sub(o cpu) cpu        { return cpu{c.user - o.user, c.sys - o.sys} }
func (c cpu) total() float64       { return c.user + c.sys }
func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func rusage() cpu {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpu{}
	}
	return cpu{tv(ru.Utime), tv(ru.Stime)}
}

// sampleHeap records the peak heap every 100 ms until the returned stop is called. It reads runtime/metrics, which
// does not stop the world (runtime.ReadMemStats does, and at 50 Hz it would be charged to every token).
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			*peak = max(*peak, heapInUse())
			select {
			case <-done:
				*peak = max(*peak, heapInUse())
				return
			case <-t.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// heapInUse is the bytes in heap spans in use (objects + unused slots), what MemStats.HeapInuse reports.
func heapInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	metrics.Read(s)
	var n uint64
	for _, x := range s {
		if x.Value.Kind() == metrics.KindUint64 {
			n += x.Value.Uint64()
		}
	}
	return n
}

// mockHeaders are the per-request knobs sent to the mock.
func (c Config) mockHeaders(seed int) map[string]string {
	if c.Live {
		return nil
	}
	h := map[string]string{
		mockllm.HeaderTokens: strconv.Itoa(c.Tokens), mockllm.HeaderTokenBytes: strconv.Itoa(c.TokenBytes),
		mockllm.HeaderTTFT: c.TTFT.String(), mockllm.HeaderTokenDelay: c.TokenDelay.String(),
		mockllm.HeaderSeed: strconv.Itoa(seed),
	}
	if c.Fault != mockllm.FaultNone {
		h[mockllm.HeaderFault] = string(c.Fault)
	}
	return h
}

// verify sets the outcome of a stream that reached message_stop: the text's digest against the mock's.
func verify(live bool, want string, text []byte) string {
	if live {
		return OutcomeOK
	}
	sum := sha256.Sum256(text)
	if hex.EncodeToString(sum[:]) == want {
		return OutcomeOK
	}
	return OutcomeMismatch
}

// classify names the outcome of a stream that did not reach message_stop.
func classify(ctx context.Context, err error, gotHeaders, apiError bool) string {
	switch {
	case apiError:
		return OutcomeStreamErr
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return OutcomeTimeout
	case !gotHeaders:
		return OutcomeConnectErr
	default:
		return OutcomeTruncated
	}
}

// Encode writes r as JSON.
func (r *Result) Encode(w io.Writer) error { return json.NewEncoder(w).Encode(r) }

// DecodeResult reads the program's stdout.
func DecodeResult(b []byte) (*Result, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode stream client result: %w", err)
	}
	for _, f := range []struct {
		h   **stats.Hist
		raw *[]int64
	}{{&r.TTFT, &r.TTFTUS}, {&r.InterToken, &r.InterTokenUS}, {&r.RetryWait, &r.RetryWaitUS}} {
		if *f.h == nil {
			*f.h = stats.NewHist()
		}
		for _, us := range *f.raw {
			(*f.h).RecordUS(us)
		}
		*f.raw = nil
	}
	if r.Outcomes == nil {
		r.Outcomes = map[string]int{}
	}
	return &r, nil
}
