package aistreaming

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/labtest"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

func streamParams() Params {
	return Params{scenario.Params{Iterations: 100, Sample: 100 * time.Millisecond},
		Flags{Concurrent: "1,10,100,1000", Tokens: 100, TokenDelay: 20 * time.Millisecond}}
}

func TestAIStreamingCheck(t *testing.T) {
	if err := streamParams().check(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	for name, mod := range map[string]func(*Params){
		"concurrent-empty": func(p *Params) { p.Concurrent = "" },
		"concurrent-zero":  func(p *Params) { p.Concurrent = "1,0" },
		"concurrent-big":   func(p *Params) { p.Concurrent = "10000" },
		"concurrent-word":  func(p *Params) { p.Concurrent = "ten" },
		"tokens":           func(p *Params) { p.Tokens = 1 },
		"delay-negative":   func(p *Params) { p.TokenDelay = -time.Millisecond },
		"delay-huge":       func(p *Params) { p.TokenDelay = 2 * time.Second },
	} {
		p := streamParams()
		mod(&p)
		if p.check() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	levels, err := parseLevels("100, 1,10,10")
	if err != nil || len(levels) != 3 || levels[0] != 1 || levels[2] != 100 {
		t.Errorf("parseLevels = %v, %v", levels, err)
	}
}

func TestAIStreamingQuick(t *testing.T) {
	p := streamParams()
	p.applyQuick(func(string) bool { return false })
	if p.Concurrent != "1,10" || p.Iterations != 6 || p.Tokens != 50 {
		t.Errorf("quick = %+v", p)
	}
	p = streamParams()
	p.applyQuick(func(f string) bool { return f == "concurrent" })
	if p.Concurrent != "1,10,100,1000" {
		t.Errorf("an explicit --concurrent was overridden: %q", p.Concurrent)
	}
}

func TestRoundsFor(t *testing.T) {
	for _, c := range []struct{ it, n, want int }{{100, 1, 100}, {100, 10, 10}, {100, 1000, 1}, {6, 10, 1}, {5, 2, 3}} {
		if got := roundsFor(c.it, c.n); got != c.want {
			t.Errorf("roundsFor(%d, %d) = %d, want %d", c.it, c.n, got, c.want)
		}
	}
}

// The decision reads the paced runs only, pooled over levels, and compares each Go client with Rust.
func TestAIStreamingDecisionInput(t *testing.T) {
	runs := []streamRun{
		{Client: clientSDK, Language: "go", TokenDelayMS: 20, PerTokenCPURounds: []float64{0.3, 0.31, 0.29}},
		{Client: clientSDK, Language: "go", TokenDelayMS: 20, PerTokenCPURounds: []float64{0.1, 0.11, 0.12}},
		{Client: clientSDK, Language: "go", TokenDelayMS: 0, PerTokenCPURounds: []float64{9, 9, 9}},
		{Client: clientRust, Language: "rust", TokenDelayMS: 20, PerTokenCPURounds: []float64{0.05, 0.06, 0.04, 0.05, 0.05, 0.06}},
		{Client: clientLean, Language: "go", TokenDelayMS: 20, Error: "failed"},
	}
	in := decisionInput(runs, 20)
	if len(in.Clients) != 2 || len(in.Clients[0].PerTokenMS) != 6 {
		t.Fatalf("input = %+v", in)
	}
	d := decide.Streaming(in)
	if d.Band != "network-bound" || len(d.GoOverRust) != 1 || d.GoOverRust[0].Client != clientSDK {
		t.Errorf("decision = %+v", d)
	}
	var buf bytes.Buffer
	res := &Result{Mode: "mock", Runs: runs, Decision: d}
	if err := res.WriteTable(&buf); err != nil || !strings.Contains(buf.String(), "Network-bound") {
		t.Errorf("report: %v\n%s", err, buf.String())
	}
}

// With ANTHROPIC_API_KEY set and the API unreachable, the scenario fails fast with an environment error (exit
// 2) that names the remedy and never the key.
func TestAIStreamingLiveUnreachable(t *testing.T) {
	t.Setenv("ANTHROPIC_API_KEY", "sk-test-secret-value")
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1") // nothing listens: unreachable whatever the network
	var log bytes.Buffer
	p := streamParams()
	env := &scenario.Env{RunID: "test", Params: p.Params, Log: &log, Now: time.Now}
	start := time.Now()
	_, err := New(&p.Flags).Run(context.Background(), env)
	if !errors.Is(err, scenario.ErrEnvironment) {
		t.Fatalf("err = %v, want ErrEnvironment", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	if msg := err.Error() + log.String(); strings.Contains(msg, "sk-test-secret-value") || !strings.Contains(msg, "--mock") {
		t.Errorf("message %q", msg)
	}
}

// TestAIStreamingDocker runs the scenario small in containers — 1 and 3 streams, 12 tokens at 2 ms and at 0,
// with the faults — and checks every stream verified, each fault counted, the decision made, nothing left.
func TestAIStreamingDocker(t *testing.T) {
	r := labtest.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // includes compiling the Rust client on a fresh clone
	defer cancel()
	b := r.Builder(t)
	p := streamParams()
	p.Mock, p.Concurrent, p.Iterations, p.Tokens, p.TokenDelay, p.Faults = true, "1,3", 3, 12, 2*time.Millisecond, "all"
	if _, err := b.Ensure(ctx, "streamrust"); errors.Is(err, images.ErrNoCargo) {
		p.SkipRust = true
	} else if err != nil {
		t.Fatal(err)
	}
	env := &scenario.Env{RunID: r.ID, Params: p.Params, Docker: r.Client, Images: b, Log: labtest.Log(t), Now: time.Now}
	out, err := New(&p.Flags).Run(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := out.File("ai-streaming.json")
	res, ok := v.(*Result)
	if !ok {
		t.Fatalf("no ai-streaming.json in %v", out.Files)
	}
	clients := 3
	if p.SkipRust {
		clients = 2
	}
	if len(res.Runs) != 2*2*clients {
		t.Fatalf("%d runs, want %d", len(res.Runs), 4*clients)
	}
	for _, run := range res.Runs {
		if run.Error != "" || run.Outcomes["ok"] != run.Streams || run.Tokens != int64(12*run.Streams) || run.PerTokenCPU.N == 0 {
			t.Errorf("%s at %d, %.0f ms: outcomes %v, tokens %d, error %q", run.Client, run.Concurrent, run.TokenDelayMS, run.Outcomes, run.Tokens, run.Error)
		}
	}
	want := map[string]string{"overloaded": "ok", "midstream": "stream_error", "cut": "truncated"}
	for _, f := range res.Faults {
		if f.Outcomes[want[f.Fault]] != f.Streams || (f.Fault == "overloaded") != (f.Retries == f.Streams) {
			t.Errorf("%s %s: %v, retries %d", f.Client, f.Fault, f.Outcomes, f.Retries)
		}
	}
	if len(res.Faults) != 3*clients || out.Decisions.AIStreaming == nil || res.Decision.Band == "" {
		t.Errorf("faults %d, decision %+v", len(res.Faults), res.Decision)
	}
	if !p.SkipRust && len(res.Decision.GoOverRust) != 2 {
		t.Errorf("Go/Rust comparisons: %+v", res.Decision.GoOverRust)
	}
	// The scenario removed its containers and network itself.
	r.NothingLeft(ctx, t)
}
