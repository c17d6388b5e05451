// The lab runner behind `go run ./lab`: flags → options → run → results, with signals, cleanup by
// label and exit codes. main.go only wires the process to Main.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/agentlab/agentlab/internal/images"
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
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %s\n", c.usage)
	}
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

// command is one subcommand of the lab: `go run ./lab NAME ARGS…`.
type command struct {
	name, usage string
	run         func(ctx context.Context, args []string, io IO) int
}

// commands are the lab's subcommands, one file each; `lab --scenario X` (no subcommand) is `lab run --scenario X`.
// (A function, not a variable: run's --help lists them.)
func commands() []command {
	return []command{
		{"run", "run --scenario NAME [flags]   run a scenario (the default command)", runCmd},
		{"images", "images [NAMES|all]            build images (agentlab/<name>:<hash> and :latest) and exit", imagesCmd},
		{"clean", "clean                         remove every container and network of every lab run on this daemon", cleanCmd},
		{"compare", "compare RESULTS_A RESULTS_B   benchstat-style comparison of two results folders", compareCmd},
		{"report", "report RESULTS_DIR            render report.md, report.html, bench.txt and runs.csv again", reportCmd},
		{"conformance", "conformance --image IMAGE [--port 8080] [--args \"A B\"] [--only PREFIX,...]   check a bus image against docs/protocol.md", conformanceCmd},
		{"cluster", "cluster up|down|status [--nodes 3]  a multi-node Docker Swarm on this host (root), for distributed bus-load", clusterCmd},
	}
}

// Main runs the lab and returns the exit code. ctx is cancelled on SIGINT/SIGTERM.
func Main(ctx context.Context, args []string, io IO) int {
	if len(args) > 0 {
		for _, c := range commands() {
			if args[0] == c.name {
				return c.run(ctx, args[1:], io)
			}
		}
	}
	return runCmd(ctx, args, io)
}
