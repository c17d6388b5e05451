package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/runtimes"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// lifecycleSet selects the patterns of a lifecycle scenario.
type lifecycleSet struct {
	spawnProcess, persistentProcess, spawnDocker, spawnDockerRaw, persistentDocker bool
	// spawnNpx: the Node.js agent through `npx --no-install <local package>` per task (the seed's exact path).
	spawnNpx bool
}

// runtimeLabel is a runtime image's agentlab.runtime label ("" if it has none or cannot be read).
func runtimeLabel(ctx context.Context, env *Env, image string) string {
	if env.Docker == nil {
		return ""
	}
	img, err := env.Docker.ImageInspect(ctx, image)
	if err != nil || img.Config == nil {
		return ""
	}
	return img.Config.Labels[images.RuntimeLabel]
}

// runLifecycle builds the selected patterns, for every agent language --runtime names (and every --agent-image),
// runs them interleaved and packs spawn-comparison.json. A language whose host program or image is missing is left
// out with one line.
func runLifecycle(ctx context.Context, env *Env, set lifecycleSet) (*scenario.Outcome, error) {
	p := env.Params
	rts, err := runtimes.Parse(p.Runtimes)
	if err != nil {
		return nil, err
	}
	users, err := parseAgentImages(p.AgentImages)
	if err != nil {
		return nil, err
	}
	docker := set.spawnDocker || set.spawnDockerRaw || set.persistentDocker
	labels := dockerx.Labels(env.RunID, "agent")
	// A unix socket is this kernel's (also from inside the lab image, where the socket is mounted): its host's
	// /proc/meminfo is ours. Any other transport may lead to another machine.
	remote := env.Docker != nil && !strings.HasPrefix(env.Docker.DaemonHost(), "unix://")
	env.Versions = map[string]string{}
	skip := func(format string, args ...any) { fmt.Fprintf(env.Log, "spawn: "+format+"\n", args...) }

	var procPats, dockerPats []pattern
	var spawnDockers, persistentDockers []pattern
	for _, rt := range rts {
		lang := rt.Name
		var argv []string
		if set.spawnProcess || set.persistentProcess || set.spawnNpx {
			if rt.Program == "" {
				bin, err := env.Images.Binary(ctx, "agent")
				if err != nil {
					return nil, fmt.Errorf("agent binary: %w", err)
				}
				argv = []string{bin}
			} else {
				spec := images.Specs[rt.Image]
				ip, err := rt.Interpreter()
				if errors.Is(err, runtimes.ErrMissing) {
					skip("%s process patterns left out: %v", lang, err)
				} else if err != nil {
					return nil, err
				} else {
					argv = []string{ip, env.Images.SourcePath(spec.Name, spec.Files[0])}
				}
			}
		}
		if v, err := rt.Version(ctx, runtime.Version()); err == nil {
			env.Versions[lang] = v
		}
		if argv != nil {
			if set.spawnProcess {
				procPats = append(procPats, &spawnProcess{argv: argv, lang: lang})
			}
			if set.persistentProcess {
				procPats = append(procPats, &persistentProcess{argv: argv, lang: lang, agents: p.Agents})
			}
			if set.spawnNpx && lang == "node" {
				if npx, err := exec.LookPath("npx"); err != nil {
					skip("spawn-npx left out: npx not on PATH (Debian package npm)")
				} else {
					pkg := filepath.Dir(argv[1])
					procPats = append(procPats, &spawnProcess{argv: []string{npx, "--no-install", pkg}, lang: lang, npx: true})
				}
			}
		}
		if !docker {
			continue
		}
		image, err := env.Images.Ensure(ctx, rt.Image)
		if errors.Is(err, images.ErrNoRuntime) {
			skip("%s container patterns left out: %v", lang, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		if v := runtimeLabel(ctx, env, image); v != "" && env.Versions[lang] == "" {
			env.Versions[lang] = v
		}
		if set.spawnDocker {
			spawnDockers = append(spawnDockers, &spawnDocker{cli: env.Docker, image: image, lang: lang, labels: labels, viaTC: true, remoteDaemon: remote})
		}
		// The raw Engine API path answers a Go-lab question (what testcontainers adds): the Go agent's only.
		if set.spawnDockerRaw && lang == "go" {
			spawnDockers = append(spawnDockers, &spawnDocker{cli: env.Docker, image: image, lang: lang, labels: labels, remoteDaemon: remote})
		}
		if set.persistentDocker {
			persistentDockers = append(persistentDockers, &persistentDocker{cli: env.Docker, image: image, lang: lang, labels: labels, agents: p.Agents})
		}
	}
	for _, u := range users {
		if !docker {
			break
		}
		// Nothing is pulled: a user's image must be on the daemon already (testcontainers would try a registry).
		if _, err := env.Docker.ImageInspect(ctx, u.image); err != nil {
			return nil, fmt.Errorf("%w: --agent-image %s=%s: image not found (nothing is pulled: build or load it first)",
				scenario.ErrEnvironment, u.name, u.image)
		}
		env.Versions[u.name] = u.image
		if set.spawnDocker {
			spawnDockers = append(spawnDockers, &spawnDocker{cli: env.Docker, image: u.image, lang: u.name, labels: labels, viaTC: true, remoteDaemon: remote})
		}
		if set.persistentDocker {
			persistentDockers = append(persistentDockers, &persistentDocker{cli: env.Docker, image: u.image, lang: u.name, labels: labels, agents: p.Agents})
		}
	}
	if len(procPats)+len(spawnDockers)+len(persistentDockers) == 0 {
		return nil, fmt.Errorf("%w: no agent runtime could run (--runtime %s)", scenario.ErrEnvironment, p.Runtimes)
	}
	dockerPats = append(spawnDockers, persistentDockers...)
	pats := append(procPats, dockerPats...)
	var sampler *scenario.Sampler
	if len(persistentDockers) > 0 {
		if sampler, err = scenario.StartSampler(ctx, env.Env, p.CAdvisor); err != nil {
			return nil, err
		}
		for _, pd := range persistentDockers {
			pd.(*persistentDocker).mem = sampler
		}
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
