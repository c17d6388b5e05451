package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentlab/agentlab/internal/stats"
)

// A coordinated run spreads one run's agents over generators on several machines (a Docker Swarm's nodes). The
// coordinator — `loadgen coordinate`, one small process all generators reach — hands each generator its shard
// when it joins (agents i·A/N … (i+1)·A/N and the same share of the rate: shards are handed out by the
// coordinator in join order, never derived from a task slot, which Engine 20.10 gets wrong for jobs), estimates
// each generator's clock offset from round trips, waits until every generator has registered its agents (the
// barrier), then releases them all at one absolute start time. Generators send heartbeats; one that misses
// CoordMissLimit of them, or fails, aborts the whole run with one clear line. Each generator's whole Result comes
// back to the coordinator, which prints them (times moved onto its own clock) for the lab to merge with Combine:
// counts summed, histograms merged, never percentiles averaged.

// CoordMissLimit is how many heartbeat intervals a generator may stay silent before the run is aborted (Locust's 3).
const CoordMissLimit = 3

// ErrAborted is a coordinated run ended by the coordinator (a generator lost or failed).
var ErrAborted = errors.New("coordinated run aborted")

// CoordConfig is the coordinator's own configuration; Run is the whole run's generator configuration (its Agents
// and Rate are the totals, split into shards).
type CoordConfig struct {
	Generators int
	Listen     string
	Heartbeat  time.Duration // generators' heartbeat interval
	// StartDelay is how long after the last generator is ready the start is set (room for the release to reach
	// every generator).
	StartDelay time.Duration
	// JoinTimeout bounds the wait for every generator to join and be ready.
	JoinTimeout time.Duration
	// WaitURL, when set, must answer 200 before generators may join (the bus's /health): they retry meanwhile.
	WaitURL string
	// SkewLimit: a run whose clock-offset uncertainty (half the best round trip) or raw offset exceeds it is
	// flagged: generators' windows may not line up that closely.
	SkewLimit time.Duration
	Run       Config
}

func (c CoordConfig) withDefaults() CoordConfig {
	if c.Listen == "" {
		c.Listen = ":7000"
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = time.Second
	}
	if c.StartDelay <= 0 {
		c.StartDelay = 300 * time.Millisecond
	}
	if c.JoinTimeout <= 0 {
		c.JoinTimeout = 2 * time.Minute
	}
	if c.SkewLimit <= 0 {
		c.SkewLimit = time.Millisecond
	}
	return c
}

// Shard is generator i's part of a run of total agents and rate over n generators.
func Shard(run Config, i, n int) Config {
	total := run.Agents
	lo, hi := i*total/n, (i+1)*total/n
	c := run
	c.Generator, c.Generators, c.Agents, c.TotalAgents = i, n, hi-lo, total
	if total > 0 {
		c.Rate = run.Rate * float64(hi-lo) / float64(total)
	}
	if run.InFlight > 0 {
		c.InFlight = max(1, run.InFlight*(hi-lo)/total)
	}
	return c
}

// --- wire ----------------------------------------------------------------------------------------------------------

type joinReq struct {
	Node string `json:"node"`
	Host string `json:"host"`
}

type joinResp struct {
	Generator int    `json:"generator"`
	Config    Config `json:"config"`
}

type timeResp struct {
	CoordNS int64 `json:"coord_ns"`
}

type readyReq struct {
	Generator  int   `json:"generator"`
	Registered int   `json:"registered"`
	OffsetNS   int64 `json:"offset_ns"` // coordinator clock − generator clock
	RTTNS      int64 `json:"rtt_ns"`    // the round trip of the best probe
}

type startResp struct {
	StartNS int64  `json:"start_ns"` // coordinator clock
	Abort   string `json:"abort,omitempty"`
}

type beatReq struct {
	Generator int `json:"generator"`
}

type beatResp struct {
	Abort string `json:"abort,omitempty"`
}

type resultReq struct {
	Generator int     `json:"generator"`
	Error     string  `json:"error,omitempty"`
	Result    *Result `json:"result"`
}

// GeneratorRun is one generator's part of a coordinated run as the coordinator prints it: its node, clock
// estimate and whole Result (Times moved onto the coordinator's clock by OffsetNS).
type GeneratorRun struct {
	Generator  int     `json:"generator"`
	Node       string  `json:"node"` // the swarm node it ran on (the task's {{.Node.Hostname}})
	Host       string  `json:"host"` // its container's hostname
	OffsetNS   int64   `json:"offset_ns"`
	RTTNS      int64   `json:"rtt_ns"`
	Registered int     `json:"registered"`
	Error      string  `json:"error,omitempty"`
	Result     *Result `json:"result"`
}

// CoordSummary is the coordinator's last line.
type CoordSummary struct {
	Generators  int    `json:"generators"`
	Joined      int    `json:"joined"`
	Results     int    `json:"results"`
	Abort       string `json:"abort,omitempty"`
	StartNS     int64  `json:"start_ns"`
	MaxOffsetNS int64  `json:"max_abs_offset_ns"`
	MaxRTTNS    int64  `json:"max_rtt_ns"`
	// SkewFlag says the clocks may not line up within SkewLimit: windows and times compare less closely.
	SkewFlag bool   `json:"skew_flag"`
	SkewNote string `json:"skew_note,omitempty"`
}

// Coordinated is a coordinated run read back from the coordinator's output.
type Coordinated struct {
	Runs    []GeneratorRun `json:"runs"`
	Summary CoordSummary   `json:"summary"`
}

// Merged is the run's merged Result (Combine over the generators' results), nil without results.
func (c *Coordinated) Merged() *Result {
	var rs []*Result
	for _, r := range c.Runs {
		if r.Result != nil {
			rs = append(rs, r.Result)
		}
	}
	return Combine(rs)
}

// DecodeCoordinated reads the coordinator's stdout: GeneratorRun lines and the CoordSummary line.
func DecodeCoordinated(out []byte) (*Coordinated, error) {
	var c Coordinated
	seen := false
	for _, l := range bytes.Split(out, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) == 0 || l[0] != '{' {
			continue
		}
		var probe struct {
			Summary *CoordSummary `json:"coordinator"`
			Run     *GeneratorRun `json:"generator_run"`
		}
		if err := json.Unmarshal(l, &probe); err != nil {
			return nil, fmt.Errorf("coordinator output: %w", err)
		}
		if probe.Run != nil {
			if probe.Run.Result != nil {
				fillHists(probe.Run.Result)
			}
			c.Runs = append(c.Runs, *probe.Run)
		}
		if probe.Summary != nil {
			c.Summary, seen = *probe.Summary, true
		}
	}
	if !seen {
		return &c, fmt.Errorf("coordinator output: no summary line in %d bytes: %q", len(out), clip(out, 300))
	}
	slices.SortFunc(c.Runs, func(a, b GeneratorRun) int { return a.Generator - b.Generator })
	return &c, nil
}

func fillHists(r *Result) {
	for _, h := range []**stats.Hist{&r.Connecting, &r.Register, &r.Latency, &r.SendLag} {
		if *h == nil {
			*h = stats.NewHist()
		}
	}
}

// --- coordinator ---------------------------------------------------------------------------------------------------

// Coordinator is the coordinator's state; Handler serves the generators, Wait returns when the run is over.
type Coordinator struct {
	cfg CoordConfig
	log io.Writer
	now func() time.Time

	mu      sync.Mutex
	runs    []*GeneratorRun
	beats   []time.Time
	ready   int
	results int
	startNS int64
	abort   string
	started chan struct{} // closed when the start is set or the run aborted
	done    chan struct{} // closed when every result is in or the run aborted
	ended   bool
	upOK    atomic.Bool
}

// NewCoordinator returns a coordinator for cfg; progress and the abort line go to log.
func NewCoordinator(cfg CoordConfig, log io.Writer) *Coordinator {
	return &Coordinator{cfg: cfg.withDefaults(), log: log, now: time.Now,
		started: make(chan struct{}), done: make(chan struct{})}
}

// Handler is the coordinator's HTTP API.
func (c *Coordinator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /join", c.join)
	mux.HandleFunc("GET /time", func(w http.ResponseWriter, _ *http.Request) {
		writeJSONResp(w, timeResp{CoordNS: c.now().UnixNano()})
	})
	mux.HandleFunc("POST /ready", c.readyH)
	mux.HandleFunc("POST /heartbeat", c.beat)
	mux.HandleFunc("POST /result", c.result)
	return mux
}

func writeJSONResp(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (c *Coordinator) join(w http.ResponseWriter, r *http.Request) {
	var req joinReq
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !c.upstreamReady(r.Context()) {
		http.Error(w, "waiting for "+c.cfg.WaitURL, http.StatusServiceUnavailable)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.runs) >= c.cfg.Generators || c.abort != "" {
		http.Error(w, "run full or aborted", http.StatusConflict)
		return
	}
	i := len(c.runs)
	c.runs = append(c.runs, &GeneratorRun{Generator: i, Node: req.Node, Host: req.Host})
	c.beats = append(c.beats, c.now())
	fmt.Fprintf(c.log, "coordinator: generator %d joined from node %s (%s)\n", i, req.Node, req.Host)
	cfg := Shard(c.cfg.Run, i, c.cfg.Generators)
	cfg.HeartbeatInterval = c.cfg.Heartbeat
	writeJSONResp(w, joinResp{Generator: i, Config: cfg})
}

// upstreamReady says whether WaitURL answers 200 (once it has, it is not asked again).
func (c *Coordinator) upstreamReady(ctx context.Context) bool {
	if c.cfg.WaitURL == "" || c.upOK.Load() {
		return true
	}
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(cctx, http.MethodGet, c.cfg.WaitURL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	c.upOK.Store(true)
	return true
}

func (c *Coordinator) readyH(w http.ResponseWriter, r *http.Request) {
	var req readyReq
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	if req.Generator < 0 || req.Generator >= len(c.runs) {
		c.mu.Unlock()
		http.Error(w, "unknown generator", http.StatusBadRequest)
		return
	}
	g := c.runs[req.Generator]
	g.OffsetNS, g.RTTNS, g.Registered = req.OffsetNS, req.RTTNS, req.Registered
	c.beats[req.Generator] = c.now()
	c.ready++
	if c.ready == c.cfg.Generators && c.abort == "" {
		var maxRTT int64
		for _, x := range c.runs {
			maxRTT = max(maxRTT, x.RTTNS)
		}
		c.startNS = c.now().Add(c.cfg.StartDelay + time.Duration(maxRTT)).UnixNano()
		fmt.Fprintf(c.log, "coordinator: all %d generators ready; start at %s\n", c.ready,
			time.Unix(0, c.startNS).UTC().Format(time.RFC3339Nano))
		close(c.started)
	}
	c.mu.Unlock()
	select {
	case <-c.started:
	case <-r.Context().Done():
		return
	}
	c.mu.Lock()
	resp := startResp{StartNS: c.startNS, Abort: c.abort}
	c.mu.Unlock()
	writeJSONResp(w, resp)
}

func (c *Coordinator) beat(w http.ResponseWriter, r *http.Request) {
	var req beatReq
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	if req.Generator >= 0 && req.Generator < len(c.beats) {
		c.beats[req.Generator] = c.now()
	}
	resp := beatResp{Abort: c.abort}
	c.mu.Unlock()
	writeJSONResp(w, resp)
}

func (c *Coordinator) result(w http.ResponseWriter, r *http.Request) {
	var req resultReq
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.Generator < 0 || req.Generator >= len(c.runs) || c.runs[req.Generator].Result != nil {
		http.Error(w, "unknown or repeated generator", http.StatusBadRequest)
		return
	}
	g := c.runs[req.Generator]
	if req.Result != nil {
		shiftTimes(&req.Result.Times, g.OffsetNS)
	}
	g.Result, g.Error = req.Result, req.Error
	c.results++
	if req.Error != "" && c.abort == "" {
		c.abortLocked(fmt.Sprintf("generator %d on node %s failed: %s", g.Generator, g.Node, req.Error))
	}
	if c.results == c.cfg.Generators {
		c.end()
	}
	writeJSONResp(w, struct{}{})
}

// shiftTimes moves a generator's times onto the coordinator's clock.
func shiftTimes(t *Times, off int64) {
	for _, p := range []*int64{&t.ConnectStart, &t.Connected, &t.TrafficStart, &t.MeasureStart, &t.MeasureEnd, &t.End} {
		if *p != 0 {
			*p += off
		}
	}
}

func (c *Coordinator) abortLocked(why string) {
	if c.abort != "" {
		return
	}
	c.abort = why
	fmt.Fprintf(c.log, "coordinator: run aborted: %s\n", why)
	select {
	case <-c.started:
	default:
		close(c.started)
	}
	c.end()
}

func (c *Coordinator) end() {
	if !c.ended {
		c.ended = true
		close(c.done)
	}
}

// watch aborts the run when a joined generator misses CoordMissLimit heartbeats, or when not every generator has
// joined and is ready within JoinTimeout.
func (c *Coordinator) watch(ctx context.Context) {
	t0 := c.now()
	tick := time.NewTicker(c.cfg.Heartbeat / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			c.mu.Lock()
			c.abortLocked("coordinator stopped: " + ctx.Err().Error())
			c.mu.Unlock()
			return
		case <-c.done:
			return
		case <-tick.C:
		}
		now := c.now()
		c.mu.Lock()
		for i, g := range c.runs {
			if g.Result != nil {
				continue
			}
			if silent := now.Sub(c.beats[i]); silent > time.Duration(CoordMissLimit)*c.cfg.Heartbeat {
				c.abortLocked(fmt.Sprintf("generator %d on node %s missed %d heartbeats (silent %v): lost",
					i, g.Node, CoordMissLimit, silent.Round(time.Millisecond)))
			}
		}
		if c.startNS == 0 && now.Sub(t0) > c.cfg.JoinTimeout {
			c.abortLocked(fmt.Sprintf("%d of %d generators joined, %d ready after %v", len(c.runs), c.cfg.Generators,
				c.ready, c.cfg.JoinTimeout))
		}
		c.mu.Unlock()
	}
}

// Wait watches the run until every result is in or it aborted, then returns what to print.
func (c *Coordinator) Wait(ctx context.Context) *Coordinated {
	c.watch(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	out := &Coordinated{Summary: CoordSummary{Generators: c.cfg.Generators, Joined: len(c.runs), Results: c.results,
		Abort: c.abort, StartNS: c.startNS}}
	var maxUnc int64
	for _, g := range c.runs {
		out.Runs = append(out.Runs, *g)
		out.Summary.MaxOffsetNS = max(out.Summary.MaxOffsetNS, abs64(g.OffsetNS))
		out.Summary.MaxRTTNS = max(out.Summary.MaxRTTNS, g.RTTNS)
		maxUnc = max(maxUnc, g.RTTNS/2)
	}
	lim := c.cfg.SkewLimit.Nanoseconds()
	if out.Summary.MaxOffsetNS > lim || maxUnc > lim {
		out.Summary.SkewFlag = true
		out.Summary.SkewNote = fmt.Sprintf("clock offsets up to %v (uncertainty ±%v) exceed %v: the generators' windows "+
			"line up only that closely (latency itself is one generator's clock)", time.Duration(out.Summary.MaxOffsetNS),
			time.Duration(maxUnc), c.cfg.SkewLimit)
	}
	return out
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// Print writes the run as the lab reads it (DecodeCoordinated): a line per generator, then the summary.
func (c *Coordinated) Print(w io.Writer) error {
	for _, r := range c.Runs {
		b, err := json.Marshal(struct {
			Run GeneratorRun `json:"generator_run"`
		}{r})
		if err != nil {
			return err
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return err
		}
	}
	b, err := json.Marshal(struct {
		S CoordSummary `json:"coordinator"`
	}{c.Summary})
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// CoordinatorMain is `loadgen coordinate [coordinator flags] -- [the run's generator flags, totals]`: it serves
// the generators until the run ends, prints it, and exits 0, or 1 when the run aborted (the abort line on stderr).
func CoordinatorMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cc CoordConfig
	fs := flag.NewFlagSet("loadgen coordinate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cc.Generators, "generators", 2, "generators in the run")
	fs.StringVar(&cc.Listen, "listen", ":7000", "address the generators reach")
	fs.DurationVar(&cc.Heartbeat, "heartbeat", time.Second, "generators' heartbeat interval")
	fs.DurationVar(&cc.StartDelay, "start-delay", 300*time.Millisecond, "start this long after the last generator is ready")
	fs.DurationVar(&cc.JoinTimeout, "join-timeout", 2*time.Minute, "longest wait for every generator to join and be ready")
	fs.StringVar(&cc.WaitURL, "wait-url", "", "generators may join once this URL answers 200 (the bus's /health)")
	fs.DurationVar(&cc.SkewLimit, "skew-limit", time.Millisecond, "flag the run when clock offsets or their uncertainty exceed this")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	run, err := Parse(fs.Args(), stderr)
	if err == nil && (cc.Generators < 1 || cc.Generators > MaxGenerators || run.Agents < 2*cc.Generators) {
		err = fmt.Errorf("--generators %d with --agents %d: want 1 … %d generators and at least 2 agents each", cc.Generators, run.Agents, MaxGenerators)
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadgen coordinate:", err)
		return 2
	}
	cc.Run = run
	co := NewCoordinator(cc, stderr)
	ln, err := net.Listen("tcp", cc.withDefaults().Listen)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen coordinate:", err)
		return 2
	}
	srv := &http.Server{Handler: co.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	out := co.Wait(ctx)
	if out.Summary.Abort != "" {
		// Let every live generator see the abort on its next heartbeat before the coordinator goes.
		time.Sleep(2 * cc.withDefaults().Heartbeat)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = srv.Shutdown(sctx)
	cancel()
	if err := out.Print(stdout); err != nil {
		fmt.Fprintln(stderr, "loadgen coordinate: write:", err)
		return 1
	}
	if out.Summary.Abort != "" {
		fmt.Fprintln(stderr, "loadgen coordinate: run aborted:", out.Summary.Abort)
		return 1
	}
	return 0
}

// --- generator side ------------------------------------------------------------------------------------------------

// RunCoordinated is a generator of a coordinated run: it joins the coordinator at base (http://host:port), takes
// its shard, estimates its clock offset, connects its agents, waits at the barrier, runs from the common start,
// sends heartbeats throughout, and reports its whole Result. An abort from the coordinator ends it with
// ErrAborted. node names the machine it runs on.
func RunCoordinated(ctx context.Context, base, node string, log io.Writer) (*Result, error) {
	base = strings.TrimSuffix(base, "/")
	cl := &http.Client{}
	host, _ := os.Hostname()
	var jr joinResp
	if err := joinRetry(ctx, cl, base, joinReq{Node: node, Host: host}, &jr); err != nil {
		return nil, fmt.Errorf("join coordinator %s: %w", base, err)
	}
	cfg := jr.Config
	off, rtt, err := clockOffset(ctx, cl, base, 7)
	if err != nil {
		return nil, fmt.Errorf("clock offset against %s: %w", base, err)
	}
	fmt.Fprintf(log, "loadgen %d: joined %s from %s: %d agents, rate %.0f/s; clock offset %v (rtt %v)\n",
		jr.Generator, base, node, cfg.Agents, cfg.Rate, off, rtt)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	beatDone := make(chan struct{})
	go func() {
		defer close(beatDone)
		heartbeat(ctx, cl, base, jr.Generator, cfg.heartbeat(), cancel)
	}()
	gate := func(ctx context.Context, registered int) (time.Time, error) {
		var sr startResp
		if err := postJSON(ctx, cl, base+"/ready", readyReq{Generator: jr.Generator, Registered: registered,
			OffsetNS: off.Nanoseconds(), RTTNS: rtt.Nanoseconds()}, &sr); err != nil {
			return time.Time{}, fmt.Errorf("barrier: %w", err)
		}
		if sr.Abort != "" {
			return time.Time{}, fmt.Errorf("%w: %s", ErrAborted, sr.Abort)
		}
		return time.Unix(0, sr.StartNS-off.Nanoseconds()), nil // the coordinator's start on this clock
	}
	res, runErr := run(ctx, cfg, log, gate)
	if cause := context.Cause(ctx); runErr != nil && errors.Is(cause, ErrAborted) {
		runErr = cause
	}
	cancel(nil)
	<-beatDone
	req := resultReq{Generator: jr.Generator, Result: res}
	if runErr != nil {
		req.Error = runErr.Error()
	}
	if res != nil || runErr != nil {
		// The report is not the run's context: a generator cancelled by an abort still says so.
		rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := postJSON(rctx, cl, base+"/result", req, nil); err != nil && runErr == nil {
			runErr = fmt.Errorf("report result: %w", err)
		}
		rcancel()
	}
	return res, runErr
}

// joinRetry joins, retrying while the coordinator is not up yet or not accepting (its bus not healthy yet: 503)
// for up to JoinRetryFor: in a swarm the services start in any order.
func joinRetry(ctx context.Context, cl *http.Client, base string, req joinReq, jr *joinResp) error {
	deadline := time.Now().Add(JoinRetryFor)
	for {
		err := postJSON(ctx, cl, base+"/join", req, jr)
		var st statusError
		if err == nil || (errors.As(err, &st) && st.code != http.StatusServiceUnavailable) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// JoinRetryFor is how long a generator keeps trying to join its coordinator.
const JoinRetryFor = 2 * time.Minute

type statusError struct {
	code int
	msg  string
}

func (e statusError) Error() string { return e.msg }

// heartbeat is the interval the coordinator asked for in the shard (default a second).
func (c Config) heartbeat() time.Duration {
	if c.HeartbeatInterval > 0 {
		return c.HeartbeatInterval
	}
	return time.Second
}

func heartbeat(ctx context.Context, cl *http.Client, base string, gen int, every time.Duration, cancel context.CancelCauseFunc) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var br beatResp
		bctx, bcancel := context.WithTimeout(ctx, every)
		err := postJSON(bctx, cl, base+"/heartbeat", beatReq{Generator: gen}, &br)
		bcancel()
		if err == nil && br.Abort != "" {
			cancel(fmt.Errorf("%w: %s", ErrAborted, br.Abort))
			return
		}
	}
}

// clockOffset estimates coordinator clock − local clock from n round trips: the probe with the shortest round
// trip, its midpoint taken as the moment the coordinator read its clock (NTP's estimate; error ≤ rtt/2).
func clockOffset(ctx context.Context, cl *http.Client, base string, n int) (time.Duration, time.Duration, error) {
	best := time.Duration(-1)
	var off time.Duration
	for range n {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/time", nil)
		t0 := time.Now()
		resp, err := cl.Do(req)
		if err != nil {
			return 0, 0, err
		}
		var tr timeResp
		err = json.NewDecoder(resp.Body).Decode(&tr)
		resp.Body.Close()
		t1 := time.Now()
		if err != nil {
			return 0, 0, err
		}
		if rtt := t1.Sub(t0); best < 0 || rtt < best {
			best = rtt
			mid := t0.UnixNano() + rtt.Nanoseconds()/2
			off = time.Duration(tr.CoordNS - mid)
		}
	}
	return off, best, nil
}

func postJSON(ctx context.Context, cl *http.Client, u string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return statusError{resp.StatusCode, fmt.Sprintf("%s: %s: %s", u, resp.Status, strings.TrimSpace(string(msg)))}
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
