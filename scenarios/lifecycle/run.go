package lifecycle

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// lifecycleSet selects the patterns of a lifecycle scenario.
type lifecycleSet struct {
	spawnProcess, persistentProcess, spawnDocker, spawnDockerRaw, persistentDocker bool
}

// runLifecycle builds the selected patterns, runs them interleaved and packs spawn-comparison.json.
func runLifecycle(ctx context.Context, env *Env, set lifecycleSet) (*scenario.Outcome, error) {
	p := env.Params
	bin, err := env.Images.Binary(ctx, "agent")
	if err != nil {
		return nil, fmt.Errorf("agent binary: %w", err)
	}
	var image string
	if set.spawnDocker || set.spawnDockerRaw || set.persistentDocker {
		if image, err = env.Images.Ensure(ctx, "agent"); err != nil {
			return nil, err
		}
	}
	labels := dockerx.Labels(env.RunID, "agent")
	var pats []pattern
	if set.spawnProcess {
		pats = append(pats, &spawnProcess{bin: bin, plant: p.Plant.AgentArgs()})
	}
	if set.persistentProcess {
		pats = append(pats, &persistentProcess{bin: bin, agents: p.Agents, plant: p.Plant.AgentArgs()})
	}
	// A unix socket is this kernel's (also from inside the lab image, where the socket is mounted): its host's
	// /proc/meminfo is ours. Any other transport may lead to another machine.
	remote := env.Docker != nil && !strings.HasPrefix(env.Docker.DaemonHost(), "unix://")
	if set.spawnDocker {
		pats = append(pats, &spawnDocker{plant: p.Plant.AgentArgs(), cli: env.Docker, image: image, labels: labels, viaTC: true, remoteDaemon: remote})
	}
	if set.spawnDockerRaw {
		pats = append(pats, &spawnDocker{plant: p.Plant.AgentArgs(), cli: env.Docker, image: image, labels: labels, remoteDaemon: remote})
	}
	var sampler *scenario.Sampler
	if set.persistentDocker {
		if sampler, err = scenario.StartSampler(ctx, env.Env, p.CAdvisor); err != nil {
			return nil, err
		}
		pats = append(pats, &persistentDocker{plant: p.Plant.AgentArgs(), cli: env.Docker, image: image, labels: labels, agents: p.Agents, mem: sampler})
	}
	var hold func(context.Context)
	if sampler != nil {
		hold = sampler.Hold
	}
	cmp, runErr := runPatterns(ctx, env, pats, hold)
	report := cmp.WriteTable
	if sampler != nil {
		res := sampler.Stop(ctx)
		cmp.ContainerMem = &res
		report = func(w io.Writer) error {
			if err := cmp.WriteTable(w); err != nil {
				return err
			}
			return scenario.ReportContainerMemory(w, res)
		}
	}
	out := &scenario.Outcome{
		Files:     []scenario.File{{Name: "spawn-comparison.json", Value: cmp}},
		Report:    report,
		Decisions: decide.Decisions{SpawnPatterns: cmp.Decision},
	}
	return out, runErr
}
