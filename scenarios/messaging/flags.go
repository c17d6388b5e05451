package messaging

import (
	"flag"

	"github.com/agentlab/agentlab/scenarios/scenario"
)

// Flags are agent-messaging's own flags (the shared ones — --agents, --bus, --repeat, --faults, --task-kib — are in
// scenario.Params). Their JSON keys are final-report.json's parameters, flattened beside the shared ones.
type Flags struct {
	Conversations int `json:"conversations"` // conversations per pattern
	Turns         int `json:"turns"`         // turns per conversation (clean runs)
	// AgentRuntime is the conversing agents' runtime: go (agentlab/agent), node (agentlab/nodeagent: the seed's
	// own runtime) or mixed (even agents Go, odd ones Node.js, so every pair and ring holds both).
	AgentRuntime string `json:"agent_runtime"`
}

// Register defines agent-messaging's flags on fs, with their defaults.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.IntVar(&f.Conversations, "conversations", 5, "agent-messaging: conversations per pattern (--quick: 3)")
	fs.IntVar(&f.Turns, "turns", 100, "agent-messaging: turns per conversation (--quick: 50)")
	fs.StringVar(&f.AgentRuntime, "agent-runtime", RuntimeGo, "agent-messaging: the agents' runtime: go, node or mixed (even agents Go, odd Node.js)")
}

// Params are what agent-messaging reads: the shared flags and its own.
type Params struct {
	scenario.Params
	Flags
}

// Env is the scenario's environment with agent-messaging's parameters in place of the shared ones alone.
type Env struct {
	*scenario.Env
	Params Params
}

// Agent runtimes of --agent-runtime.
const (
	RuntimeGo    = "go"
	RuntimeNode  = "node"
	RuntimeMixed = "mixed"
)

// agentImageName is the image (internal/images) agent i runs from under runtime rt.
func agentImageName(rt string, i int) string {
	if rt == RuntimeNode || (rt == RuntimeMixed && i%2 == 1) {
		return "nodeagent"
	}
	return "agent"
}
