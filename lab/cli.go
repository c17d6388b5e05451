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
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/results"
	"github.com/agentlab/agentlab/report"
	"github.com/agentlab/agentlab/scenarios"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// Exit codes.
const (
	ExitOK     = 0  // the run finished and every task succeeded
	ExitFailed = 1  // the run failed or was interrupted (partial results are kept)
	ExitUsage  = 2  // bad flags, unknown scenario, or no Docker daemon
	ExitThresh = 99 // a threshold failed (the run itself succeeded)
)

// Options is the parsed command line.
type Options struct {
	Scenario string
	Out      string
	Clean    bool
	Images   string            // comma-separated image names or "all": build them and exit
	Params   *scenarios.Params // the registry's: every family is bound to its flags in it

	// Thresholds are --threshold and the lines of --thresholds FILE: checked at the end, any failed → exit 99.
	Thresholds     []report.Threshold
	thresholdExprs []string
	thresholdsFile string

	sc scenario.Scenario // the scenario to run, resolved for the flags (--skip-docker)
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

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
	o := Options{Params: reg.Params}
	fs := flagSet(&o, reg)
	p := o.Params
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
	for f := range set {
		p.Explicit = append(p.Explicit, f)
	}
	sort.Strings(p.Explicit)
	if o.Clean {
		return o, nil
	}
	for _, e := range o.thresholdExprs {
		t, err := report.ParseThreshold(e, reg.Names())
		if err != nil {
			return o, errUsage{err.Error()}
		}
		o.Thresholds = append(o.Thresholds, t)
	}
	if o.thresholdsFile != "" {
		ts, err := report.ReadThresholds(o.thresholdsFile, reg.Names())
		if err != nil {
			return o, errUsage{err.Error()}
		}
		o.Thresholds = append(o.Thresholds, ts...)
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
	sc, ok := reg.Lookup(o.Scenario)
	var err error
	if !ok {
		return o, errUsage{fmt.Sprintf("%v %q; valid: %s", scenarios.ErrUnknown, o.Scenario, strings.Join(reg.Names(), ", "))}
	}
	if sc, err = scenario.Resolve(sc, p.Params); err != nil {
		return o, errUsage{err.Error()}
	}
	// The scenario owns its --quick sizes and the validation of its flags: the runner names none.
	if err := scenario.Prepare(sc, &p.Params, p.IsSet); err != nil {
		return o, errUsage{err.Error()}
	}
	o.sc = sc
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
	fs.Var((*multi)(&o.thresholdExprs), "threshold", "pass/fail criterion on a figure, repeatable: NAME<N (also <=, >, >=, ==, !=), e.g. bus-load.go.targeted.latency_p95_ms<50; any failed → exit 99")
	fs.StringVar(&o.thresholdsFile, "thresholds", "", "file of thresholds, one a line (# comments)")
	o.Params.Register(fs)
	return fs
}

// Usage is printed for --help.
func Usage(w io.Writer, reg scenarios.Registry) {
	fmt.Fprintln(w, "usage: go run ./lab [run] --scenario NAME [--quick] [--iterations N] [--agents N] [--out DIR] [--threshold EXPR] ...")
	fmt.Fprintln(w, "       go run ./lab images [NAMES|all] | clean | compare RESULTS_A RESULTS_B | report RESULTS_DIR")
	fmt.Fprintln(w, "       go run ./lab conformance --image IMAGE [--port 8080] [--args \"A B\"] [--only PREFIX,...]")
	fmt.Fprintln(w, "\nscenarios:")
	names := reg.Names()
	sort.Strings(names)
	for _, n := range names {
		sc, _ := reg.Lookup(n)
		fmt.Fprintf(w, "  %-20s %s\n", n, sc.Describe())
	}
	fmt.Fprintln(w, "\nflags:")
	fs := flagSet(&Options{Params: new(scenarios.Params)}, reg)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintln(w, "\nexit codes: 0 ok, 1 run failed or interrupted, 2 usage or environment error, 99 threshold failed")
}

// Main runs the lab and returns the exit code. ctx is cancelled on SIGINT/SIGTERM.
//
// Subcommands: run (the default: `lab --scenario X` is `lab run --scenario X`), images, clean, compare, report.
func Main(ctx context.Context, args []string, io IO) int {
	if len(args) > 0 {
		switch args[0] {
		case "run":
			args = args[1:]
		case "clean":
			args = append([]string{"--clean"}, args[1:]...)
		case "images":
			names := "all"
			rest := args[1:]
			if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
				names, rest = rest[0], rest[1:]
			}
			args = append([]string{"--images", names}, rest...)
		case "compare":
			return compareCmd(args[1:], io)
		case "conformance":
			return conformanceCmd(ctx, args[1:], io)
		case "report":
			return reportCmd(args[1:], io)
		}
	}
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
	r, err := scenarios.ReadResults(dir)
	if err != nil {
		return false, err
	}
	return report.PrintThresholds(io.Stdout, report.Evaluate(o.Thresholds, r)), nil
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
		case errors.Is(err, images.ErrNoRuntime):
			fmt.Fprintf(io.Stderr, "lab: skipping %s: %v (apt-get install nodejs node-ws python3)\n", n, err)
		case err != nil:
			fmt.Fprintf(io.Stderr, "lab: %v\n", err)
			code = ExitFailed
		default:
			fmt.Fprintf(io.Stdout, "%s (= agentlab/%s:latest)\n", ref, n)
		}
	}
	return code
}

// compareCmd is `lab compare A B`: the benchstat-style comparison of two results folders.
func compareCmd(args []string, io IO) int {
	if len(args) != 2 {
		fmt.Fprintln(io.Stderr, "lab: usage: lab compare RESULTS_A RESULTS_B (two results folders, e.g. results/<run-id>)")
		return ExitUsage
	}
	var rs [2]*scenarios.Results
	for i, d := range args {
		r, err := scenarios.ReadResults(d)
		if err != nil {
			fmt.Fprintf(io.Stderr, "lab: compare: %v\n", err)
			return ExitUsage
		}
		rs[i] = r
	}
	if err := report.Compare(io.Stdout, rs[0], rs[1]); err != nil {
		fmt.Fprintf(io.Stderr, "lab: compare: %v\n", err)
		return ExitFailed
	}
	return ExitOK
}

// reportCmd is `lab report DIR`: report.md, report.html, bench.txt and runs.csv rendered again from the folder.
func reportCmd(args []string, io IO) int {
	if len(args) != 1 {
		fmt.Fprintln(io.Stderr, "lab: usage: lab report RESULTS_DIR (a results folder, e.g. results/latest)")
		return ExitUsage
	}
	if err := report.Write(args[0]); err != nil {
		fmt.Fprintf(io.Stderr, "lab: report: %v\n", err)
		return ExitUsage
	}
	fmt.Fprintf(io.Stdout, "%s: %s\n", args[0], strings.Join(report.Files, ", "))
	return ExitOK
}
