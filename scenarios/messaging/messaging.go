package messaging

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go/network"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/agent"
	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/scenarios/buses"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// agent-messaging (seed Test 5): persistent agent containers converse through each bus in the seed's three
// patterns, every message hash-chained so that lost, repeated, reordered and corrupted turns are counted, and then
// under faults (the bus restarted or paused, an agent's network cut, an agent killed and replaced).
//
// Both buses' stacks (a bus and --agents agents on one lab network) stand side by side for the whole run; the
// clean phases alternate between them (A B, then B A, …, --repeat times), so a drift of the machine hits both.
// Fault phases come last, one per bus, because a fault may leave a stack worse than it found it.

type messagingScenario struct{ flags *Flags }

// New is the agent-messaging scenario, reading its own flags from f.
func New(f *Flags) scenario.Scenario { return messagingScenario{flags: f} }

func (messagingScenario) Name() string      { return "agent-messaging" }
func (messagingScenario) NeedsDocker() bool { return true }
func (messagingScenario) Describe() string {
	return "persistent agent containers converse through each bus (direct, group ring, parallel), context checked by hash chain, under faults (seed Test 5)"
}

// Conversation topologies (the seed's "conversation patterns"; the results files keep the key "pattern"), in the
// order they run.
const (
	topoDirect   = "direct"   // pairs A ↔ B, one conversation at a time
	topoGroup    = "group"    // rings A → B → C → A, one conversation at a time
	topoParallel = "parallel" // every conversation (pairs) at once
)

var topologies = []string{topoDirect, topoGroup, topoParallel}

// Faults.
const (
	faultBusRestart      = "bus-restart"
	faultBusPause        = "bus-pause"
	faultAgentDisconnect = "agent-disconnect"
	faultAgentKill       = "agent-kill"
)

var allFaults = []string{faultBusRestart, faultBusPause, faultAgentDisconnect, faultAgentKill}

// --quick sizes: both buses, three patterns, one fault of each kind, well under two minutes.
const (
	quickMsgAgents        = 6
	quickMsgConversations = 3
	quickMsgTurns         = 50
	quickMsgRepeat        = 2
)

// Fault timing. A fault run ends on time whatever the bus does: every step has a deadline.
type faultTiming struct {
	Warm    time.Duration // conversations run before the first fault
	Hold    time.Duration // a pause or a disconnection lasts this long
	Window  time.Duration // after the fault is over, the conversations have this long to move again
	Restart time.Duration // ContainerRestart's stop grace for the bus (SIGTERM, then SIGKILL)
	// A node fault (a swarm) lasts NodeHold: longer than an agent's silence limit (--dead 3s), so the agents on
	// the node notice. NodeWindow follows it: a lost node's agents come back as new tasks (daemon up, node ready,
	// containers created), which takes seconds more than a container's reconnect.
	NodeHold, NodeWindow time.Duration
}

var (
	defaultFaultTiming = faultTiming{Warm: 2 * time.Second, Hold: 3 * time.Second, Window: 5 * time.Second, Restart: 5 * time.Second,
		NodeHold: 5 * time.Second, NodeWindow: 20 * time.Second}
	quickFaultTiming = faultTiming{Warm: time.Second, Hold: 2 * time.Second, Window: 3 * time.Second, Restart: 5 * time.Second,
		NodeHold: 5 * time.Second, NodeWindow: 15 * time.Second}
)

// ApplyQuick implements Quicker.
func (s messagingScenario) ApplyQuick(sp *scenario.Params, set func(string) bool) {
	p := Params{*sp, *s.flags}
	p.applyQuick(set)
	*sp, *s.flags = p.Params, p.Flags
}

func (p *Params) applyQuick(set func(string) bool) {
	if !set("agents") {
		p.Agents = quickMsgAgents
	}
	if !set("conversations") {
		p.Conversations = quickMsgConversations
	}
	if !set("turns") {
		p.Turns = quickMsgTurns
	}
	if !set("repeat") {
		p.Repeat = quickMsgRepeat
	}
	if !set("faults") {
		p.Faults = "all"
	}
}

// Check implements Checker.
func (s messagingScenario) Check(sp scenario.Params) error { return Params{sp, *s.flags}.check() }

func (p Params) check() error {
	if p.Agents < 3 {
		return fmt.Errorf("--agents must be ≥ 3 for agent-messaging (a group ring has three members), got %d", p.Agents)
	}
	if p.Conversations < 1 || p.Turns < 2 || p.Repeat < 1 {
		return fmt.Errorf("agent-messaging needs --conversations ≥ 1, --turns ≥ 2, --repeat ≥ 1 (got %d, %d, %d)",
			p.Conversations, p.Turns, p.Repeat)
	}
	switch p.AgentRuntime {
	case "", RuntimeGo, RuntimeNode, RuntimeMixed: // "" (params made in code, not from flags) is go
	default:
		return fmt.Errorf("--agent-runtime %q: want %s, %s or %s", p.AgentRuntime, RuntimeGo, RuntimeNode, RuntimeMixed)
	}
	if p.TaskKiB > 1024 {
		return fmt.Errorf("--task-kib %d: a turn's work is at most 1024 KiB in agent-messaging", p.TaskKiB)
	}
	if _, err := buses.Expand(p.Bus, []string{"go", "rust", buses.Node}); err != nil {
		return err
	}
	if err := buses.CheckPlant(p.Params, []string{"go", "rust", buses.Node}); err != nil {
		return err
	}
	if _, err := buses.ParseBusImages(p.BusImages); err != nil {
		return err
	}
	_, err := parseFaults(p.Faults)
	return err
}

// parseFaults reads --faults: "" none, "all" every single-host kind, else a comma-separated list of any kind
// (node faults too: targetFaults checks them against the daemon).
func parseFaults(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return nil, nil
	}
	if s == "all" {
		return allFaults, nil
	}
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(allFaults, f) && !slices.Contains(nodeFaults, f) {
			return nil, fmt.Errorf("--faults: unknown fault %q (want %s or all; on a swarm %s)", f,
				strings.Join(allFaults, ","), strings.Join(nodeFaults, ","))
		}
		if !seen[f] {
			out, seen[f] = append(out, f), true
		}
	}
	return out, nil
}

// convPlan lays out the conversations of a pattern over agents a0…a(n-1). Sequential patterns return one
// conversation per step; parallel returns one step holding them all.
func convPlan(pattern string, agents, conversations, turns int) [][]agent.ConvSpec {
	id := func(i int) string { return agentID(i % agents) }
	var steps [][]agent.ConvSpec
	switch pattern {
	case topoDirect:
		for k := 0; k < conversations; k++ {
			steps = append(steps, []agent.ConvSpec{{ID: fmt.Sprintf("d%d", k), Members: []string{id(2 * k), id(2*k + 1)}, Turns: turns}})
		}
	case topoGroup:
		for k := 0; k < conversations; k++ {
			steps = append(steps, []agent.ConvSpec{{ID: fmt.Sprintf("g%d", k), Members: []string{id(3 * k), id(3*k + 1), id(3*k + 2)}, Turns: turns}})
		}
	case topoParallel:
		var all []agent.ConvSpec
		for k := 0; k < conversations; k++ {
			// Pairs spread over every agent; with more conversations than pairs an agent holds several at once.
			a, b := (2*k)%agents, (2*k+1)%agents
			if a == b {
				b = (b + 1) % agents
			}
			all = append(all, agent.ConvSpec{ID: fmt.Sprintf("p%d", k), Members: []string{id(a), id(b)}, Turns: turns})
		}
		steps = append(steps, all)
	}
	return steps
}

func agentID(i int) string { return fmt.Sprintf("a%d", i) }

// agentIndex is agentID's inverse (-1 for an id agentID does not make).
func agentIndex(id string) int {
	i, err := strconv.Atoi(strings.TrimPrefix(id, "a"))
	if err != nil || !strings.HasPrefix(id, "a") {
		return -1
	}
	return i
}

// Run implements Scenario.
func (s messagingScenario) Run(ctx context.Context, senv *scenario.Env) (*scenario.Outcome, error) {
	env := &Env{Env: senv, Params: Params{senv.Params, *s.flags}}
	p := env.Params
	if p.SkipRust && p.Bus == "rust" {
		return nil, errors.New("--bus rust with --skip-rust leaves nothing to measure")
	}
	buses, notes, err := buses.Images(ctx, env.Env, "agent-messaging")
	if err != nil {
		return nil, err
	}
	agentImgs := map[string]string{}
	for i := 0; i < min(p.Agents, 2); i++ {
		name := agentImageName(p.AgentRuntime, i)
		if agentImgs[name], err = env.Images.Ensure(ctx, name); err != nil {
			return nil, fmt.Errorf("agent-messaging --agent-runtime %s: %w", p.AgentRuntime, err)
		}
	}
	refs := slices.Sorted(maps.Values(agentImgs))
	for _, b := range buses {
		refs = append(refs, b.Image)
	}
	sw, swNotes, err := newSwarmSide(ctx, env, refs)
	if err != nil {
		return nil, fmt.Errorf("agent-messaging on a swarm: %w", err)
	}
	if sw != nil {
		notes = append(notes, swNotes...)
		defer func() {
			if err := sw.close(ctx); err != nil {
				fmt.Fprintf(env.Log, "agent-messaging: remove the run's services: %v\n", err)
			}
		}()
	}
	faults, err := targetFaults(p.Faults, sw)
	if err != nil {
		return nil, err
	}
	timing := defaultFaultTiming
	if p.Quick {
		timing = quickFaultTiming
	}
	res := newMessagingResult(env, buses, faults, timing, notes)
	out := &scenario.Outcome{Files: []scenario.File{{Name: "agent-messaging.json", Value: res}}, Report: res.WriteTable}

	lab := &msgLab{env: env, agentImgs: agentImgs, timing: timing, res: res, sw: sw}
	if sw == nil {
		nw, err := network.New(ctx, network.WithLabels(dockerx.Labels(env.RunID, "network")))
		if err != nil {
			return out, fmt.Errorf("lab network: %w", err)
		}
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := nw.Remove(rctx); err != nil {
				fmt.Fprintf(env.Log, "agent-messaging: remove network: %v\n", err)
			}
		}()
		lab.nw = nw
	}
	runErr := lab.run(ctx, buses, faults)
	res.finish()
	res.Interrupted = ctx.Err() != nil
	d := decide.Messaging(res.decisionInputs())
	res.Decision = &d
	out.Decisions.AgentMessaging = &d
	return out, runErr
}
