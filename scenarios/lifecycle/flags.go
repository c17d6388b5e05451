package lifecycle

import (
	"flag"
	"fmt"
	"strings"

	"github.com/agentlab/agentlab/internal/runtimes"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// Flags are the lifecycle family's own flags (the shared ones — --iterations, --agents, --task-kib — are in
// scenario.Params). Their JSON keys are final-report.json's parameters, flattened beside the shared ones.
type Flags struct {
	Concurrency int `json:"concurrency"` // tasks in flight at once per pattern
	Rounds      int `json:"rounds"`      // interleaved rounds in comparisons
	Warmup      int `json:"warmup"`      // untimed tasks per pattern before measuring
	// Runtimes are the agent languages measured (internal/runtimes): go, node, python, or all.
	Runtimes string `json:"runtimes"`
	// AgentImages are users' agent images (NAME=IMAGE,...) run in the container patterns beside the lab's.
	AgentImages string `json:"agent_images,omitempty"`
}

// Register defines the lifecycle flags on fs, with their defaults.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.IntVar(&f.Concurrency, "concurrency", 1, "lifecycle: tasks in flight at once per pattern")
	fs.IntVar(&f.Rounds, "rounds", 10, "lifecycle: interleaved rounds: patterns alternate in blocks, order rotated (--quick: 6, the fewest a 95 % CI needs)")
	fs.IntVar(&f.Warmup, "warmup", 2, "lifecycle: untimed warm-up tasks per pattern")
	fs.StringVar(&f.Runtimes, "runtime", "all", "lifecycle: agent languages, comma-separated: go, node, python, or all (a runtime the host lacks is skipped with one line; node adds spawn-npx)")
	fs.StringVar(&f.AgentImages, "agent-image", "", "lifecycle: NAME=IMAGE[,NAME=IMAGE]: a user's agent image (docs/agents.md) in the container patterns, its patterns named <pattern>-NAME")
}

// check validates the lifecycle flags.
func (f Flags) check() error {
	for _, c := range []struct {
		name   string
		v, min int
	}{{"concurrency", f.Concurrency, 1}, {"rounds", f.Rounds, 1}, {"warmup", f.Warmup, 0}} {
		if c.v < c.min {
			return fmt.Errorf("--%s must be ≥ %d, got %d", c.name, c.min, c.v)
		}
	}
	if _, err := runtimes.Parse(f.Runtimes); err != nil {
		return fmt.Errorf("--runtime: %w", err)
	}
	if _, err := parseAgentImages(f.AgentImages); err != nil {
		return fmt.Errorf("--agent-image: %w", err)
	}
	return nil
}

// agentImage is one --agent-image entry.
type agentImage struct{ name, image string }

// parseAgentImages reads NAME=IMAGE[,NAME=IMAGE]; a name must not be a runtime's (its patterns would collide).
func parseAgentImages(s string) ([]agentImage, error) {
	if s == "" {
		return nil, nil
	}
	var out []agentImage
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		name, img, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" || img == "" {
			return nil, fmt.Errorf("%q: want NAME=IMAGE", part)
		}
		if _, isRT := runtimes.ByName(name); isRT || seen[name] || strings.ContainsAny(name, " .=/:") {
			return nil, fmt.Errorf("%q: NAME must be new, without spaces, dots, slashes or colons, and not a runtime's", name)
		}
		seen[name] = true
		out = append(out, agentImage{name, img})
	}
	return out, nil
}

// Params are what the lifecycle scenarios read: the shared flags and their own.
type Params struct {
	scenario.Params
	Flags
}

// Env is the scenario's environment with the lifecycle parameters in place of the shared ones alone.
type Env struct {
	*scenario.Env
	Params Params
	// Versions are the measured languages' runtime versions (go, node, python, or an agent image's name → its
	// image), recorded in spawn-comparison.json.
	Versions map[string]string
}
