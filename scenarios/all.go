package scenarios

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// allScenario is the full lab (the seed's run-all.sh): its scenarios one after another in one run, with one run
// id. Each scenario gets its own copy of the parameters, prepared as if it had been run alone (its --quick sizes,
// its checks): the lab's flags are shared, but "--quick" means a different size to each. A scenario that fails
// does not stop the others; the run's error says which failed.
type allScenario struct {
	subs []scenario.Scenario
	// skipped are scenarios left out before the run (--skip-docker), with the reason.
	skipped []decide.ScenarioRun
}

// All composes the full lab from scenarios of the registry, run in this order.
func All(subs ...scenario.Scenario) scenario.Scenario { return allScenario{subs: subs} }

func (allScenario) Name() string { return "all" }
func (a allScenario) Describe() string {
	names := make([]string, len(a.subs))
	for i, s := range a.subs {
		names[i] = s.Name()
	}
	return "the full lab: " + strings.Join(names, ", ") + " in one run; final-report.json with the migration scenario and the cost analysis"
}

func (a allScenario) NeedsDocker() bool {
	for _, s := range a.subs {
		if s.NeedsDocker() {
			return true
		}
	}
	return false
}

// WithoutDocker implements DockerSkipper: every scenario's daemon-free part; the rest is reported as not run.
func (a allScenario) WithoutDocker() scenario.Scenario {
	out := allScenario{skipped: a.skipped}
	for _, s := range a.subs {
		if s.NeedsDocker() {
			if ds, ok := s.(scenario.DockerSkipper); ok && !ds.WithoutDocker().NeedsDocker() {
				s = ds.WithoutDocker()
			} else {
				out.skipped = append(out.skipped, decide.ScenarioRun{Name: s.Name(), Status: decide.StatusSkipped,
					Reason: "--skip-docker: it needs a Docker daemon"})
				continue
			}
		}
		out.subs = append(out.subs, s)
	}
	return out
}

// Check implements Checker: every scenario's parameters are prepared and checked before anything starts, so a bad
// flag is a usage error (exit 2), not a failure half-way through.
func (a allScenario) Check(p scenario.Params) error {
	var errs []error
	for _, s := range a.subs {
		sp := p
		if err := scenario.Prepare(s, &sp, sp.IsSet); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// allEstimate is the expected wall time of each scenario (quick, full) on the reference machine (2 shared cores,
// images already built: quick measured with --scenario all --quick, run 20261205-014441-83a1b2), only for the ETA of the progress display; scaled by how the
// run is going so far, by at most ×2 either way (one slow scenario says little about the next).
var allEstimate = map[string][2]time.Duration{
	"spawn":                {55 * time.Second, 3 * time.Minute},
	"spawn (process only)": {5 * time.Second, 30 * time.Second},
	"bus-load":             {480 * time.Second, 25 * time.Minute},
	"ai-streaming":         {30 * time.Second, 10 * time.Minute},
	"agent-messaging":      {40 * time.Second, 5 * time.Minute},
}

func estimate(name string, quick bool) time.Duration {
	e, ok := allEstimate[name]
	if !ok {
		return time.Minute
	}
	if quick {
		return e[0]
	}
	return e[1]
}

// Run implements Scenario.
func (a allScenario) Run(ctx context.Context, env *scenario.Env) (*scenario.Outcome, error) {
	out := &scenario.Outcome{Scenarios: append([]decide.ScenarioRun{}, a.skipped...)}
	var reports []func(io.Writer) error
	var failed []string
	start := env.Now()
	var spent, spentEst time.Duration // wall time and estimate of the scenarios done, for the ETA
	for i, s := range a.subs {
		run := decide.ScenarioRun{Name: s.Name()}
		if ctx.Err() != nil {
			run.Status, run.Reason = decide.StatusNotRun, "interrupted before it started"
			out.Scenarios = append(out.Scenarios, run)
			continue
		}
		p := env.Params
		if err := scenario.Prepare(s, &p, p.IsSet); err != nil { // Check passed: only a changed registry gets here
			run.Status, run.Reason = decide.StatusFailed, err.Error()
			out.Scenarios = append(out.Scenarios, run)
			failed = append(failed, s.Name())
			continue
		}
		var left time.Duration
		for _, r := range a.subs[i:] {
			left += estimate(r.Name(), p.Quick)
		}
		if spentEst > 0 {
			left = time.Duration(float64(left) * min(2, max(0.5, float64(spent)/float64(spentEst))))
		}
		fmt.Fprintf(env.Log, "lab: [%d/%d] %s — %s elapsed, ETA ~%s\n", i+1, len(a.subs), s.Name(),
			env.Now().Sub(start).Round(time.Second), left.Round(time.Second))
		senv := *env
		senv.Params = p
		senv.Phase = fmt.Sprintf("[%d/%d %s] ", i+1, len(a.subs), s.Name())
		if !s.NeedsDocker() {
			senv.Docker = nil
		}
		t0 := env.Now()
		o, err := s.Run(ctx, &senv)
		run.WallS = env.Now().Sub(t0).Seconds()
		spent += env.Now().Sub(t0)
		spentEst += estimate(s.Name(), p.Quick)
		switch {
		case err != nil && ctx.Err() != nil:
			run.Status, run.Reason = decide.StatusInterrupted, err.Error()
		case err != nil:
			run.Status, run.Reason = decide.StatusFailed, err.Error()
			failed = append(failed, s.Name())
			fmt.Fprintf(env.Log, "lab: %s failed: %v (the other scenarios go on)\n", s.Name(), err)
		default:
			run.Status = decide.StatusOK
		}
		out.Scenarios = append(out.Scenarios, run)
		if o == nil {
			continue
		}
		out.Files = append(out.Files, o.Files...)
		out.Decisions.Merge(o.Decisions)
		if o.Report != nil {
			reports = append(reports, o.Report)
		}
	}
	out.Report = func(w io.Writer) error {
		for _, r := range reports {
			if err := r(w); err != nil {
				return err
			}
		}
		fmt.Fprintln(w, "\nscenarios:")
		for _, r := range out.Scenarios {
			line := fmt.Sprintf("  %-16s %-11s %6.1f s", r.Name, r.Status, r.WallS)
			if r.Reason != "" {
				line += "  " + scenario.FirstLine(r.Reason)
			}
			fmt.Fprintln(w, line)
		}
		return nil
	}
	if ctx.Err() != nil {
		return out, ctx.Err()
	}
	if len(failed) > 0 {
		// Not wrapped: one scenario's environment error (exit 2 alone) is a failed scenario of the full lab (exit 1).
		return out, fmt.Errorf("%d of %d scenarios failed: %s", len(failed), len(a.subs), strings.Join(failed, ", "))
	}
	return out, nil
}
