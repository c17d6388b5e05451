package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentlab/agentlab/scenarios"
	"github.com/agentlab/agentlab/scenarios/lifecycle"
)

func testIO(out, errb *bytes.Buffer) IO {
	return IO{Stdout: out, Stderr: errb, Now: time.Now, Registry: scenarios.Default()}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--scenario is required"},
		{[]string{"--scenario", "nope"}, `unknown scenario "nope"; valid: ` + strings.Join(scenarios.Default().Names(), ", ")},
		{[]string{"--scenario", "spawn", "--iterations", "-1"}, "--iterations must be ≥ 1, got -1"},
		{[]string{"--scenario", "spawn", "--agents", "0"}, "--agents must be ≥ 1, got 0"},
		{[]string{"--scenario", "spawn", "--concurrency", "0"}, "--concurrency must be ≥ 1"},
		{[]string{"--scenario", "spawn", "--sample-interval", "0s"}, "--sample-interval must be > 0"},
		{[]string{"--scenario", "spawn", "--iterations", "x"}, `invalid value "x" for flag -iterations`},
		{[]string{"--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"--scenario", "spawn", "extra"}, `unexpected argument "extra"`},
	} {
		_, err := Parse(tc.args, scenarios.Default())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestParseQuickDefaults(t *testing.T) {
	o, err := Parse([]string{"--scenario", "spawn", "--quick"}, scenarios.Default())
	if err != nil {
		t.Fatal(err)
	}
	// spawn's --quick sizes; bus-load's flags keep their defaults (their --quick belongs to bus-load).
	if o.Params.Iterations != 20 || o.Params.Agents != 3 || o.Params.Lifecycle.Rounds != 6 || o.Params.Repeat != 6 {
		t.Errorf("quick params = %+v", o.Params)
	}
	o, err = Parse([]string{"--scenario", "bus-load", "--quick"}, scenarios.Default())
	if err != nil {
		t.Fatal(err)
	}
	if o.Params.Repeat != 9 || o.Params.BusLoad.OpenRepeat != 6 || o.Params.BusLoad.Duration != time.Second ||
		o.Params.BusLoad.ConnectRate != 2000 || o.Params.Iterations != 100 {
		t.Errorf("bus-load quick params = %+v", o.Params)
	}
	o, err = Parse([]string{"--scenario", "spawn", "--quick", "--iterations", "7"}, scenarios.Default())
	if err != nil {
		t.Fatal(err)
	}
	if o.Params.Iterations != 7 {
		t.Errorf("explicit --iterations lost under --quick: %d", o.Params.Iterations)
	}
}

func TestMainUsageErrorsExit2OneLine(t *testing.T) {
	for _, args := range [][]string{{"--scenario", "nope"}, {"--scenario", "spawn", "--agents", "0"}} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), args, testIO(&out, &errb)); code != ExitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, ExitUsage)
		}
		if n := strings.Count(errb.String(), "\n"); n != 1 {
			t.Errorf("%q: want one line on stderr, got %q", args, errb.String())
		}
	}
}

func TestMainNoDockerDaemon(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	var out, errb bytes.Buffer
	start := time.Now()
	code := Main(context.Background(), []string{"--scenario", "spawn-docker", "--out", t.TempDir()}, testIO(&out, &errb))
	if code != ExitUsage {
		t.Errorf("exit %d, want %d; stderr %s", code, ExitUsage, errb.String())
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %v to report a missing daemon, want < 5 s", el)
	}
	msg := errb.String()
	if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "DOCKER_HOST=unix:///nonexistent/docker.sock") {
		t.Errorf("want one line naming DOCKER_HOST, got %q", msg)
	}
}

func TestMainSpawnProcessWritesResults(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles and runs the agent")
	}
	out := t.TempDir()
	var stdout, errb bytes.Buffer
	code := Main(context.Background(), []string{"--scenario", "spawn-process", "--runtime", "go", "--iterations", "6", "--rounds", "2",
		"--out", out}, testIO(&stdout, &errb))
	if code != ExitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, errb.String())
	}
	for _, want := range []string{"spawn-process", "p50", "decision (seed Test 3)"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "latest", "spawn-comparison.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SchemaVersion int    `json:"schema_version"`
		RunID         string `json:"run_id"`
		Environment   struct {
			CPUs      int    `json:"cpus"`
			GitCommit string `json:"git_commit"`
		}
		Patterns []struct {
			Name   string
			Tasks  int
			Errors int
			Time   struct {
				P50 float64 `json:"p50_ms"`
			} `json:"time_per_task"`
			Memory struct {
				Source string
			}
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SchemaVersion != lifecycle.SchemaVersion || doc.RunID == "" || doc.Environment.CPUs == 0 || doc.Environment.GitCommit == "" {
		t.Errorf("header incomplete: %+v", doc)
	}
	if len(doc.Patterns) != 1 || doc.Patterns[0].Tasks != 6 || doc.Patterns[0].Errors != 0 ||
		doc.Patterns[0].Time.P50 <= 0 || doc.Patterns[0].Memory.Source == "" {
		t.Errorf("patterns = %+v", doc.Patterns)
	}
	if _, err := os.Stat(filepath.Join(out, "latest", "final-report.json")); err != nil {
		t.Error(err)
	}
}

func TestBadThresholdExit2WithGrammar(t *testing.T) {
	for _, th := range []string{"bus-load.go.targeted.latency_p95_ms=<50", "bus-load.go.targeted.nope_ms<50", "nope.go.latency_p95_ms<1"} {
		var out, errb bytes.Buffer
		code := Main(context.Background(), []string{"--scenario", "spawn", "--threshold", th}, testIO(&out, &errb))
		if code != ExitUsage || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q", th, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	Main(context.Background(), []string{"--scenario", "spawn", "--threshold", "x<"}, testIO(&out, &errb))
	if !strings.Contains(errb.String(), "threshold: SCENARIO.SUBJECT….METRIC OP NUMBER") {
		t.Errorf("no grammar: %q", errb.String())
	}
}

func TestSubcommandUsage(t *testing.T) {
	for _, args := range [][]string{{"compare", "a"}, {"report"}, {"compare", "/nonexistent/a", "/nonexistent/b"}, {"report", "/nonexistent"}} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), args, testIO(&out, &errb)); code != ExitUsage || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q", args, code, errb.String())
		}
	}
	o, err := Parse([]string{"--scenario", "all", "--quick", "--skip-docker"}, scenarios.Default())
	if err != nil || o.sc.NeedsDocker() {
		t.Errorf("all --skip-docker: %v", err)
	}
	if _, err := Parse([]string{"--scenario", "bus-load", "--skip-docker"}, scenarios.Default()); err == nil {
		t.Error("bus-load --skip-docker must be a usage error")
	}
}

func TestFailedThresholdExits99(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles and runs the agent")
	}
	out := t.TempDir()
	var stdout, errb bytes.Buffer
	code := Main(context.Background(), []string{"run", "--scenario", "all", "--skip-docker", "--iterations", "6", "--rounds", "6",
		"--out", out, "--threshold", "spawn.spawn-process.time_mean_ms<1e9", "--threshold", "spawn.persistent-process.time_mean_ms<0.000001"},
		testIO(&stdout, &errb))
	if code != ExitThresh {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitThresh, errb.String())
	}
	for _, want := range []string{"✓ spawn.spawn-process.time_mean_ms<1e9", "✗ spawn.persistent-process.time_mean_ms<0.000001", "skipped"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	for _, f := range []string{"spawn-comparison.json", "final-report.json", "report.md", "report.html", "bench.txt", "runs.csv"} {
		if _, err := os.Stat(filepath.Join(out, "latest", f)); err != nil {
			t.Error(err)
		}
	}
}
