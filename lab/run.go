package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/rundir"
	"github.com/agentlab/agentlab/report"
	"github.com/agentlab/agentlab/scenarios"
	"github.com/agentlab/agentlab/scenarios/scenario"
	"github.com/moby/moby/client"
)

// run: `lab [run] --scenario NAME [flags]`, the default command — flags → plan → run → results, with cleanup by
// label, signals and exit codes.

// runCmd parses the run flags and runs the scenario (or, for the flags --clean and --images, those commands).
func runCmd(ctx context.Context, args []string, io IO) int {
	o, err := Parse(args, io.Registry)
	if errors.Is(err, flag.ErrHelp) {
		Usage(io.Stdout, io.Registry)
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(io.Stderr, "lab: %v\n", err)
		return ExitUsage
	}
	if o.Clean {
		return clean(ctx, io)
	}
	wd, _ := os.Getwd()
	// In the agentlab/lab image there is no repository: the images come from the bundle it carries.
	root, prebuilt, err := images.Locate(wd)
	if err != nil {
		fmt.Fprintf(io.Stderr, "lab: %v\n", err)
		return ExitUsage
	}
	newBuilder := images.NewBuilder
	if prebuilt {
		newBuilder = images.NewPrebuiltBuilder
	}
	if o.Images != "" {
		return buildImages(ctx, io, newBuilder, root, imageList(o.Images), o.Params.SkipRust)
	}
	sc := o.sc
	// Found out now, not after the run: in a container the results folder is a mount another uid may own.
	if err := writable(o.Out); err != nil {
		fmt.Fprintf(io.Stderr, "lab: %v\n", err)
		return ExitUsage
	}

	runID := dockerx.NewRunID(io.Now())
	lock, err := dockerx.AcquireRunLock(runID)
	if err != nil {
		fmt.Fprintf(io.Stderr, "lab: %v\n", err)
		return ExitUsage
	}
	defer lock.Release()

	dcli, release, err := connect(ctx, runID, sc.NeedsDocker(), io)
	if err != nil {
		fmt.Fprintf(io.Stderr, "lab: %v\n", err)
		return ExitUsage
	}
	defer release()
	if id := dockerx.SelfContainer(); id != "" {
		fmt.Fprintf(io.Stderr, "lab: running inside container %.12s: process patterns run in it, containers on the daemon\n", id)
	}
	var cli *client.Client // the scenario gets no daemon it did not ask for
	if sc.NeedsDocker() {
		cli = dcli
	}
	builder := newBuilder(cli, root, io.Stderr)
	defer builder.Close()

	env := &scenario.Env{RunID: runID, Params: o.Params.Params, Docker: cli, Images: builder, Log: io.Stderr,
		TTY: io.StderrTTY, Now: io.Now}
	fmt.Fprintf(io.Stderr, "lab: run %s, scenario %s\n", runID, o.Scenario)
	outcome, runErr := sc.Run(ctx, env)

	code := ExitOK
	if runErr != nil {
		code = ExitFailed
		if errors.Is(runErr, images.ErrNoCargo) || errors.Is(runErr, scenario.ErrEnvironment) {
			code = ExitUsage
		}
	}
	if outcome != nil {
		if err := write(ctx, o, runID, root, dcli, io, outcome, runErr); err != nil {
			fmt.Fprintf(io.Stderr, "lab: write results: %v\n", err)
			code = ExitFailed
		} else if ok, err := thresholds(o, filepath.Join(o.Out, runID), io); err != nil {
			fmt.Fprintf(io.Stderr, "lab: thresholds: %v\n", err)
			code = ExitFailed
		} else if !ok && code == ExitOK {
			code = ExitThresh
		}
	}
	switch {
	case runErr == nil:
	case ctx.Err() != nil:
		fmt.Fprintln(io.Stderr, "lab: interrupted; partial results kept, containers removed")
	default:
		fmt.Fprintf(io.Stderr, "lab: %s: %v\n", o.Scenario, runErr)
	}
	return code
}

func write(ctx context.Context, o Options, runID, root string, cli *client.Client, io IO, out *scenario.Outcome, runErr error) error {
	env := rundir.Collect(context.WithoutCancel(ctx), cli, root)
	run, err := rundir.Create(o.Out, runID, env)
	if err != nil {
		return err
	}
	if pl := o.Params.Plant; pl.On() {
		run.Planted = pl
		// Red on a terminal and in any log: this run measured planted faults, not the components.
		fmt.Fprintf(io.Stderr, "\x1b[31;1m%s\x1b[0m\n", pl.Banner())
	}
	now := io.Now()
	for _, f := range out.Files {
		if err := run.Write(f.Name, f.Value, now); err != nil {
			return err
		}
	}
	final := decide.NewFinalReport(o.Scenario, *o.Params, out.Decisions, scenarios.CostInput(out))
	final.Scenarios = out.Scenarios
	final.Files = append([]string{}, run.Files...)
	final.Interrupted = ctx.Err() != nil
	if runErr != nil {
		final.Error = runErr.Error()
	}
	if err := run.Write("final-report.json", final, now); err != nil {
		return err
	}
	if out.Report != nil {
		if err := out.Report(io.Stdout); err != nil {
			return err
		}
	}
	// A run that evaluated every section of the tree (the full lab) ends with the seed's migration scenario and cost.
	if len(final.NotRun) == 0 {
		if err := report.Summary(io.Stdout, &final); err != nil {
			return err
		}
	}
	// report.md, report.html, bench.txt and runs.csv are rendered from the files just written, exactly as
	// `lab report DIR` renders them later.
	if err := report.Write(run.Dir); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	fmt.Fprintf(io.Stdout, "\nresults: %s (%s, %s)\n", run.Dir, strings.Join(run.Files, ", "), strings.Join(report.Files, ", "))
	return run.LinkLatest()
}

// thresholds checks the thresholds on the run's results and prints ✓/✗; false when one failed.
func thresholds(o Options, dir string, io IO) (bool, error) {
	if len(o.Thresholds) == 0 {
		return true, nil
	}
	r, err := scenarios.ReadFolder(dir)
	if err != nil {
		return false, err
	}
	return report.PrintThresholds(io.Stdout, report.Evaluate(o.Thresholds, r)), nil
}

// writable makes the results folder and checks this process may write in it.
func writable(dir string) error {
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		var f *os.File
		if f, err = os.CreateTemp(dir, ".write-check-"); err == nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
	if err != nil {
		return fmt.Errorf("results folder %s is not writable by uid %d gid %d: %v", dir, os.Getuid(), os.Getgid(), err)
	}
	return nil
}

// connect connects to the daemon, removes what dead runs left and returns the client with release, which removes
// this run's objects by label (registered before the scenario starts anything: whatever happens, they go) and
// closes the client. Without a daemon, an error only when the scenario needs one (then cli is nil).
func connect(ctx context.Context, runID string, needsDocker bool, io IO) (cli *client.Client, release func(), err error) {
	cli, err = dockerx.Connect(ctx)
	if err != nil {
		if needsDocker {
			return nil, nil, err
		}
		return nil, func() {}, nil
	}
	// A scenario without containers still clears what dead runs left, when a daemon is there to ask.
	if n, err := dockerx.ReapDead(ctx, cli, runID); err != nil {
		fmt.Fprintf(io.Stderr, "lab: removing what dead runs left: %v\n", err)
	} else if n > 0 {
		fmt.Fprintf(io.Stderr, "lab: removed %d containers/networks left by dead lab runs\n", n)
	}
	return cli, func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := dockerx.RemoveRun(cctx, cli, runID); err != nil {
			fmt.Fprintf(io.Stderr, "lab: cleanup of run %s: %v\n", runID, err)
		}
		cli.Close()
	}, nil
}
