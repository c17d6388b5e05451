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

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/results"
	"github.com/agentlab/agentlab/scenarios"
)

// Exit codes.
const (
	ExitOK     = 0  // the run finished and every task succeeded
	ExitFailed = 1  // the run failed or was interrupted (partial results are kept)
	ExitUsage  = 2  // bad flags, unknown scenario, or no Docker daemon
	ExitThresh = 99 // reserved: a threshold failed
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
	sc, ok := reg[o.Scenario]
	if !ok {
		return o, errUsage{fmt.Sprintf("%v %q; valid: %s", scenarios.ErrUnknown, o.Scenario, strings.Join(reg.Names(), ", "))}
	}
	// The scenario owns its --quick sizes and the validation of its flags: the runner names none.
	if err := scenarios.Prepare(sc, p, func(f string) bool { return set[f] }); err != nil {
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
	o.Params.Register(fs)
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
	sc := io.Registry[o.Scenario]
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
	if id := dockerx.SelfContainer(); id != "" {
		fmt.Fprintf(io.Stderr, "lab: running inside container %.12s: process patterns run in it, containers on the daemon\n", id)
	}
	var cli *client.Client // the scenario gets no daemon it did not ask for
	if sc.NeedsDocker() {
		cli = dcli
	}
	builder := newBuilder(cli, root, io.Stderr)
	defer builder.Close()

	env := &scenarios.Env{RunID: runID, Params: o.Params, Docker: cli, Images: builder, Log: io.Stderr,
		TTY: io.StderrTTY, Now: io.Now}
	fmt.Fprintf(io.Stderr, "lab: run %s, scenario %s\n", runID, o.Scenario)
	outcome, runErr := sc.Run(ctx, env)

	code := ExitOK
	if runErr != nil {
		code = ExitFailed
		if errors.Is(runErr, images.ErrNoCargo) || errors.Is(runErr, scenarios.ErrEnvironment) {
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
	for _, f := range out.Files {
		if err := run.Write(f.Name, f.Value, now); err != nil {
			return err
		}
	}
	final := decide.NewFinalReport(o.Scenario, o.Params, out.Decisions)
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
	fmt.Fprintf(io.Stdout, "\nresults: %s (%s)\n", run.Dir, strings.Join(run.Files, ", "))
	return run.LinkLatest()
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

func imageList(s string) []string {
	if s == "all" {
		return images.Names()
	}
	return strings.Split(s, ",")
}

// buildImages is `make images`: every image, with the hash tag and the :latest alias.
func buildImages(ctx context.Context, io IO, newBuilder func(client.APIClient, string, io.Writer) *images.Builder,
	root string, names []string, skipRust bool) int {
	cli, err := dockerx.Connect(ctx)
	if err != nil {
		fmt.Fprintf(io.Stderr, "lab: %v\n", err)
		return ExitUsage
	}
	defer cli.Close()
	b := newBuilder(cli, root, io.Stderr)
	defer b.Close()
	code := ExitOK
	for _, n := range names {
		if b.Prebuilt() && images.Specs[n].Bundle {
			continue // the lab image is what runs this
		}
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
