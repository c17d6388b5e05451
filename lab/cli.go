// The lab runner behind `go run ./lab`: flags → options → run → results, with signals, cleanup by
// label and exit codes. main.go only wires the process to Main.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/results"
	"github.com/agentlab/agentlab/scenarios"
)

// Exit codes.
const (
	ExitOK       = 0  // the run finished and every task succeeded
	ExitFailed   = 1  // the run failed or was interrupted (partial results are kept)
	ExitUsage    = 2  // bad flags, unknown scenario, or no Docker daemon
	ExitThresh   = 99 // reserved: a threshold failed
	quickIters   = 20
	quickAgents  = 3
	quickRounds  = 4
	schemaReport = 1
)

// Options is the parsed command line.
type Options struct {
	Scenario string
	Out      string
	Clean    bool
	Images   string // comma-separated image names or "all": build them and exit
	Params   scenarios.Params
}

// IO is the process's outside world, injected so tests can drive Main.
type IO struct {
	Stdout, Stderr io.Writer
	StderrTTY      bool
	Now            func() time.Time
	Registry       scenarios.Registry
}

// errUsage marks errors that exit with ExitUsage.
type errUsage struct{ msg string }

func (e errUsage) Error() string { return e.msg }

// Parse reads args into Options.
func Parse(args []string, reg scenarios.Registry) (Options, error) {
	var o Options
	fs := flagSet(&o, reg)
	p := &o.Params
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, flag.ErrHelp
		}
		return o, errUsage{err.Error()}
	}
	if fs.NArg() > 0 {
		return o, errUsage{fmt.Sprintf("unexpected argument %q (flags only)", fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	p.AgentsSet = set["agents"]
	if p.Quick {
		if !set["iterations"] {
			p.Iterations = quickIters
		}
		if !set["agents"] {
			p.Agents = quickAgents
		}
		if !set["rounds"] {
			p.Rounds = quickRounds
		}
		if !set["repeat"] {
			p.Repeat = 2
		}
		if !set["duration"] {
			p.Duration = 2 * time.Second
		}
	}
	if o.Clean {
		return o, nil
	}
	if o.Images != "" {
		for _, n := range imageList(o.Images) {
			if _, ok := images.Specs[n]; !ok {
				return o, errUsage{fmt.Sprintf("unknown image %q; valid: all, %s", n, strings.Join(images.Names(), ", "))}
			}
		}
		return o, nil
	}
	if o.Scenario == "" {
		return o, errUsage{"--scenario is required; valid: " + strings.Join(reg.Names(), ", ")}
	}
	if _, ok := reg[o.Scenario]; !ok {
		return o, errUsage{fmt.Sprintf("%v %q; valid: %s", scenarios.ErrUnknown, o.Scenario, strings.Join(reg.Names(), ", "))}
	}
	for _, c := range []struct {
		name string
		v    int
		min  int
	}{{"iterations", p.Iterations, 1}, {"agents", p.Agents, 1}, {"concurrency", p.Concurrency, 1},
		{"task-kib", p.TaskKiB, 0}, {"rounds", p.Rounds, 1}, {"warmup", p.Warmup, 0}} {
		if c.v < c.min {
			return o, errUsage{fmt.Sprintf("--%s must be ≥ %d, got %d", c.name, c.min, c.v)}
		}
	}
	if p.Sample <= 0 {
		return o, errUsage{fmt.Sprintf("--sample-interval must be > 0, got %v", p.Sample)}
	}
	if err := scenarios.CheckBusLoad(*p); err != nil {
		return o, errUsage{err.Error()}
	}
	return o, nil
}

// flagSet defines every flag on o; Parse and Usage share it so --help lists exactly what is accepted.
func flagSet(o *Options, reg scenarios.Registry) *flag.FlagSet {
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&o.Scenario, "scenario", "", "scenario to run: "+strings.Join(reg.Names(), ", "))
	fs.StringVar(&o.Out, "out", "results", "results folder; the run writes <out>/<run-id>/ and <out>/latest")
	fs.StringVar(&o.Images, "images", "", "build these images (comma-separated, or all: "+strings.Join(images.Names(), ", ")+") and exit")
	fs.BoolVar(&o.Clean, "clean", false, "remove every container and network of every lab run on this daemon, then exit")
	p := &o.Params
	fs.IntVar(&p.Iterations, "iterations", 100, "tasks per lifecycle pattern (--quick: 20)")
	fs.IntVar(&p.Agents, "agents", 10, "persistent agents per pattern (--quick: 3)")
	fs.IntVar(&p.Concurrency, "concurrency", 1, "tasks in flight at once per pattern")
	fs.IntVar(&p.TaskKiB, "task-kib", 64, "work per task: KiB of data hashed with SHA-256")
	fs.IntVar(&p.Rounds, "rounds", 10, "interleaved rounds: patterns alternate in blocks, order rotated (--quick: 4)")
	fs.IntVar(&p.Warmup, "warmup", 2, "untimed warm-up tasks per pattern")
	fs.BoolVar(&p.Quick, "quick", false, "reduced sizes for a fast look")
	fs.BoolVar(&p.SkipRust, "skip-rust", false, "leave the Rust bus out")
	fs.BoolVar(&p.CAdvisor, "cadvisor", true, "sample container memory with a cAdvisor sidecar as well as Docker stats")
	fs.DurationVar(&p.Sample, "sample-interval", 100*time.Millisecond, "memory sampling interval")
	fs.StringVar(&p.Bus, "bus", "both", "bus-load: bus to measure: go, rust or both")
	fs.IntVar(&p.Repeat, "repeat", 3, "bus-load: interleaved repeats per bus and configuration (--quick: 2)")
	fs.Float64Var(&p.Rate, "rate", 0, "bus-load: open-model deliveries/s offered (0: half the slower bus's saturation throughput, lowered until the generator keeps headroom)")
	fs.DurationVar(&p.Duration, "duration", 5*time.Second, "bus-load: measured window per run (--quick: 2s)")
	fs.StringVar(&p.Patterns, "patterns", "targeted,broadcast,roundrobin", "bus-load: traffic patterns")
	fs.StringVar(&p.Model, "model", "both", "bus-load: open (fixed schedule), closed (saturation) or both")
	fs.IntVar(&p.Window, "window", 16, "bus-load: closed model, messages in flight per agent")
	fs.IntVar(&p.Generators, "generators", 1, "bus-load: load-generator containers per run")
	fs.Float64Var(&p.ConnectRate, "connect-rate", 1000, "bus-load: new connections per second")
	fs.StringVar(&p.BusCPUs, "bus-cpus", "0", "bus-load: cpuset of the bus container")
	fs.StringVar(&p.GenCPUs, "gen-cpus", "1", "bus-load: cpuset of the load-generator containers")
	fs.StringVar(&p.BusMemory, "bus-memory", "1g", "bus-load: memory limit of the bus container")
	fs.StringVar(&p.GenMemory, "gen-memory", "2g", "bus-load: memory limit of each load-generator container")
	return fs
}

// Usage is printed for --help.
func Usage(w io.Writer, reg scenarios.Registry) {
	fmt.Fprintln(w, "usage: go run ./lab --scenario NAME [--quick] [--iterations N] [--agents N] [--out DIR] ...")
	fmt.Fprintln(w, "\nscenarios:")
	names := reg.Names()
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-20s %s\n", n, reg[n].Describe())
	}
	fmt.Fprintln(w, "\nflags:")
	fs := flagSet(new(Options), reg)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintln(w, "\nexit codes: 0 ok, 1 run failed or interrupted, 2 usage or environment error, 99 threshold failed")
}

// Main runs the lab and returns the exit code. ctx is cancelled on SIGINT/SIGTERM.
func Main(ctx context.Context, args []string, io IO) int {
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
	root, err := images.FindRoot(wd)
	if err != nil {
		fmt.Fprintf(io.Stderr, "lab: %v\n", err)
		return ExitUsage
	}
	if o.Images != "" {
		return buildImages(ctx, io, root, imageList(o.Images), o.Params.SkipRust)
	}
	sc := io.Registry[o.Scenario]

	runID := dockerx.NewRunID(io.Now())
	lock, err := dockerx.AcquireRunLock(runID)
	if err != nil {
		fmt.Fprintf(io.Stderr, "lab: %v\n", err)
		return ExitUsage
	}
	defer lock.Release()

	dcli, err := dockerx.Connect(ctx)
	if err != nil && sc.NeedsDocker() {
		fmt.Fprintf(io.Stderr, "lab: %v\n", err)
		return ExitUsage
	}
	// A scenario without containers still clears what dead runs left, when a daemon is there to ask.
	if err == nil {
		defer dcli.Close()
		if n, err := dockerx.ReapDead(ctx, dcli, runID); err != nil {
			fmt.Fprintf(io.Stderr, "lab: removing what dead runs left: %v\n", err)
		} else if n > 0 {
			fmt.Fprintf(io.Stderr, "lab: removed %d containers/networks left by dead lab runs\n", n)
		}
		// Registered before the scenario starts anything: whatever happens, this run's objects go.
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if _, err := dockerx.RemoveRun(cctx, dcli, runID); err != nil {
				fmt.Fprintf(io.Stderr, "lab: cleanup of run %s: %v\n", runID, err)
			}
		}()
	}
	var cli *client.Client // the scenario gets no daemon it did not ask for
	if sc.NeedsDocker() {
		cli = dcli
	}
	builder := images.NewBuilder(cli, root, io.Stderr)
	defer builder.Close()

	env := &scenarios.Env{RunID: runID, Params: o.Params, Docker: cli, Images: builder, Log: io.Stderr,
		TTY: io.StderrTTY, Now: io.Now}
	fmt.Fprintf(io.Stderr, "lab: run %s, scenario %s\n", runID, o.Scenario)
	outcome, runErr := sc.Run(ctx, env)

	code := ExitOK
	if runErr != nil {
		code = ExitFailed
		if errors.Is(runErr, images.ErrNoCargo) {
			code = ExitUsage
		}
	}
	if outcome != nil {
		if err := write(ctx, o, runID, root, dcli, io, outcome, runErr); err != nil {
			fmt.Fprintf(io.Stderr, "lab: write results: %v\n", err)
			code = ExitFailed
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

func write(ctx context.Context, o Options, runID, root string, cli *client.Client, io IO, out *scenarios.Outcome, runErr error) error {
	env := results.Collect(context.WithoutCancel(ctx), cli, root)
	run, err := results.Create(o.Out, runID, env)
	if err != nil {
		return err
	}
	now := io.Now()
	names := make([]string, 0, len(out.Files))
	for n := range out.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := run.Write(n, out.Files[n], now); err != nil {
			return err
		}
	}
	final := map[string]any{
		"schema_version": schemaReport,
		"scenario":       o.Scenario,
		"parameters":     o.Params,
		"decisions":      decisionTree(out.Decisions),
		"files":          names,
		"interrupted":    ctx.Err() != nil,
	}
	if runErr != nil {
		final["error"] = runErr.Error()
	}
	if err := run.Write("final-report.json", final, now); err != nil {
		return err
	}
	if out.Report != nil {
		if err := out.Report(io.Stdout); err != nil {
			return err
		}
	}
	fmt.Fprintf(io.Stdout, "\nresults: %s (%s)\n", run.Dir, strings.Join(run.Files, ", "))
	return run.LinkLatest()
}

// decisionTree lays the seed's four decision sections out, marking the ones this run did not measure.
func decisionTree(got map[string]any) map[string]any {
	tree := map[string]any{}
	for _, k := range []string{"message_bus", "spawn_patterns", "ai_streaming", "agent_messaging"} {
		if v, ok := got[k]; ok {
			tree[k] = v
		} else {
			tree[k] = map[string]string{"status": "not run in this run"}
		}
	}
	for k, v := range got {
		tree[k] = v
	}
	return tree
}

func clean(ctx context.Context, io IO) int {
	cli, err := dockerx.Connect(ctx)
	if err != nil {
		fmt.Fprintf(io.Stderr, "lab: %v\n", err)
		return ExitUsage
	}
	defer cli.Close()
	n, err := dockerx.RemoveAll(ctx, cli)
	fmt.Fprintf(io.Stdout, "removed %d lab containers/networks\n", n)
	if err != nil {
		fmt.Fprintf(io.Stderr, "lab: clean: %v\n", err)
		return ExitFailed
	}
	return ExitOK
}

func imageList(s string) []string {
	if s == "all" {
		return images.Names()
	}
	return strings.Split(s, ",")
}

// buildImages is `make images`: every image, with the hash tag and the :latest alias.
func buildImages(ctx context.Context, io IO, root string, names []string, skipRust bool) int {
	cli, err := dockerx.Connect(ctx)
	if err != nil {
		fmt.Fprintf(io.Stderr, "lab: %v\n", err)
		return ExitUsage
	}
	defer cli.Close()
	b := images.NewBuilder(cli, root, io.Stderr)
	defer b.Close()
	code := ExitOK
	for _, n := range names {
		if skipRust && images.Specs[n].NeedsCargo {
			fmt.Fprintf(io.Stderr, "lab: skipping %s (--skip-rust)\n", n)
			continue
		}
		ref, err := b.Ensure(ctx, n)
		switch {
		case errors.Is(err, images.ErrNoCargo):
			fmt.Fprintf(io.Stderr, "lab: skipping %s: %v (install Rust, or pass --skip-rust)\n", n, err)
		case err != nil:
			fmt.Fprintf(io.Stderr, "lab: %v\n", err)
			code = ExitFailed
		default:
			fmt.Fprintf(io.Stdout, "%s (= agentlab/%s:latest)\n", ref, n)
		}
	}
	return code
}
