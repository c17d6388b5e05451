package aistreaming

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/containers"
	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/mockllm"
	"github.com/agentlab/agentlab/internal/streamclient"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// streamLab is one ai-streaming run's set-up: the lab network, the mock on it, the client images.
type streamLab struct {
	env     *Env
	nw      *testcontainers.DockerNetwork
	clients []streamClientInfo
	mem     scenario.MemSource
	mockID  string
}

// Run implements Scenario.
func (s aiStreamingScenario) Run(ctx context.Context, senv *scenario.Env) (*scenario.Outcome, error) {
	env := &Env{Env: senv, Params: Params{senv.Params, *s.flags}}
	p := env.Params
	if key := liveKey(p); key != "" {
		return runLive(ctx, env, key)
	}
	if !p.Mock {
		fmt.Fprintln(env.Log, "ai-streaming: ANTHROPIC_API_KEY is unset: streaming from the mock API (agentlab/mockllm)")
	}
	levels, err := parseLevels(p.Concurrent)
	if err != nil {
		return nil, err
	}
	mockImg, err := env.Images.Ensure(ctx, "mockllm")
	if err != nil {
		return nil, err
	}
	clientImg, err := env.Images.Ensure(ctx, "streamclient")
	if err != nil {
		return nil, err
	}
	lab, res := newStreamLab(ctx, env, levels, clientImg)
	lab.nw, err = network.New(ctx, network.WithLabels(dockerx.Labels(env.RunID, "network")))
	if err != nil {
		return nil, fmt.Errorf("lab network: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := lab.nw.Remove(rctx); err != nil {
			fmt.Fprintf(env.Log, "ai-streaming: remove network: %v\n", err)
		}
	}()
	mock, err := containers.RunMockLLM(ctx, mockImg,
		testcontainers.WithLabels(dockerx.Labels(env.RunID, "mockllm")),
		containers.WithNetworkAlias(lab.nw, mockAlias),
		containers.WithMockDefaults(p.Tokens, res.TokenBytes, 0, p.TokenDelay))
	defer func() {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		_ = mock.Terminate(tctx)
	}()
	if err != nil {
		return nil, err
	}
	lab.mockID = mock.GetContainerID()

	runErr := lab.sweep(ctx, res, levels)
	if u, err := mock.URL(ctx); err == nil {
		res.Mock = mockStats(ctx, u)
	}
	res.Decision = decide.Streaming(decisionInput(res.Runs, res.TokenDelayMS))
	if runErr == nil {
		for _, r := range res.Runs {
			if r.Error != "" {
				runErr = fmt.Errorf("%s at %d streams: %s", r.Client, r.Concurrent, r.Error)
				break
			}
		}
	}
	return &scenario.Outcome{Files: []scenario.File{{Name: "ai-streaming.json", Value: res}}, Report: res.WriteTable,
		Decisions: decide.Decisions{AIStreaming: &res.Decision}}, runErr
}

// newStreamLab lists the clients to measure (the Rust one when it builds) and starts the result.
func newStreamLab(ctx context.Context, env *Env, levels []int, clientImg string) (*streamLab, *Result) {
	p := env.Params
	lab := &streamLab{env: env, mem: scenario.NewMemSource(env.Docker), clients: []streamClientInfo{
		{Client: clientSDK, Language: "go", Image: clientImg, Built: true, Note: "anthropic-sdk-go v2.17.0: Messages.NewStreaming + Accumulate"},
		{Client: clientLean, Language: "go", Image: clientImg, Built: true, Note: "bufio SSE + key scanner (internal/sse)"},
	}}
	res := &Result{Schema: aiStreamingSchema, Mode: "mock", Tokens: p.Tokens, TokenBytes: 4,
		TokenDelayMS: float64(p.TokenDelay) / float64(time.Millisecond), Levels: levels, Iterations: p.Iterations}
	rust := streamClientInfo{Client: clientRust, Language: "rust"}
	switch ref, err := rustImage(ctx, env); {
	case err != nil:
		rust.Note = "rust client not built (" + err.Error() + "): the Go/Rust ratio is not measured"
		res.Notes = append(res.Notes, rust.Note)
		fmt.Fprintln(env.Log, "ai-streaming: "+rust.Note)
	default:
		rust.Image, rust.Built = ref, true
		rust.Note = "std::net HTTP/1.1 (keep-alive, chunked) + serde_json per event, one thread per stream"
		lab.clients = append(lab.clients, rust)
	}
	res.Clients = append([]streamClientInfo(nil), lab.clients...)
	if !rust.Built {
		res.Clients = append(res.Clients, rust)
	}

	return lab, res
}

// sweep runs every client at every level and pacing (the client order rotated per level), then, with --faults,
// each fault per client; it returns ctx's error when interrupted.
func (lab *streamLab) sweep(ctx context.Context, res *Result, levels []int) error {
	p := lab.env.Params
	pacings := []time.Duration{p.TokenDelay}
	if p.TokenDelay > 0 {
		pacings = append(pacings, 0)
	}
	faults := p.Faults != ""
	total := len(levels) * len(pacings) * len(lab.clients)
	if faults {
		total += len(lab.clients) * len(mockllm.Faults)
	}
	bar := lab.env.Progress("streams", total)
	var runErr error
sweep:
	for li, n := range levels {
		for _, d := range pacings {
			// Rotate the client order per level so neither always runs first on a warm mock.
			for ci := range lab.clients {
				c := lab.clients[(ci+li)%len(lab.clients)]
				r := lab.run(ctx, c, n, d, roundsFor(p.Iterations, n), mockllm.FaultNone)
				res.Runs = append(res.Runs, runFromResultOrErr(r, c))
				bar.Add(1)
				if ctx.Err() != nil {
					runErr = ctx.Err()
					break sweep
				}
			}
		}
	}
	if faults && runErr == nil {
		for _, c := range lab.clients {
			for _, f := range mockllm.Faults {
				r := lab.run(ctx, c, min(faultLevel, levels[len(levels)-1]), 0, 1, f)
				res.Faults = append(res.Faults, faultFromResult(r, c, f))
				bar.Add(1)
			}
		}
	}
	bar.Done()
	return runErr
}

// rustImage builds the Rust client's image, or says why not (--skip-rust, no cargo, a failed build).
func rustImage(ctx context.Context, env *Env) (string, error) {
	if env.Params.SkipRust {
		return "", errors.New("--skip-rust")
	}
	ref, err := env.Images.Ensure(ctx, "streamrust")
	if errors.Is(err, images.ErrNoCargo) {
		return "", errors.New("cargo not found on PATH")
	}
	return ref, err
}

// clientRun is one client container's result, with the lab's memory samples of it.
type clientRun struct {
	res        *streamclient.Result
	memPeak    float64
	memLow     float64
	memSamples int
	memSource  string
	mockCores  float64 // the mock container's CPU over the run (cgroup CPU usage delta ÷ wall), cores
	err        error
}

func runFromResultOrErr(r clientRun, c streamClientInfo) streamRun {
	if r.res == nil {
		return streamRun{Client: c.Client, Language: c.Language, Error: errString(r.err)}
	}
	sr := runFromResult(r.res, c.Language)
	sr.ContainerMemPeak, sr.MemSamples, sr.MemSource, sr.MockCPUCores = r.memPeak, r.memSamples, r.memSource, r.mockCores
	if r.memSamples > 0 && sr.Concurrent > 0 {
		sr.ContainerPerStream = (r.memPeak - r.memLow) / float64(sr.Concurrent)
	}
	if r.err != nil {
		sr.Error = r.err.Error()
	}
	return sr
}

func faultFromResult(r clientRun, c streamClientInfo, f mockllm.Fault) faultRun {
	fr := faultRun{Client: c.Client, Fault: string(f), Error: errString(r.err)}
	if r.res != nil {
		fr.Streams, fr.Outcomes, fr.Retries, fr.WallS, fr.Errors = r.res.Streams, r.res.Outcomes, r.res.Retries, r.res.WallS, r.res.Errors
		fr.RetryWait = r.res.RetryWait.Summary()
	}
	return fr
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// run starts one client container against the mock by name, samples its memory until it exits, and reads its
// result.
func (l *streamLab) run(ctx context.Context, c streamClientInfo, n int, delay time.Duration, rounds int, fault mockllm.Fault) clientRun {
	p := l.env.Params
	mode := streamclient.ModeSDK
	if c.Client == clientLean {
		mode = streamclient.ModeLean
	}
	cfg := streamclient.Config{URL: "http://" + mockAlias + ":8080", Mode: mode, Concurrent: n, Rounds: rounds,
		Tokens: p.Tokens, TokenBytes: 4, TokenDelay: delay, Fault: fault, Timeout: streamTimeout, Model: "mock-model",
		PlantBurn: time.Duration(p.Plant.BurnUS) * time.Microsecond}
	m0, _, m0err := l.mem.Read(ctx, l.mockID)
	planned := time.Duration(rounds) * time.Duration(p.Tokens) * delay
	wctx, cancel := context.WithTimeout(ctx, planned+2*time.Minute)
	defer cancel()
	sc, err := containers.RunStreamClient(wctx, c.Image,
		testcontainers.WithCmd(cfg.Args()...),
		testcontainers.WithLabels(dockerx.Labels(l.env.RunID, "streamclient")),
		network.WithNetwork(nil, l.nw))
	defer func() {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		_ = sc.Terminate(tctx)
	}()
	if err != nil {
		return clientRun{err: err}
	}
	id := sc.GetContainerID()
	sctx, stop := context.WithCancel(wctx)
	type memOut struct {
		peak, low float64
		n         int
		src       string
	}
	done := make(chan memOut, 1)
	go func() {
		var o memOut
		t := time.NewTicker(p.Sample)
		defer t.Stop()
		for {
			if s, src, err := l.mem.Read(sctx, id); err == nil && s.MemoryBytes > 0 {
				v := float64(s.MemoryBytes)
				if o.n == 0 || v < o.low {
					o.low = v
				}
				o.peak, o.src = max(o.peak, v), src
				o.n++
			}
			select {
			case <-sctx.Done():
				done <- o
				return
			case <-t.C:
			}
		}
	}()
	res, err := readStreamClient(wctx, l.env.Docker, id)
	stop()
	m := <-done
	cr := clientRun{res: res, err: err, memPeak: m.peak, memLow: m.low, memSamples: m.n, memSource: m.src}
	if m1, _, err := l.mem.Read(ctx, l.mockID); err == nil && m0err == nil && m1.Time.After(m0.Time) {
		cr.mockCores = float64(m1.CPUUsageNs-m0.CPUUsageNs) / float64(m1.Time.Sub(m0.Time).Nanoseconds())
	}
	return cr
}

// readStreamClient waits for a client container to exit and decodes its result (stdout); a failed run's stderr
// tail becomes the error.
func readStreamClient(ctx context.Context, cli *client.Client, id string) (*streamclient.Result, error) {
	out, errb, code, err := dockerx.WaitOutput(ctx, cli, id)
	if err != nil {
		return nil, fmt.Errorf("stream client: %w", err)
	}
	res, decErr := streamclient.DecodeResult(out)
	if code != 0 {
		return res, fmt.Errorf("stream client exit %d: %s", code, scenario.LastLine(string(errb)))
	}
	return res, decErr
}

// mockStats reads the mock's counters; nil when it does not answer.
func mockStats(ctx context.Context, base string) *mockllm.Counters {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/stats", nil)
	if err != nil {
		return nil
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	var c mockllm.Counters
	if json.NewDecoder(res.Body).Decode(&c) != nil {
		return nil
	}
	return &c
}
