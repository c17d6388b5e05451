package messaging

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/agentlab/agentlab/internal/agent"
	"github.com/agentlab/agentlab/internal/containers"
	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/scenarios/buses"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// msgLab runs the scenario's containers and phases.
type msgLab struct {
	env       *Env
	nw        *testcontainers.DockerNetwork
	agentImgs map[string]string // image name (agent, nodeagent) → reference
	timing    faultTiming
	res       *Result
	mem       *scenario.Sampler
	sw        *swarmSide // the swarm the stacks run on; nil: one Docker host
}

// convStack is one bus with its agents and the lab's controller connection to it.
type convStack struct {
	bus    buses.Spec
	alias  string // the bus's name on the lab network
	ctr    *containers.Bus
	ctl    *agent.Controller
	stop   context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	agents map[string]*containers.ConvAgent // the current container of each agent id
	all    []*containers.ConvAgent          // every agent container started, killed ones too (their logs)
	ids    []string
	// On a swarm: the bus's service, node and URL as the agents dial it; each agent's service and node.
	svc, busNode, busURL string
	agentSvc, agentNode  map[string]string
}

// Deadlines.
const (
	msgReadyTimeout  = 60 * time.Second // every agent registered after the stack starts
	msgPhaseSlack    = 20 * time.Second // a clean step may take this long beyond its turns at 20 ms each
	msgControlRetry  = 10 * time.Second // a control message is retried this long while the lab reconnects
	msgReportsWait   = 5 * time.Second  // reports have this long to show in the agents' logs
	msgAgentStarters = 4                // agent containers started at once
)

func (l *msgLab) run(ctx context.Context, buses []buses.Spec, faults []string) error {
	env, p := l.env, l.env.Params
	mem, err := scenario.StartSampler(ctx, env.Env, p.CAdvisor)
	if err != nil {
		return err
	}
	l.mem = mem
	defer func() {
		res := l.mem.Stop(ctx)
		l.res.Memory, l.res.ContainerMem = memoryFigures(res), &res
	}()

	var stacks []*convStack
	defer func() {
		for _, st := range stacks {
			l.teardown(ctx, st)
		}
	}()
	for i, b := range buses {
		st, err := l.startStack(ctx, b, i)
		if st != nil {
			stacks = append(stacks, st)
		}
		if err != nil {
			return err
		}
	}
	steps := p.Repeat * len(stacks) * len(topologies)
	bar := env.Progress("phases", steps+len(stacks)*min(len(faults), 1))
	defer bar.Done()
	var errs []error
	for rep := 0; rep < p.Repeat && ctx.Err() == nil; rep++ {
		for i := range stacks {
			st := stacks[(i+rep)%len(stacks)] // A B, then B A: neither bus always goes first
			for _, pat := range topologies {
				run, err := l.clean(ctx, st, rep, pat)
				l.res.Runs = append(l.res.Runs, run)
				if err != nil {
					errs = append(errs, err)
				}
				bar.Add(1)
			}
		}
	}
	if len(faults) > 0 {
		for _, st := range stacks {
			if ctx.Err() != nil {
				break
			}
			fr, err := l.faultPhase(ctx, st, faults)
			l.res.FaultRuns = append(l.res.FaultRuns, fr...)
			if err != nil {
				errs = append(errs, err)
			}
			bar.Add(1)
		}
	}
	// Reports are read from every agent container's output, killed ones included.
	for _, st := range stacks {
		l.res.absorb(l.readReports(ctx, st), st.bus.Name)
		if l.sw != nil {
			l.res.SwarmTasks = append(l.res.SwarmTasks, l.sw.placement(ctx, st)...)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.Join(errs...)
}

// startStack starts bus b (the i-th) and its agents, and waits until every agent has registered.
func (l *msgLab) startStack(ctx context.Context, b buses.Spec, i int) (*convStack, error) {
	env, p := l.env, l.env.Params
	st := &convStack{bus: b, alias: "bus-" + b.Name, agents: map[string]*containers.ConvAgent{},
		agentSvc: map[string]string{}, agentNode: map[string]string{}}
	var url func(context.Context) (string, error)
	if l.sw != nil {
		u, err := l.sw.startBus(ctx, l, st, swarmPort+uint32(i))
		if err != nil {
			return st, err
		}
		url = u
	} else {
		ctr, err := containers.RunBus(ctx, b.Image,
			testcontainers.WithLabels(dockerx.Labels(env.RunID, "bus")),
			containers.WithNetworkAlias(l.nw, st.alias), containers.WithBusEnv(b.Env))
		st.ctr = ctr
		if err != nil {
			return st, fmt.Errorf("start %s bus: %w", b.Name, err)
		}
		if err := l.mem.Add(ctx, ctr.GetContainerID(), "bus-"+b.Name); err != nil {
			fmt.Fprintf(env.Log, "agent-messaging: sample %s bus: %v\n", b.Name, err)
		}
		url = ctr.WSURL
	}
	st.ctl = agent.NewController(agent.LinkConfig{URL: url, ID: "lab"})
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	st.stop, st.done = cancel, make(chan struct{})
	go func() {
		defer close(st.done)
		_ = st.ctl.Link.Run(cctx)
	}()
	for i := 0; i < p.Agents; i++ {
		st.ids = append(st.ids, agentID(i))
	}
	sem := make(chan struct{}, msgAgentStarters)
	errc := make(chan error, len(st.ids))
	var wg sync.WaitGroup
	for _, id := range st.ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errc <- l.startAgent(ctx, st, id)
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return st, err
		}
	}
	rctx, rcancel := context.WithTimeout(ctx, msgReadyTimeout)
	defer rcancel()
	if err := st.ctl.WaitReady(rctx, st.ids); err != nil {
		return st, fmt.Errorf("%s bus: %w", b.Name, err)
	}
	return st, nil
}

func (l *msgLab) startAgent(ctx context.Context, st *convStack, id string) error {
	env, p := l.env, l.env.Params
	if l.sw != nil {
		return l.sw.startAgent(ctx, l, st, id)
	}
	a, err := containers.RunConvAgent(ctx, l.agentImgs[agentImageName(p.AgentRuntime, agentIndex(id))], id, "ws://"+st.alias+":8080/ws",
		testcontainers.WithLabels(dockerx.Labels(env.RunID, "agent")),
		containers.WithNetworkAlias(l.nw),
		containers.WithConverseArgs("--kib", strconv.Itoa(p.TaskKiB), "--max-run", containers.ConvAgentMaxRun.String()))
	if a != nil {
		st.mu.Lock()
		st.agents[id] = a
		st.all = append(st.all, a)
		st.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("%s bus: %w", st.bus.Name, err)
	}
	if err := l.mem.Add(ctx, a.GetContainerID(), "agent-"+st.bus.Name); err != nil {
		fmt.Fprintf(env.Log, "agent-messaging: sample agent %s: %v\n", id, err)
	}
	return nil
}

func (l *msgLab) teardown(ctx context.Context, st *convStack) {
	if st.stop != nil {
		st.stop()
		<-st.done
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, a := range st.all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = a.Terminate(tctx)
		}()
	}
	wg.Wait()
	if st.ctr != nil { // on a swarm the run's services go together (swarmSide.close)
		_ = st.ctr.Terminate(tctx)
	}
}

// control sends a control message, retrying while the lab's link is between connections.
func control(ctx context.Context, send func() error) error {
	ctx, cancel := context.WithTimeout(ctx, msgControlRetry)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		err := send()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("control message: %w (last: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// clean runs one pattern on one stack, step by step; its figures come from the agents' reports later.
func (l *msgLab) clean(ctx context.Context, st *convStack, rep int, pattern string) (MessagingRun, error) {
	p := l.env.Params
	run := MessagingRun{Bus: st.bus.Name, Pattern: pattern, Repeat: rep, Agents: p.Agents, Conversations: p.Conversations,
		TurnsPlanned: int64(p.Conversations * p.Turns)}
	for k, step := range convPlan(pattern, p.Agents, p.Conversations, p.Turns) {
		phase := fmt.Sprintf("%s-r%d-%s-%d", st.bus.Name, rep, pattern, k)
		run.Phases = append(run.Phases, phase)
		start := time.Now()
		if err := control(ctx, func() error { return st.ctl.Go(phase, step, p.TaskKiB) }); err != nil {
			return run, fmt.Errorf("%s: %w", phase, err)
		}
		dctx, cancel := context.WithTimeout(ctx, msgPhaseSlack+time.Duration(len(step)*p.Turns)*20*time.Millisecond)
		err := st.ctl.WaitDone(dctx, phase, len(step))
		cancel()
		run.WallS += time.Since(start).Seconds()
		if err != nil {
			run.Hung += len(step) - st.ctl.Done(phase)
			_ = control(ctx, func() error { return st.ctl.Stop(phase) })
		}
		if err := control(ctx, func() error { return st.ctl.Report(phase) }); err != nil {
			return run, fmt.Errorf("%s: %w", phase, err)
		}
		if ctx.Err() != nil {
			return run, ctx.Err()
		}
	}
	return run, nil
}

// faultPhase runs the parallel pattern without end and injects each fault in turn, each followed by its window.
func (l *msgLab) faultPhase(ctx context.Context, st *convStack, faults []string) ([]FaultRun, error) {
	p, tm := l.env.Params, l.timing
	phase := st.bus.Name + "-faults"
	steps := convPlan(topoParallel, p.Agents, p.Conversations, 0)
	if err := control(ctx, func() error { return st.ctl.Go(phase, steps[0], p.TaskKiB) }); err != nil {
		return nil, fmt.Errorf("%s: %w", phase, err)
	}
	var out []FaultRun
	var errs []error
	if !sleepCtx(ctx, tm.Warm) {
		return out, ctx.Err()
	}
	target := agentID(1) // a member of the first conversation (the one disconnected)
	victim := agentID(2) // a member of the second (the one killed)
	for _, f := range faults {
		fr := FaultRun{Bus: st.bus.Name, Fault: f, Phase: phase}
		// A snapshot of every agent's report first: a killed agent's figures up to here survive in its output.
		if err := control(ctx, func() error { return st.ctl.Report(phase) }); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", phase, err))
		}
		var err error
		var before map[string]string // a node fault's agents' running tasks before it
		fr.InjectedNS = time.Now().UnixNano()
		switch f {
		case faultBusRestart:
			fr.Target = "bus"
			err = l.restartBus(ctx, st)
		case faultBusPause:
			fr.Target = "bus"
			err = l.pauseBus(ctx, st)
		case faultAgentDisconnect:
			fr.Target = target
			err = l.disconnectAgent(ctx, st, target)
		case faultAgentKill:
			fr.Target = victim
			err = l.killAgent(ctx, st, victim)
		case faultNodePartition, faultNodeLost:
			before = l.sw.running(ctx, st)
			fr.Target, err = l.sw.nodeFault(ctx, f, tm.NodeHold)
		}
		fr.BackNS = time.Now().UnixNano()
		if err != nil {
			fr.Error = err.Error()
			errs = append(errs, fmt.Errorf("%s %s: %w", st.bus.Name, f, err))
		}
		window := tm.Window
		if slices.Contains(nodeFaults, f) {
			window = tm.NodeWindow
		}
		waited := ctx.Err() == nil && sleepCtx(ctx, window)
		if before != nil {
			fr.Replaced = l.sw.replaced(ctx, st, before)
		}
		if !waited {
			fr.EndNS = time.Now().UnixNano()
			fr.Interrupted = true
			out = append(out, fr)
			return out, ctx.Err()
		}
		fr.EndNS = time.Now().UnixNano()
		out = append(out, fr)
	}
	if err := control(ctx, func() error { return st.ctl.Stop(phase) }); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", phase, err))
	}
	if err := control(ctx, func() error { return st.ctl.Report(phase) }); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", phase, err))
	}
	return out, errors.Join(errs...)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// faultCtx bounds one fault's Engine API calls.
func faultCtx(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d+15*time.Second)
}

// restartBus restarts the bus container (SIGTERM, the restart grace, SIGKILL) and waits for /health.
func (l *msgLab) restartBus(ctx context.Context, st *convStack) error {
	fctx, cancel := faultCtx(ctx, l.timing.Restart)
	defer cancel()
	secs := int(l.timing.Restart / time.Second)
	if _, err := l.env.Docker.ContainerRestart(fctx, st.ctr.GetContainerID(), client.ContainerRestartOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("restart bus: %w", err)
	}
	return waitHealthy(fctx, st.ctr)
}

func waitHealthy(ctx context.Context, b *containers.Bus) error {
	hc := &http.Client{Timeout: time.Second}
	t := time.NewTicker(containers.BusPollInterval)
	defer t.Stop()
	for {
		if u, err := b.HTTPURL(ctx); err == nil { // asked each time: the host port may change on restart
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u+"/health", nil)
			if resp, err := hc.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bus not healthy again: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// pauseBus freezes the bus (cgroup freezer) for Hold.
func (l *msgLab) pauseBus(ctx context.Context, st *convStack) error {
	fctx, cancel := faultCtx(ctx, l.timing.Hold)
	defer cancel()
	id := st.ctr.GetContainerID()
	if _, err := l.env.Docker.ContainerPause(fctx, id, client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause bus: %w", err)
	}
	sleepCtx(fctx, l.timing.Hold)
	// Unpause even when ctx is done: a frozen container cannot be stopped by the cleanup.
	uctx, ucancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer ucancel()
	if _, err := l.env.Docker.ContainerUnpause(uctx, id, client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("unpause bus: %w", err)
	}
	return nil
}

// disconnectAgent takes the agent off the lab network for Hold, then puts it back.
func (l *msgLab) disconnectAgent(ctx context.Context, st *convStack, id string) error {
	fctx, cancel := faultCtx(ctx, l.timing.Hold)
	defer cancel()
	st.mu.Lock()
	a := st.agents[id]
	st.mu.Unlock()
	nwID := l.nw.ID
	if _, err := l.env.Docker.NetworkDisconnect(fctx, nwID, client.NetworkDisconnectOptions{Container: a.GetContainerID(), Force: true}); err != nil {
		return fmt.Errorf("disconnect %s: %w", id, err)
	}
	sleepCtx(fctx, l.timing.Hold)
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer ccancel()
	if _, err := l.env.Docker.NetworkConnect(cctx, nwID, client.NetworkConnectOptions{Container: a.GetContainerID()}); err != nil {
		return fmt.Errorf("reconnect %s: %w", id, err)
	}
	return nil
}

// killAgent SIGKILLs the agent's container and starts a replacement with the same id (a new container: the
// killed one stays, stopped, for its logs, and is removed with the rest).
func (l *msgLab) killAgent(ctx context.Context, st *convStack, id string) error {
	fctx, cancel := faultCtx(ctx, 0)
	defer cancel()
	st.mu.Lock()
	a := st.agents[id]
	st.mu.Unlock()
	if _, err := l.env.Docker.ContainerKill(fctx, a.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return fmt.Errorf("kill %s: %w", id, err)
	}
	l.mem.S.Remove(a.GetContainerID())
	return l.startAgent(fctx, st, id)
}

// readReports collects the report lines of every agent container of st.
func (l *msgLab) readReports(ctx context.Context, st *convStack) []ctrReport {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), msgReportsWait+10*time.Second)
	defer cancel()
	want := map[string]bool{}
	for _, r := range l.res.Runs {
		if r.Bus == st.bus.Name {
			for _, ph := range r.Phases {
				want[ph] = true
			}
		}
	}
	want[st.bus.Name+"-faults"] = len(l.res.FaultRuns) > 0
	var out []ctrReport
	deadline := time.Now().Add(msgReportsWait)
	for {
		out = out[:0]
		per := map[string]int{}
		for _, a := range st.all {
			rs, err := containerReports(ctx, l.env.Docker, a.GetContainerID())
			if err != nil {
				fmt.Fprintf(l.env.Log, "agent-messaging: reports of %s: %v\n", a.ID, err)
			}
			for _, r := range rs {
				out = append(out, ctrReport{Container: a.GetContainerID(), Report: r})
			}
		}
		if l.sw != nil {
			rs, err := l.sw.reports(ctx, st)
			if err != nil {
				fmt.Fprintf(l.env.Log, "agent-messaging: reports of the %s stack's agents: %v\n", st.bus.Name, err)
			}
			out = append(out, rs...)
		}
		for _, r := range out {
			per[r.Phase]++
		}
		complete := true
		for ph, w := range want {
			complete = complete && (!w || per[ph] >= len(st.ids))
		}
		if complete || time.Now().After(deadline) || !sleepCtx(ctx, 100*time.Millisecond) {
			return out
		}
	}
}

func containerReports(ctx context.Context, cli *client.Client, id string) ([]agent.Report, error) {
	out, _, err := dockerx.Logs(ctx, cli, id)
	if err != nil {
		return nil, err
	}
	return agent.DecodeReports(out)
}
