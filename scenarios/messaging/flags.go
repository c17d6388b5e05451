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
}

// Register defines agent-messaging's flags on fs, with their defaults.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.IntVar(&f.Conversations, "conversations", 5, "agent-messaging: conversations per pattern (--quick: 3)")
	fs.IntVar(&f.Turns, "turns", 100, "agent-messaging: turns per conversation (--quick: 50)")
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
