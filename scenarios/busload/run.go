package busload

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/agentlab/agentlab/internal/connmem"
	"github.com/agentlab/agentlab/internal/containers"
	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/loadgen"
	"github.com/agentlab/agentlab/internal/memstat"
	"github.com/agentlab/agentlab/internal/prom"
	"github.com/agentlab/agentlab/internal/stats"
	"github.com/agentlab/agentlab/scenarios/buses"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// busAlias is the bus's name on the lab network; generators reach ws://bus:8080/ws container to container.
const (
	busAlias   = "bus"
	busPort    = "8080/tcp"
	runSlack   = 60 * time.Second // beyond a run's planned length, before its generators are given up on
	busMaxConn = 20000
)

// RunResult is one run's raw figures: one bus, one agent count, one pattern and model, one repeat.
type RunResult struct {
	Bus       string    `json:"bus"`
	Repeat    int       `json:"repeat"`   // 1-based
	Sequence  int       `json:"sequence"` // position in the scenario's run order (both buses)
	Agents    int       `json:"agents"`
	Pattern   string    `json:"pattern"`
	Model     string    `json:"model"`
	StartedAt time.Time `json:"started_at"`
	WallS     float64   `json:"wall_s"` // the run end to end, set-up and teardown included

	// OfferedPerS is the open model's offered deliveries/s; SendRatePerS the messages/s that takes (broadcast:
	// OfferedPerS/(agents−1)). Window is the closed model's most messages in flight per agent, InFlight its
	// messages in flight over all agents (Little's law: latency ≈ InFlight ÷ throughput).
	OfferedPerS  float64 `json:"offered_deliveries_per_s,omitempty"`
	SendRatePerS float64 `json:"send_rate_per_s,omitempty"`
	Window       int     `json:"window,omitempty"`
	Batch        int     `json:"batch,omitempty"`
	InFlight     int     `json:"inflight,omitempty"`

	Sessions   loadgen.Sessions `json:"ws_sessions"`
	Connecting stats.Summary    `json:"ws_connecting"` // TCP connect + WebSocket upgrade, ms
	Register   stats.Summary    `json:"register"`      // register → registered, ms

	Sent          int64   `json:"ws_msgs_sent"`     // in the measured window
	Received      int64   `json:"ws_msgs_received"` // deliveries of those messages
	Expected      int64   `json:"expected_deliveries"`
	DeliveryRatio float64 `json:"delivery_ratio"`
	SentPerS      float64 `json:"ws_msgs_sent_per_s"`
	DeliveredPerS float64 `json:"ws_msgs_received_per_s"`
	// Where the expected deliveries went. Received = delivered in the window + Late (after the window, before the
	// drain deadline). StillQueued: not arrived when the drain hit its deadline, not dropped (the bus still held
	// them); Lost: dropped by the bus (its counter) or missing after a complete drain; Refused: error frames.
	// Counted over the whole run (warm-up included, it drains long before the deadline). PresumedLost: messages
	// of the window not delivered within the token timeout (late or never): counted, never re-sent.
	Late         int64  `json:"late"`
	StillQueued  int64  `json:"still_queued"`
	Lost         int64  `json:"lost"`
	Refused      int64  `json:"refused"`
	PresumedLost int64  `json:"presumed_lost"`
	DrainEnd     string `json:"drain_end"` // complete | quiet | deadline

	Latency    stats.Summary `json:"latency"`     // delivery − intended send time (open) or send time (closed), ms
	LatencyHDR *stats.Hist   `json:"latency_hdr"` // the histogram (µs), HdrHistogram V2 compressed base64
	SendLag    stats.Summary `json:"send_lag"`    // open model: actual − intended send time, ms

	ErrorFrames map[string]int64 `json:"error_frames"` // error frames the agents received, by code
	ReadErrors  int64            `json:"gen_read_errors"`
	WriteErrors int64            `json:"gen_write_errors"`

	// Ladder is the idle-connection steps of the run's connection ramp (the run at the plan's ladder
	// configuration: one per bus and repeat), nil elsewhere.
	Ladder *ladderResult `json:"idle_ladder,omitempty"`

	BusFig         busFigures `json:"bus_resources"`
	Gen            genFigures `json:"generator"`
	GeneratorBound bool       `json:"generator_bound"`
	Notes          []string   `json:"notes,omitempty"`
	Error          string     `json:"error,omitempty"`
	// Swarm is the run's distributed side when the lab's daemon is a swarm manager (swarm.go): the node of each
	// container, the generators' clock offsets.
	Swarm *SwarmRun `json:"swarm,omitempty"`

	warmup, duration time.Duration // of the traffic (a calibration probe is shorter than a run)
	ladder           bool          // connect in the plan's idle steps, the bus's memory read after each
}

// ladderResult is one run's idle-connection steps: the bus's memory after each step settled, and their fit.
type ladderResult struct {
	Steps []connmem.Point `json:"steps"`
	Fit   *stats.ConnFit  `json:"fit"` // nil when the steps could not be fitted
	Error string          `json:"error,omitempty"`
}

func (l *ladderResult) slope() float64 {
	if l == nil || l.Fit == nil {
		return 0
	}
	return l.Fit.SlopeBytes
}

func (l *ladderResult) intercept() float64 {
	if l == nil || l.Fit == nil {
		return 0
	}
	return l.Fit.InterceptBytes
}

// busFigures are the bus container's resources, sampled by the lab during the run.
type busFigures struct {
	MemSource string `json:"memory_source"` // the fast reader of every sample (memstat Sampler.Read)
	// ContainerID is the run's bus container: its series is memory_sampling.containers[id].
	ContainerID string `json:"container_id"`
	// MemSources are the bus container over the run by every source of the scenario's sampler side by side
	// (Docker stats, cgroup files when the daemon is local, cAdvisor with --cadvisor), cross-checked.
	MemSources []busMemSource `json:"memory_sources"`
	// Container memory (memstat MemoryBytes: usage − inactive file cache, the `docker stats` figure), bytes: idle
	// before any connection, median with every agent connected before traffic, peak under traffic.
	MemIdle      float64 `json:"mem_idle_bytes"`
	MemConnected float64 `json:"mem_connected_bytes"`
	MemPeak      float64 `json:"mem_peak_bytes"`
	// MemPerConn = (MemConnected − MemIdle) / registered agents.
	MemPerConn float64 `json:"mem_per_conn_bytes"`
	// The same from the bus's own process_resident_memory_bytes (/metrics), as a cross-check.
	RSSIdle      float64 `json:"rss_idle_bytes"`
	RSSConnected float64 `json:"rss_connected_bytes"`
	RSSPerConn   float64 `json:"rss_per_conn_bytes"`
	// CPUCores is the bus's CPU over the measured window (cgroup CPU usage delta / wall), cores.
	CPUCores float64 `json:"cpu_cores"`
	// DeliveriesPerCPUSecond is the bus's efficiency: deliveries per second of its own CPU time.
	DeliveriesPerCPUSecond float64 `json:"deliveries_per_cpu_s"`
	// CoresBusy is how busy the bus's cpuset was over the measured window, from the host's /proc/stat (every
	// task and interrupt on those CPUs, softirq network processing included); 0 when the daemon is remote.
	CoresBusy float64 `json:"cpuset_busy"`
	Samples   int     `json:"samples"`
	// Counter deltas over the run from /metrics: before the first connection (the lab, through the mapped port)
	// to the drain end, read by the generator before any agent left (MetricsAt says which end was used). Drops,
	// errors by code (every code the bus exports, 0 included), refused connections, deliveries.
	Dropped    float64            `json:"dropped"`
	Errors     map[string]float64 `json:"errors"`
	Rejected   float64            `json:"rejected_connections"`
	Deliveries float64            `json:"deliveries"`
	MetricsAt  string             `json:"metrics_at"` // drain_end | after_teardown (the generator could not scrape)
	// ErrorsAfterDrain are errors the bus counted after the drain end, while the generators closed their
	// connections: sends still queued in the bus, addressed to agents that had already left (unknown_target).
	// An artefact of the teardown, not of the run.
	ErrorsAfterDrain map[string]float64 `json:"errors_after_drain"`
	OOMKilled        bool               `json:"oom_killed,omitempty"`
}

// genFigures is the generators' own CPU over the measured window.
type genFigures struct {
	Containers  int     `json:"containers"`
	Cores       int     `json:"cpuset_cores"`
	UserS       float64 `json:"user_s"`
	SysS        float64 `json:"sys_s"`
	WallS       float64 `json:"wall_s"`
	Utilization float64 `json:"utilization"` // (user+sys)/wall/cores
	// CoresBusy is how busy the generators' cpuset was (host /proc/stat, softirq included; 0 when unknown).
	CoresBusy float64 `json:"cpuset_busy"`
	// MsgsPerRead and MsgsPerWrite are the generators' batching over the window: deliveries received per read
	// syscall and messages sent per write syscall (/proc/self/io; null when not counted).
	MsgsPerRead  *float64 `json:"msgs_per_read_syscall"`
	MsgsPerWrite *float64 `json:"msgs_per_write_syscall"`
	Notes        []string `json:"notes,omitempty"`
}

// errBusStart is a bus that would not start: not a measurement, a broken set-up, so the sweep stops.
type errBusStart struct{ err error }

func (e *errBusStart) Error() string { return e.err.Error() }
func (e *errBusStart) Unwrap() error { return e.err }

// run measures one configuration; the error is only a bus that would not start (everything else is recorded in
// the run).
func (l *busLab) run(ctx context.Context, b buses.Spec, n int, pattern, model string, rate float64, rep int) (*RunResult, error) {
	return l.runFor(ctx, b, n, pattern, model, rate, rep, l.plan.warmup, l.env.Params.Duration, l.plan.isLadder(n, pattern, model))
}

func (l *busLab) runFor(ctx context.Context, b buses.Spec, n int, pattern, model string, rate float64, rep int,
	warmup, duration time.Duration, ladder bool) (*RunResult, error) {
	r := &RunResult{Bus: b.Name, Repeat: rep + 1, Agents: n, Pattern: pattern, Model: model, StartedAt: l.env.Now(),
		warmup: warmup, duration: duration, ladder: ladder}
	t0 := l.env.Now()
	err := l.measure(ctx, b, r, rate, rep)
	if err != nil {
		r.Error = err.Error()
	}
	r.WallS = l.env.Now().Sub(t0).Seconds()
	var bs *errBusStart
	if errors.As(err, &bs) {
		return r, err
	}
	return r, nil
}

// genConfigs splits the run over the generators.
func (l *busLab) genConfigs(r *RunResult, rate float64, rep int) []loadgen.Config {
	p, pl := l.env.Params, l.plan
	g := p.Generators
	var cfgs []loadgen.Config
	if r.Model == loadgen.ModelOpen {
		r.OfferedPerS = rate
		r.SendRatePerS = rate
		if r.Pattern == loadgen.PatternBroadcast {
			r.SendRatePerS = rate / float64(r.Agents-1)
		}
	} else {
		r.Window, r.InFlight, r.Batch = p.Window, p.InFlight, closedBatch(p)
	}
	for i := 0; i < g; i++ {
		c := loadgen.DefaultConfig()
		c.URL = "ws://" + busAlias + ":8080/ws"
		c.MetricsURL = "http://" + busAlias + ":8080/metrics"
		if r.Bus == buses.NATS {
			c.URL, c.MetricsURL = "nats://"+busAlias+":4222", "http://"+busAlias+":8222/varz"
		}
		c.Generator, c.Generators = i, g
		c.Agents = r.Agents / g
		if i < r.Agents%g {
			c.Agents++
		}
		c.TotalAgents = r.Agents
		c.Pattern, c.Model = r.Pattern, r.Model
		c.Rate = r.SendRatePerS / float64(g)
		if c.Model == loadgen.ModelClosed {
			c.Rate = 0
		}
		c.Window, c.Batch = p.Window, closedBatch(p)
		// The total in flight split over the generators (the first ones take the remainder).
		c.InFlight = p.InFlight / g
		if i < p.InFlight%g {
			c.InFlight++
		}
		c.Hold, c.Warmup, c.Duration, c.Drain = busHold, r.warmup, r.duration, busDrain
		c.ConnectRate = p.ConnectRate / float64(g)
		c.PayloadBytes = busPayloadBytes
		c.CPUAllowance = float64(len(pl.genCPUs))
		c.SaturationThreshold = genSaturation
		// The same seed for both buses in a repeat: they see the same target sequence.
		c.Seed = uint64(rep + 1)
		if r.ladder {
			c.IdleSteps = loadgen.SplitSteps(pl.ladderSteps, g, i)
			c.StepTimeout = ladderStepTimeout
		}
		cfgs = append(cfgs, c)
	}
	return cfgs
}

func limitHost(cpus string, mem int64) func(*container.HostConfig) {
	return func(hc *container.HostConfig) {
		hc.CpusetCpus = cpus
		// No swap: a container over its limit is OOM-killed (and reported), not quietly slowed down.
		hc.Memory, hc.MemorySwap = mem, mem
		// nofile stays the daemon's default (containers inherit it; raising it needs privileges the daemon may lack).
	}
}

func terminate(ctx context.Context, c *testcontainers.DockerContainer) {
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	_ = c.Terminate(tctx, testcontainers.StopTimeout(0))
}

// retire removes a finished run's container in the background: its removal (0.2–0.4 s a container here) overlaps
// the next run's bus start, and every measure waits for it (settle) before anything of its own is sampled or
// timed. Run waits for the last ones.
func (l *busLab) retire(ctx context.Context, c *testcontainers.DockerContainer) {
	l.retiring.Go(func() { terminate(ctx, c) })
}

// settle waits until the containers of earlier runs are gone.
func (l *busLab) settle() { l.retiring.Wait() }

func (l *busLab) measure(ctx context.Context, b buses.Spec, r *RunResult, rate float64, rep int) error {
	if l.swarm != nil {
		return l.measureSwarm(ctx, b, r, rate, rep)
	}
	env := l.env
	cfgs := l.genConfigs(r, rate, rep)
	bus, metricsURL, err := l.startBus(ctx, b, r.Agents)
	l.settle() // the previous run's containers, removed while this bus started
	if bus != nil {
		defer l.retire(ctx, bus)
	}
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	m0, err := scrapeMetrics(ctx, hc, metricsURL)
	if err != nil {
		return fmt.Errorf("%s bus /metrics: %w", b.Name, err)
	}

	if err := l.mem.add(ctx, bus.GetContainerID(), b.Name); err != nil {
		return fmt.Errorf("%s bus: sample memory: %w", b.Name, err)
	}
	sctx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan []busSample, 1)
	srcName := make(chan string, 1)
	go func() {
		ss, src := l.sample(sctx, bus.GetContainerID(), metricsURL)
		srcName <- src
		sampled <- ss
	}()
	var lad *ladderResult
	if r.ladder {
		lad = &ladderResult{}
		r.Ladder = lad
	}
	results, genErr := l.generators(ctx, cfgs, bus.GetContainerID(), lad)
	stopSampling()
	r.BusFig.MemSource = <-srcName
	samples := <-sampled
	r.BusFig.MemSources = l.mem.done(bus.GetContainerID())
	r.BusFig.ContainerID = bus.GetContainerID()

	// After the generators exited the bus may still be busy with their backlog: a longer timeout.
	m1, scrapeErr := scrapeMetrics(ctx, &http.Client{Timeout: 10 * time.Second}, metricsURL)
	if ins, err := env.Docker.ContainerInspect(ctx, bus.GetContainerID(), client.ContainerInspectOptions{}); err == nil &&
		ins.Container.State != nil {
		r.BusFig.OOMKilled = ins.Container.State.OOMKilled
		if !ins.Container.State.Running {
			return fmt.Errorf("%s bus exited during the run (exit %d, OOM-killed %v)", b.Name,
				ins.Container.State.ExitCode, ins.Container.State.OOMKilled)
		}
	}
	if len(results) == 0 {
		return genErr
	}
	c := l.figures(r, results, samples)
	end := c.BusAtDrainEnd
	r.BusFig.MetricsAt = "drain_end"
	if end == nil {
		r.BusFig.MetricsAt, end = "after_teardown", m1
		r.Notes = append(r.Notes, "the generator could not read the bus's /metrics at the drain end ("+c.BusScrapeErr+
			"): bus counters include the teardown")
	}
	if end == nil {
		r.Notes = append(r.Notes, "no /metrics after the run: "+scrapeErr.Error())
	} else {
		busCounters(&r.BusFig, m0, end)
		if r.BusFig.MetricsAt == "drain_end" && scrapeErr == nil {
			r.BusFig.ErrorsAfterDrain = errorCounts(m1, end)
		}
	}
	r.account(c.Outstanding)
	return genErr
}

// startBus starts bus b (RunBus, or RunNATS for the reference) with the run's cpuset and memory limits and
// returns it with the URL its counters are read from (/metrics, or NATS's /varz: loadgen.ScrapeBus reads both).
// On error the container, if not nil, must still be terminated.
func (l *busLab) startBus(ctx context.Context, b buses.Spec, agents int) (*testcontainers.DockerContainer, string, error) {
	env, p := l.env, l.env.Params
	common := []testcontainers.ContainerCustomizer{
		testcontainers.WithLabels(dockerx.Labels(env.RunID, "bus")),
		containers.WithNetworkAlias(l.nw, busAlias),
		testcontainers.WithHostConfigModifier(limitHost(p.BusCPUs, l.plan.busMem)),
	}
	if len(b.Env) > 0 {
		common = append(common, containers.WithBusEnv(b.Env))
	}
	if len(b.Args) > 0 {
		common = append(common, testcontainers.WithCmd(b.Args...))
	}
	maxConn := max(busMaxConn, agents+1000)
	if b.Name == buses.NATS {
		n, err := containers.RunNATS(ctx, b.Image, append(common, containers.WithNATSMaxConnections(maxConn))...)
		var c *testcontainers.DockerContainer
		if n != nil {
			c = n.DockerContainer
		}
		if err != nil {
			return c, "", &errBusStart{fmt.Errorf("start nats: %w", err)}
		}
		u, err := n.MonitorURL(ctx)
		if err != nil {
			return c, "", err
		}
		return c, u + "/varz", nil
	}
	// RunBus: /health wait, hardening (read-only rootfs, cap-drop ALL, no-new-privileges, pids limit); the
	// cpuset and memory limits (swap = memory) of limitHost replace its default memory limit.
	bus, err := containers.RunBus(ctx, b.Image, append(common, containers.WithMaxConnections(maxConn))...)
	var c *testcontainers.DockerContainer
	if bus != nil {
		c = bus.DockerContainer
	}
	if err != nil {
		return c, "", &errBusStart{fmt.Errorf("start %s bus: %w", b.Name, err)}
	}
	u, err := bus.MetricsURL(ctx)
	if err != nil {
		return c, "", fmt.Errorf("%s bus: %w", b.Name, err)
	}
	return c, u, nil
}

// generators runs the generator containers to completion and decodes their results; with lad, it steps the bus
// (busID) through the generators' idle steps meanwhile (connmem.Ladder) and records the steps and their fit.
func (l *busLab) generators(ctx context.Context, cfgs []loadgen.Config, busID string, lad *ladderResult) ([]*loadgen.Result, error) {
	env, p := l.env, l.env.Params
	var ctrs []*testcontainers.DockerContainer
	defer func() {
		for _, c := range ctrs {
			l.retire(ctx, c)
		}
	}()
	c0 := cfgs[0]
	planned := time.Duration(float64(c0.Agents)/c0.ConnectRate*float64(time.Second)) + c0.Hold + c0.Warmup +
		c0.Duration + c0.Drain
	if n := len(c0.IdleSteps); n > 0 {
		planned += time.Duration(n) * (connmem.DefaultSettle.Timeout + time.Second)
	}
	wctx, cancel := context.WithTimeout(ctx, planned+runSlack)
	defer cancel()
	for i, cfg := range cfgs {
		// Hardened by RunGenerator; limitHost's cpuset and memory (swap = memory) replace its default memory.
		c, err := containers.RunGenerator(wctx, l.genImage,
			testcontainers.WithCmd(cfg.Args()...),
			testcontainers.WithLabels(dockerx.Labels(env.RunID, "loadgen")),
			network.WithNetwork(nil, l.nw),
			testcontainers.WithHostConfigModifier(limitHost(p.GenCPUs, l.plan.genMem)),
		)
		if c != nil {
			ctrs = append(ctrs, c.DockerContainer)
		}
		if err != nil {
			return nil, fmt.Errorf("start generator %d: %w", i, err)
		}
	}
	ladderDone := make(chan struct{})
	if lad != nil {
		ids := make([]string, len(ctrs))
		for i, c := range ctrs {
			ids[i] = c.GetContainerID()
		}
		go func() {
			defer close(ladderDone)
			lctx, cancel := context.WithCancel(wctx)
			defer cancel()
			pts, err := connmem.Ladder{Docker: env.Docker, Generators: ids, Steps: len(c0.IdleSteps),
				Read: func(ctx context.Context) (float64, time.Time, error) { return l.mem.memory(ctx, busID) }}.Run(lctx)
			lad.Steps = pts
			if err != nil {
				lad.Error = err.Error()
				return
			}
			if f, ok := stats.FitConn(connmem.Readings(pts)); ok {
				lad.Fit = &f
			}
		}()
	} else {
		close(ladderDone)
	}
	var out []*loadgen.Result
	var errs []string
	for i, c := range ctrs {
		res, err := readGenerator(wctx, env.Docker, c.GetContainerID())
		if err != nil {
			errs = append(errs, fmt.Sprintf("generator %d: %v", i, err))
		}
		if res != nil {
			out = append(out, res)
		}
	}
	<-ladderDone
	if len(errs) > 0 {
		return out, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return out, nil
}

// readGenerator waits for a generator container to exit and decodes its result (stdout); a failed run's stderr
// tail becomes the error. The result is returned whenever it could be decoded.
func readGenerator(ctx context.Context, cli *client.Client, id string) (*loadgen.Result, error) {
	out, errb, code, err := dockerx.WaitOutput(ctx, cli, id)
	if err != nil {
		return nil, err
	}
	res, decErr := loadgen.DecodeResult(out)
	if code != 0 {
		return res, fmt.Errorf("exit %d: %s", code, scenario.LastLine(string(errb)))
	}
	return res, decErr
}

// busSample is one reading of the bus container.
type busSample struct {
	T     time.Time
	Mem   float64 // memstat MemoryBytes
	CPUNs float64 // cumulative CPU
	RSS   float64 // process_resident_memory_bytes from /metrics (0 when the scrape failed)
	// The daemon host's per-CPU times of the bus's and the generators' cpusets (memstat.CPUSetBusy: busy includes
	// irq and softirq, which no process is charged for); not OK when the daemon is remote.
	BusCores, GenCores     memstat.CPUTimes
	BusCoresOK, GenCoresOK bool
}

// sample reads the bus every --sample-interval until ctx ends.
func (l *busLab) sample(ctx context.Context, id, metricsURL string) ([]busSample, string) {
	tick := time.NewTicker(l.env.Params.Sample)
	defer tick.Stop()
	hc := &http.Client{Timeout: time.Second}
	var out []busSample
	src := ""
	for {
		if bs, desc, err := l.mem.read(ctx, id); err == nil {
			if m, err := scrapeMetrics(ctx, hc, metricsURL); err == nil {
				bs.RSS = m["process_resident_memory_bytes"]
			}
			src = desc
			out = append(out, bs)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return out, src
		}
	}
}

// figures fills r from the generators' results and the bus samples, and returns the results combined.
func (l *busLab) figures(r *RunResult, results []*loadgen.Result, samples []busSample) *loadgen.Result {
	pl := l.plan
	c := loadgen.Combine(results)
	r.Sessions = c.Sessions
	r.Connecting, r.Register = c.Connecting.Summary(), c.Register.Summary()
	r.Sent, r.Received = c.Sent, c.Received
	r.Expected = c.Sent
	if r.Pattern == loadgen.PatternBroadcast {
		r.Expected = c.Sent * int64(max(0, c.Sessions.Registered-1))
	}
	if r.Expected > 0 {
		r.DeliveryRatio = float64(r.Received) / float64(r.Expected)
	}
	secs := r.duration.Seconds()
	r.SentPerS, r.DeliveredPerS = float64(r.Sent)/secs, float64(r.Received)/secs
	r.Latency, r.LatencyHDR, r.SendLag = c.Latency.Summary(), c.Latency, c.SendLag.Summary()
	r.ErrorFrames = c.Errors
	r.ReadErrors, r.WriteErrors = c.ReadErrors, c.WriteErrors
	r.Late, r.PresumedLost, r.DrainEnd = c.Late, c.PresumedLost, c.DrainEnd
	for _, n := range c.Errors {
		r.Refused += n
	}
	r.Notes = append(r.Notes, c.Notes...)

	g := &r.Gen
	g.Containers, g.Cores = len(results), len(pl.genCPUs)
	g.UserS, g.SysS, g.WallS = c.CPU.UserS, c.CPU.SysS, c.CPU.WallS
	if g.WallS > 0 {
		g.Utilization = (g.UserS + g.SysS) / g.WallS / float64(g.Cores)
	}
	perCall := func(msgs int64, calls *int64) *float64 {
		if calls == nil || *calls <= 0 {
			return nil
		}
		v := float64(msgs) / float64(*calls)
		return &v
	}
	g.MsgsPerRead, g.MsgsPerWrite = perCall(c.Received, c.CPU.ReadSyscalls), perCall(c.Sent, c.CPU.WriteSyscalls)
	g.CoresBusy = busFromSamples(&r.BusFig, samples, c.Times, c.Sessions.Registered)
	r.GeneratorBound = g.Utilization > genSaturation || c.CPU.Saturated || g.CoresBusy > genCoreSaturation
	if r.BusFig.CPUCores > 0 {
		r.BusFig.DeliveriesPerCPUSecond = r.DeliveredPerS / r.BusFig.CPUCores
	}
	return c
}

// account splits what had not arrived when the drain ended (outstanding, deliveries) into lost and still queued:
// the bus's drops are lost; the rest is lost after a drain that went quiet (nothing was coming any more) and
// still queued after one that hit its deadline (deliveries were still arriving).
func (r *RunResult) account(outstanding int64) {
	dropped := int64(r.BusFig.Dropped)
	rest := max(0, outstanding-dropped)
	r.Lost = dropped
	switch r.DrainEnd {
	case loadgen.DrainDeadline:
		r.StillQueued = rest
	default:
		r.Lost += rest
	}
}

// Undelivered is what did not arrive: lost, still queued at the drain deadline, refused.
func (r *RunResult) Undelivered() int64 { return r.Lost + r.StillQueued + r.Refused }

// busFromSamples derives the bus's memory and CPU figures from samples and the generators' phase times.
// It returns how busy the generators' CPUs were over the measured window (0 when unknown).
func busFromSamples(f *busFigures, ss []busSample, t loadgen.Times, registered int) (genBusy float64) {
	f.Samples = len(ss)
	if len(ss) == 0 {
		return 0
	}
	at := func(ns int64) time.Time { return time.Unix(0, ns) }
	between := func(a, b time.Time) []busSample {
		var out []busSample
		for _, s := range ss {
			if !s.T.Before(a) && !s.T.After(b) {
				out = append(out, s)
			}
		}
		return out
	}
	med := func(xs []busSample, v func(busSample) float64) float64 {
		vals := make([]float64, 0, len(xs))
		for _, x := range xs {
			if y := v(x); y > 0 {
				vals = append(vals, y)
			}
		}
		if len(vals) == 0 {
			return 0
		}
		return stats.Median(vals)
	}
	mem := func(s busSample) float64 { return s.Mem }
	rss := func(s busSample) float64 { return s.RSS }

	idle := between(time.Time{}, at(t.ConnectStart))
	if len(idle) == 0 {
		idle = ss[:1]
	}
	conn := between(at(t.Connected), at(t.TrafficStart))
	if len(conn) == 0 { // a hold shorter than the sampling interval: the last reading before traffic
		if pre := between(time.Time{}, at(t.TrafficStart)); len(pre) > 0 {
			conn = pre[len(pre)-1:]
		}
	}
	f.MemIdle, f.MemConnected = med(idle, mem), med(conn, mem)
	f.RSSIdle, f.RSSConnected = med(idle, rss), med(conn, rss)
	// Per connection needs a reading taken after the idle one: a source that answers about once a second (Docker
	// stats over a remote daemon) can give the same reading for both, and 0 per connection would be a figure no
	// one measured. Not measured stays 0 and is left out of the summaries.
	distinct := len(conn) > 0 && conn[0].T.After(idle[len(idle)-1].T)
	if registered > 0 && f.MemConnected > 0 && distinct {
		f.MemPerConn = (f.MemConnected - f.MemIdle) / float64(registered)
	}
	if registered > 0 && f.RSSConnected > 0 && f.RSSIdle > 0 && distinct {
		f.RSSPerConn = (f.RSSConnected - f.RSSIdle) / float64(registered)
	}
	for _, s := range between(at(t.TrafficStart), at(t.End)) {
		f.MemPeak = max(f.MemPeak, s.Mem)
	}
	// The window's first and last samples; with fewer than two inside (a 1 s window on a loaded machine, whose
	// sampler fell behind), the last sample before the window and the first after it bracket it instead: a
	// figure over a slightly longer span rather than none.
	w := between(at(t.MeasureStart), at(t.MeasureEnd))
	if len(w) < 2 {
		before, after := between(time.Time{}, at(t.MeasureStart)), between(at(t.MeasureEnd), at(t.End))
		w = nil
		if len(before) > 0 && len(after) > 0 {
			w = []busSample{before[len(before)-1], after[0]}
		}
	}
	if len(w) >= 2 {
		a, b := w[0], w[len(w)-1]
		if dt := b.T.Sub(a.T).Seconds(); dt > 0 {
			f.CPUCores = (b.CPUNs - a.CPUNs) / 1e9 / dt
		}
		if a.BusCoresOK && b.BusCoresOK {
			f.CoresBusy = memstat.BusyFraction(a.BusCores, b.BusCores)
		}
		if a.GenCoresOK && b.GenCoresOK {
			genBusy = memstat.BusyFraction(a.GenCores, b.GenCores)
		}
	}
	return genBusy
}

// busCounters fills the counter deltas of the run from two /metrics scrapes (series key → value, see prom.Key).
func busCounters(f *busFigures, m0, m1 map[string]float64) {
	d := prom.Metrics{Values: m1}.Delta(prom.Metrics{Values: m0})
	f.Dropped += d.Sum("bus_dropped_total")
	f.Rejected += d.Sum("bus_rejected_connections_total")
	f.Deliveries += d.Sum("bus_deliveries_total")
	f.Errors = errorCounts(m1, m0)
}

// errorCounts is bus_errors_total by code between two scrapes: every code the bus exports, 0 included.
func errorCounts(m1, m0 map[string]float64) map[string]float64 {
	d := prom.Metrics{Values: m1}.Delta(prom.Metrics{Values: m0})
	out := map[string]float64{}
	for code, v := range d.ByLabel("bus_errors_total", "code") {
		out[code] += v
	}
	return out
}

// scrapeMetrics reads the bus's /metrics (prom.Scrape: prometheus/common/expfmt) into series key → value; for
// NATS, /varz mapped onto the buses' series (loadgen.Varz.BusSeries).
func scrapeMetrics(ctx context.Context, hc *http.Client, url string) (map[string]float64, error) {
	return loadgen.ScrapeBus(ctx, hc, url)
}

// closedBatch is the closed model's send batch: --batch, or the whole window (the generator's default).
func closedBatch(p Params) int {
	if p.Batch > 0 {
		return p.Batch
	}
	return p.Window
}
