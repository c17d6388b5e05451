// Package loadgen is the bus-load generator: many simulated agents per process, each a real WebSocket connection
// speaking docs/protocol.md, offering traffic on an open model (a fixed schedule, latency from the intended send
// time) or a closed model (a window of messages in flight per agent, for saturation). It prints one JSON Result;
// the lab merges several generators' results (histograms included).
package loadgen

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"time"
)

// Patterns and models.
const (
	PatternBroadcast  = "broadcast"
	PatternTargeted   = "targeted"
	PatternRoundRobin = "roundrobin"

	ModelOpen   = "open"
	ModelClosed = "closed"
	// ModelIdle only connects and registers the agents (in IdleSteps when given) and ends: no traffic. It is
	// how the lab measures memory per connection as a slope (internal/connmem).
	ModelIdle = "idle"
)

// Patterns lists the traffic patterns in report order.
var Patterns = []string{PatternTargeted, PatternBroadcast, PatternRoundRobin}

// Config is one generator's run. Durations are JSON nanoseconds.
type Config struct {
	URL        string `json:"url"`         // ws://bus:8080/ws, or nats://nats:4222 for NATS
	MetricsURL string `json:"metrics_url"` // the bus's /metrics, for the start barrier of several generators
	Generator  int    `json:"generator"`   // this generator's index (ids and seqs carry it)
	Generators int    `json:"generators"`  // how many generators share the run
	Agents     int    `json:"agents"`      // agents in this generator
	// TotalAgents is every generator's agents together: the barrier waits for that many registrations.
	TotalAgents int `json:"total_agents"`

	Pattern string `json:"pattern"`
	Model   string `json:"model"`
	// Rate is the open model's send rate of this generator, messages per second.
	Rate float64 `json:"rate"`
	// Window is the closed model's most messages in flight per agent.
	Window int `json:"window"`
	// Batch is the closed model's send batch: a sender waits until this many slots of its window are free (and
	// the pool grants them) and writes them with one syscall (0: the whole window). Fewer, larger writes keep the
	// generator's cost per message below the bus's; the bound on messages in flight is unchanged.
	Batch int `json:"batch"`
	// InFlight bounds the closed model's messages in flight over all of this generator's agents (0: agents ×
	// Window). A bounded total keeps the model closed at any agent count: latency ≈ InFlight ÷ throughput (Little's
	// law) instead of growing with the agents.
	InFlight int `json:"inflight"`
	// TokenTimeout: a message not delivered within it is counted presumed lost (Result.PresumedLost). Its window
	// slot is not re-opened — the message may still arrive — so the model stays closed under overload.
	TokenTimeout time.Duration `json:"token_timeout"`

	Hold     time.Duration `json:"hold"`     // idle, all agents connected, before traffic (the lab samples memory)
	Warmup   time.Duration `json:"warmup"`   // traffic not measured
	Duration time.Duration `json:"duration"` // measured traffic
	Drain    time.Duration `json:"drain"`    // longest wait for deliveries after the last send

	ConnectRate        float64       `json:"connect_rate"`        // new connections per second
	ConnectConcurrency int           `json:"connect_concurrency"` // handshakes in progress at once
	ConnectTimeout     time.Duration `json:"connect_timeout"`     // per handshake and per registration
	BarrierTimeout     time.Duration `json:"barrier_timeout"`

	PayloadBytes int `json:"payload_bytes"`
	GroupSize    int `json:"group_size"` // round-robin group members
	// CPUAllowance is the cores this generator may use (0: GOMAXPROCS, which follows the container's cpuset).
	CPUAllowance float64 `json:"cpu_allowance"`
	// SaturationThreshold marks the run generator-bound when CPU used over the measured window exceeds this
	// fraction of the allowance.
	SaturationThreshold float64 `json:"saturation_threshold"`
	Seed                uint64  `json:"seed"`
	// IdleSteps are counts of this generator's agents at which the connection ramp pauses (ascending, each ≤
	// Agents; 0 pauses before the first connection): when a step's connections are done, the generator prints a
	// step line (StepLinePrefix, stderr) and waits for the go-ahead — SIGUSR1 from the lab (cmd/loadgen), or
	// Gate in-process — at most StepTimeout. The lab reads the bus's memory after each step settles.
	IdleSteps   []int         `json:"idle_steps,omitempty"`
	StepTimeout time.Duration `json:"step_timeout,omitempty"`
	// Gate is called at each idle step and returns when the ramp may go on (nil: no pause). Main sets one that
	// prints the step line and waits for SIGUSR1.
	Gate StepGate `json:"-"`
	// CPUProfile, when set, is where the generator writes a pprof CPU profile of its whole run (not in the
	// result: a diagnostic of the generator, not a measurement of the bus).
	CPUProfile string `json:"-"`

	// Coordinator, when set (http://host:port), makes this a generator of a coordinated run (RunCoordinated): its
	// shard, barrier and start come from there, the other flags are ignored. Node names the machine it runs on.
	Coordinator string `json:"-"`
	Node        string `json:"-"`
	// HeartbeatInterval is a coordinated generator's heartbeat interval, set by the coordinator.
	HeartbeatInterval time.Duration `json:"heartbeat_interval,omitempty"`
}

// DefaultConfig is a small open-model targeted run against ws://bus:8080/ws.
func DefaultConfig() Config {
	return Config{
		URL: "ws://bus:8080/ws", Generators: 1, Agents: 100,
		Pattern: PatternTargeted, Model: ModelOpen, Rate: 1000, Window: 4, TokenTimeout: time.Second,
		Hold: 500 * time.Millisecond, Warmup: time.Second, Duration: 5 * time.Second, Drain: 2 * time.Second,
		ConnectRate: 1000, ConnectConcurrency: 64, ConnectTimeout: 10 * time.Second, BarrierTimeout: 30 * time.Second,
		StepTimeout:  time.Minute,
		PayloadBytes: 64, GroupSize: 10, SaturationThreshold: 0.85, Seed: 1,
	}
}

// Parse reads the generator's command line over DefaultConfig.
func Parse(args []string, errOut io.Writer) (Config, error) {
	c := DefaultConfig()
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&c.URL, "url", c.URL, "bus WebSocket URL, or nats://host:port for NATS")
	fs.StringVar(&c.MetricsURL, "metrics-url", "", "bus /metrics URL for the start barrier (default: from --url)")
	fs.IntVar(&c.Generator, "generator", c.Generator, "this generator's index")
	fs.IntVar(&c.Generators, "generators", c.Generators, "generators in the run")
	fs.IntVar(&c.Agents, "agents", c.Agents, "agents (connections) in this generator")
	fs.IntVar(&c.TotalAgents, "total-agents", 0, "agents over all generators (default: --agents × --generators)")
	fs.StringVar(&c.Pattern, "pattern", c.Pattern, "targeted | broadcast | roundrobin")
	fs.StringVar(&c.Model, "model", c.Model, "open (fixed schedule at --rate) | closed (--window in flight per agent) | idle (connect, no traffic)")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "open model: messages sent per second by this generator")
	fs.IntVar(&c.Window, "window", c.Window, "closed model: most messages in flight per agent")
	fs.IntVar(&c.Batch, "batch", c.Batch, "closed model: slots a sender waits for and writes at once (0: the whole window)")
	fs.IntVar(&c.InFlight, "inflight", c.InFlight, "closed model: messages in flight over all agents (0: agents × window)")
	fs.DurationVar(&c.TokenTimeout, "token-timeout", c.TokenTimeout, "a message not delivered within this is counted presumed lost (its slot is not re-opened)")
	fs.DurationVar(&c.Hold, "hold", c.Hold, "idle time with every agent connected, before traffic")
	fs.DurationVar(&c.Warmup, "warmup", c.Warmup, "unmeasured traffic before the measured window")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "measured window")
	fs.DurationVar(&c.Drain, "drain", c.Drain, "longest wait for deliveries after the last send")
	fs.Float64Var(&c.ConnectRate, "connect-rate", c.ConnectRate, "new connections per second")
	fs.IntVar(&c.ConnectConcurrency, "connect-concurrency", c.ConnectConcurrency, "handshakes in progress at once")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", c.ConnectTimeout, "per handshake and per registration")
	fs.DurationVar(&c.BarrierTimeout, "barrier-timeout", c.BarrierTimeout, "wait for the other generators' agents")
	fs.IntVar(&c.PayloadBytes, "payload-bytes", c.PayloadBytes, "payload: a JSON string of this many bytes")
	fs.IntVar(&c.GroupSize, "group-size", c.GroupSize, "round-robin: members per group")
	fs.Float64Var(&c.CPUAllowance, "cpus", 0, "cores this generator may use (default: GOMAXPROCS)")
	fs.Float64Var(&c.SaturationThreshold, "saturation", c.SaturationThreshold, "CPU fraction of the allowance that marks the run generator-bound")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "random seed (targets, groups)")
	fs.Func("idle-steps", "connection counts at which the ramp pauses for the go-ahead (SIGUSR1), e.g. 0,250,500,1000", func(v string) error {
		steps, err := ParseSteps(v)
		c.IdleSteps = steps
		return err
	})
	fs.DurationVar(&c.StepTimeout, "step-timeout", c.StepTimeout, "longest wait for the go-ahead at an idle step")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a pprof CPU profile of the generator to this file")
	fs.StringVar(&c.Coordinator, "coordinator", "", "coordinated run: take shard, barrier and start from this coordinator (http://host:port)")
	fs.StringVar(&c.Node, "node", os.Getenv("AGENTLAB_NODE"), "coordinated run: the node this generator runs on (default $AGENTLAB_NODE)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, c.normalize()
}

// normalize fills derived defaults and validates.
func (c *Config) normalize() error {
	if c.TotalAgents == 0 {
		c.TotalAgents = c.Agents * c.Generators
	}
	if c.Batch == 0 && c.Model == ModelClosed {
		c.Batch = c.Window
	}
	if c.CPUAllowance == 0 {
		c.CPUAllowance = float64(runtime.GOMAXPROCS(0))
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "nats") || u.Host == "" {
		return fmt.Errorf("--url %q: want ws://host:port/path (a bus) or nats://host:port (NATS)", c.URL)
	}
	if c.MetricsURL == "" {
		c.MetricsURL = "http://" + u.Host + "/metrics"
		if u.Scheme == "nats" {
			c.MetricsURL = "http://" + u.Hostname() + ":8222/varz" // NATS's monitoring port
		}
	}
	var errs []error
	check := func(ok bool, format string, a ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, a...))
		}
	}
	check(c.Agents >= 2 && c.Agents <= MaxAgentsPerGenerator, "--agents must be in [2, %d], got %d", MaxAgentsPerGenerator, c.Agents)
	check(c.Generators >= 1 && c.Generators <= MaxGenerators, "--generators must be in [1, %d]", MaxGenerators)
	check(c.Generator >= 0 && c.Generator < c.Generators, "--generator must be in [0, --generators)")
	check(c.TotalAgents >= c.Agents, "--total-agents below --agents")
	check(c.Pattern == PatternTargeted || c.Pattern == PatternBroadcast || c.Pattern == PatternRoundRobin,
		"--pattern %q: want targeted, broadcast or roundrobin", c.Pattern)
	check(c.Model == ModelOpen || c.Model == ModelClosed || c.Model == ModelIdle, "--model %q: want open, closed or idle", c.Model)
	check(c.Model != ModelOpen || c.Rate > 0, "--rate must be > 0 for the open model")
	check(c.Model != ModelClosed || c.Window >= 1, "--window must be ≥ 1 for the closed model")
	check(c.InFlight >= 0, "--inflight must be ≥ 0")
	check(c.Batch >= 0 && (c.Model != ModelClosed || c.Batch <= c.Window), "--batch must be in [0, --window]")
	check(c.Duration > 0, "--duration must be > 0")
	check(c.Warmup >= 0 && c.Hold >= 0 && c.Drain >= 0, "--warmup, --hold and --drain must be ≥ 0")
	check(c.ConnectRate > 0 && c.ConnectConcurrency >= 1, "--connect-rate must be > 0 and --connect-concurrency ≥ 1")
	check(c.ConnectTimeout > 0 && c.TokenTimeout > 0, "--connect-timeout and --token-timeout must be > 0")
	check(c.PayloadBytes >= 0 && c.PayloadBytes <= 60000, "--payload-bytes must be in [0, 60000]")
	check(c.GroupSize >= 2, "--group-size must be ≥ 2")
	check(c.CPUAllowance > 0, "--cpus must be > 0")
	ascending := true
	for i, n := range c.IdleSteps {
		ascending = ascending && n >= 0 && n <= c.Agents && (i == 0 || n > c.IdleSteps[i-1])
	}
	check(ascending, "--idle-steps must be ascending counts in [0, --agents (%d)], got %v", c.Agents, c.IdleSteps)
	check(len(c.IdleSteps) == 0 || c.StepTimeout > 0, "--step-timeout must be > 0")
	return errors.Join(errs...)
}

// Args renders c as the generator's command line (what the lab passes to the container).
func (c Config) Args() []string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	a := []string{
		"--url", c.URL, "--generator", strconv.Itoa(c.Generator), "--generators", strconv.Itoa(c.Generators),
		"--agents", strconv.Itoa(c.Agents), "--total-agents", strconv.Itoa(c.TotalAgents),
		"--pattern", c.Pattern, "--model", c.Model, "--rate", f(c.Rate), "--window", strconv.Itoa(c.Window),
		"--inflight", strconv.Itoa(c.InFlight), "--batch", strconv.Itoa(c.Batch),
		"--token-timeout", c.TokenTimeout.String(), "--hold", c.Hold.String(), "--warmup", c.Warmup.String(),
		"--duration", c.Duration.String(), "--drain", c.Drain.String(), "--connect-rate", f(c.ConnectRate),
		"--connect-concurrency", strconv.Itoa(c.ConnectConcurrency), "--connect-timeout", c.ConnectTimeout.String(),
		"--barrier-timeout", c.BarrierTimeout.String(), "--payload-bytes", strconv.Itoa(c.PayloadBytes),
		"--group-size", strconv.Itoa(c.GroupSize), "--saturation", f(c.SaturationThreshold),
		"--seed", strconv.FormatUint(c.Seed, 10),
	}
	if c.MetricsURL != "" {
		a = append(a, "--metrics-url", c.MetricsURL)
	}
	if len(c.IdleSteps) > 0 {
		a = append(a, "--idle-steps", FormatSteps(c.IdleSteps), "--step-timeout", c.StepTimeout.String())
	}
	if c.CPUAllowance > 0 {
		a = append(a, "--cpus", f(c.CPUAllowance))
	}
	return a
}
