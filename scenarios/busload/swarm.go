package busload

import (
	"context"
	"fmt"
	"strconv"

	"github.com/agentlab/agentlab/internal/cluster"
	"github.com/agentlab/agentlab/internal/loadgen"
	"github.com/agentlab/agentlab/internal/swarmx"
	"github.com/agentlab/agentlab/scenarios/buses"
)

// bus-load on a Docker Swarm: when the lab's daemon (DOCKER_HOST) is a swarm manager, each run is services
// (internal/swarmx.RunLoad) instead of containers: the bus and the coordinator on the node labelled
// agentlab.role=bus, the --generators generators spread over the other nodes, each handed its shard by the
// coordinator, released together, their whole results merged as on one host (counts summed, histograms merged).
// Every run records the node of each of its containers (RunResult.Swarm). The bus container is sampled through
// the lab's daemon when it runs there (the manager is the bus node on the test cluster); no cpuset figures (services
// have none); the bus's counters come from its /metrics, read by a generator at the drain end.

// SwarmRun is one run's distributed side: where its containers ran and how the generators' clocks lined up.
type SwarmRun struct {
	// Nodes maps a role (bus, coordinator, generator) to the node (hostname) of each of its containers.
	Nodes      map[string][]string `json:"nodes"`
	Generators []SwarmGenerator    `json:"generators"`
	ConvergeS  float64             `json:"converge_s"` // services created → every task running, s
	RunS       float64             `json:"run_s"`      // coordinator's whole run, s
	RemoveS    float64             `json:"remove_s"`   // services and network removed, s
	// SkewFlag: the generators' clock offsets or their uncertainty exceeded the coordinator's limit (1 ms): their
	// windows line up only that closely (latency is one generator's clock, unaffected).
	SkewFlag bool   `json:"skew_flag"`
	SkewNote string `json:"skew_note,omitempty"`
}

// SwarmGenerator is one generator of a distributed run.
type SwarmGenerator struct {
	Generator int    `json:"generator"`
	Node      string `json:"node"`
	Agents    int    `json:"agents"`
	OffsetNS  int64  `json:"clock_offset_ns"` // coordinator clock − generator clock (round-trip estimate)
	RTTNS     int64  `json:"rtt_ns"`          // round trip of the best probe: the offset's uncertainty is ±rtt/2
	Sent      int64  `json:"ws_msgs_sent"`
	Received  int64  `json:"ws_msgs_received"`
}

// swarmTarget is the swarm a bus-load runs on (nil: one Docker host).
type swarmTarget struct {
	seq       int
	loadNodes int // nodes generators may run on
}

// newSwarmTarget returns the swarm target when the daemon is a swarm manager, with refs present on every node:
// loaded through each node's API when the daemon is a node of a test cluster (lab cluster up), else they must
// already be there (a task then fails with "No such image", reported as the run's error).
func newSwarmTarget(ctx context.Context, env *Env, refs []string) (*swarmTarget, []string, error) {
	ok, err := swarmx.IsManager(ctx, env.Docker)
	if err != nil || !ok {
		return nil, nil, err
	}
	var notes []string
	if c, found := cluster.FindBySocket(env.Docker.DaemonHost()); found {
		if err := c.LoadImages(ctx, env.Docker, refs...); err != nil {
			return nil, nil, fmt.Errorf("swarm: images onto the nodes: %w", err)
		}
		notes = append(notes, fmt.Sprintf("swarm: test cluster %s (%d nodes on one host: they share its CPUs)", c.Name, len(c.Nodes)))
	} else {
		notes = append(notes, "swarm: images are expected on every node (no registry: docker save | docker -H NODE load)")
	}
	n, err := swarmx.LoadNodes(ctx, env.Docker)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(env.Log, "bus-load: %s is a swarm manager: every run is services spread over its nodes\n", env.Docker.DaemonHost())
	return &swarmTarget{loadNodes: n}, notes, nil
}

// measureSwarm is measure on a swarm: one distributed run, its generators' results merged into r.
func (l *busLab) measureSwarm(ctx context.Context, b buses.Spec, r *RunResult, rate float64, rep int) error {
	if b.Name == buses.NATS {
		return fmt.Errorf("nats on a swarm: not supported (the coordinator drives WebSocket buses)")
	}
	p := l.env.Params
	cfgs := l.genConfigs(r, rate, rep)
	run := cfgs[0]
	run.Generator, run.Generators = 0, len(cfgs)
	run.Agents, run.TotalAgents = r.Agents, r.Agents
	run.Rate, run.InFlight, run.ConnectRate = 0, p.InFlight, p.ConnectRate
	if r.Model == loadgen.ModelOpen {
		run.Rate = r.SendRatePerS
	}
	// Each generator has its node's CPUs (GOMAXPROCS), not a cpuset of this host.
	run.CPUAllowance = 0
	l.swarm.seq++
	// The bus's container is sampled as on one host when the lab's daemon runs it (the bus node is the manager,
	// as on the test cluster); its cpuset figures are left out (services have no cpuset).
	var busID string
	sampled := make(chan []busSample, 1)
	srcName := make(chan string, 1)
	stopSampling := func() {}
	onBus := func(ctx context.Context, t swarmx.Task) {
		if t.ContainerID == "" || l.mem.add(ctx, t.ContainerID, b.Name) != nil {
			r.Notes = append(r.Notes, "swarm: the bus container is not on the lab's daemon: its memory and CPU are not sampled")
			return
		}
		busID = t.ContainerID
		sctx, cancel := context.WithCancel(ctx)
		stopSampling = cancel
		go func() {
			ss, src := l.sample(sctx, busID, "")
			srcName <- src
			sampled <- ss
		}()
	}
	res, err := swarmx.RunLoad(ctx, l.env.Docker, swarmx.LoadOptions{OnBus: onBus,
		RunID: l.env.RunID, Name: "al-" + l.env.RunID + "-" + strconv.Itoa(l.swarm.seq),
		BusImage: b.Image, BusArgs: b.Args, BusEnv: []string{"BUS_MAX_CONNECTIONS=" + strconv.Itoa(max(busMaxConn, r.Agents+1000))},
		LoadgenImage: l.genImage, Generators: len(cfgs), Run: run, Log: l.env.Log,
	})
	if res != nil {
		sw := &SwarmRun{Nodes: res.Placement, ConvergeS: res.ConvergeS, RunS: res.RunS, RemoveS: res.RemoveS}
		if c := res.Coordinated; c != nil {
			sw.SkewFlag, sw.SkewNote = c.Summary.SkewFlag, c.Summary.SkewNote
			for _, g := range c.Runs {
				x := SwarmGenerator{Generator: g.Generator, Node: g.Node, OffsetNS: g.OffsetNS, RTTNS: g.RTTNS}
				if g.Result != nil {
					x.Agents, x.Sent, x.Received = g.Result.Config.Agents, g.Result.Sent, g.Result.Received
				}
				sw.Generators = append(sw.Generators, x)
			}
		}
		r.Swarm = sw
	}
	stopSampling()
	var samples []busSample
	if busID != "" {
		r.BusFig.MemSource = <-srcName
		samples = <-sampled
		r.BusFig.MemSources = l.mem.done(busID)
		r.BusFig.ContainerID = busID
		for i := range samples {
			samples[i].BusCoresOK, samples[i].GenCoresOK = false, false
		}
	}
	if err != nil {
		return err
	}
	var results []*loadgen.Result
	for _, g := range res.Coordinated.Runs {
		results = append(results, g.Result)
	}
	c := l.figures(r, results, samples)
	// Not a cpuset of this host: each generator's own allowance (its node's CPUs).
	r.Gen.Cores, r.Gen.Utilization = 0, c.CPU.Utilization
	r.GeneratorBound = c.CPU.Saturated || c.CPU.Utilization > genSaturation
	if end := c.BusAtDrainEnd; end != nil {
		// A fresh bus per run: its counters at the drain end are the run's.
		r.BusFig.MetricsAt = "drain_end"
		busCounters(&r.BusFig, map[string]float64{}, end)
	} else {
		r.Notes = append(r.Notes, "no bus /metrics at the drain end: "+c.BusScrapeErr)
	}
	r.account(c.Outstanding)
	r.Notes = append(r.Notes, fmt.Sprintf("swarm: bus on %v, generators on %v (converged in %.1f s)",
		res.Placement["bus"], res.Placement["generator"], res.ConvergeS))
	if r.Swarm.SkewFlag {
		r.Notes = append(r.Notes, "swarm: "+r.Swarm.SkewNote)
	}
	return nil
}
