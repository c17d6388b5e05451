package main

// Calibration: every decision of the seed's tree, run through the real lab (Main, the real scenario, small sizes)
// on a planted input, must come out the other way than on the clean input (issue 23; README "How we know the
// verdicts are right"). A decision that cannot flip is indistinguishable from a constant: make one a constant and
// its test here fails.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// calibrated is what a calibration test reads back from a run's final-report.json.
type calibrated struct {
	RunID     string         `json:"run_id"`
	Planted   map[string]int `json:"planted"`
	Decisions struct {
		Spawn struct {
			Savings []struct {
				Answer string `json:"answer"`
				Value  struct {
					Estimate float64 `json:"estimate"`
					Low      float64 `json:"ci95_low"`
					High     float64 `json:"ci95_high"`
				} `json:"value"`
			} `json:"savings"`
			MemoryStable string `json:"memory_stable"`
			MemoryAnswer string `json:"memory_answer"`
		} `json:"spawn_patterns"`
		Bus struct {
			GoBus     string `json:"go_bus"`
			Delivered struct {
				Answer string `json:"answer"`
				Detail string `json:"detail"`
			} `json:"go_every_message_delivered"`
			GoP95 []struct {
				Answer string `json:"answer"`
				Detail string `json:"detail"`
				Value  struct {
					Estimate float64 `json:"estimate"`
					Min      float64 `json:"min"`
				} `json:"value"`
			} `json:"go_p95_checks"`
			GoHandles     string `json:"go_handles_agents_p95_under_50ms"`
			HandlesAnswer string `json:"handles_answer"`
		} `json:"message_bus"`
		Streaming struct {
			Band   string `json:"band"`
			Answer string `json:"answer"`
		} `json:"ai_streaming"`
		Messaging struct {
			Buses []struct {
				Bus     string `json:"bus"`
				Success struct {
					Answer string `json:"answer"`
					Then   string `json:"then"`
					Detail string `json:"detail"`
					Value  struct {
						Estimate float64 `json:"estimate"`
					} `json:"value"`
				} `json:"success_over_95pct"`
				Zero struct {
					Answer string `json:"answer"`
					Detail string `json:"detail"`
				} `json:"zero_errors"`
			} `json:"buses"`
		} `json:"agent_messaging"`
	} `json:"decisions"`
	Migration struct {
		Scenarios []struct {
			ID       string `json:"id"`
			AllMet   string `json:"all_met"`
			Criteria []struct {
				Criterion string `json:"criterion"`
				Answer    string `json:"answer"`
			} `json:"criteria"`
		} `json:"scenarios"`
		Answer string `json:"answer"`
	} `json:"migration"`
}

// calibrate runs the lab with args (plus a results folder of its own) and returns its final report and stdout.
func calibrate(t *testing.T, args ...string) (calibrated, string) {
	t.Helper()
	out := t.TempDir()
	var stdout, errb bytes.Buffer
	code := Main(context.Background(), append(args, "--out", out), testIO(&stdout, &errb))
	if code != ExitOK {
		t.Fatalf("lab %s: exit %d; stderr:\n%s", strings.Join(args, " "), code, errb.String())
	}
	b, err := os.ReadFile(filepath.Join(out, "latest", "final-report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c calibrated
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	t.Logf("run %s: lab %s", c.RunID, strings.Join(args, " "))
	planted := strings.Contains(strings.Join(args, " "), "--plant")
	if planted != (len(c.Planted) > 0) || planted != strings.Contains(errb.String(), "PLANTED RUN") {
		t.Errorf("planted run not recorded as such (final-report planted %v; stderr %q)", c.Planted, errb.String())
	}
	return c, stdout.String()
}

// migrationMet is the all_met answer of one migration scenario.
func (c calibrated) migrationMet(id string) string {
	for _, s := range c.Migration.Scenarios {
		if s.ID == id {
			return s.AllMet
		}
	}
	return ""
}

// criterion is the answer of one migration scenario's criterion (by the seed's words).
func (c calibrated) criterion(id, words string) string {
	for _, s := range c.Migration.Scenarios {
		for _, cr := range s.Criteria {
			if s.ID == id && cr.Criterion == words {
				return cr.Answer
			}
		}
	}
	return ""
}

// Test 3, memory: a leak of 256 KiB per task → "not stable", memory leak detected, and the migration scenario
// "persistent only" is ruled out; the clean agents are never called leaking. Processes only: no Docker needed.
func TestCalibrationSpawnMemoryLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab: compiles and runs the agent")
	}
	base := []string{"--scenario", "spawn", "--skip-docker", "--quick", "--runtime", "go"}
	clean, _ := calibrate(t, base...)
	leak, stdout := calibrate(t, append(base, "--plant", "leak-kib=256")...)
	t.Logf("clean: %s %q; leak-kib=256: %s %q", clean.Decisions.Spawn.MemoryStable, clean.Decisions.Spawn.MemoryAnswer,
		leak.Decisions.Spawn.MemoryStable, leak.Decisions.Spawn.MemoryAnswer)
	if clean.Decisions.Spawn.MemoryStable == "no" {
		t.Errorf("clean agents called leaking: %s", clean.Decisions.Spawn.MemoryAnswer)
	}
	if leak.Decisions.Spawn.MemoryStable != "no" || !strings.Contains(leak.Decisions.Spawn.MemoryAnswer, "Memory leak detected") ||
		!strings.Contains(stdout, "not stable") {
		t.Errorf("planted leak not detected: %s %q", leak.Decisions.Spawn.MemoryStable, leak.Decisions.Spawn.MemoryAnswer)
	}
	if got := leak.migrationMet("4-persistent-only"); got != "no" {
		t.Errorf("migration scenario 4 (persistent only) with a leak: %q, want no", got)
	}
}

// Test 3, time: a runtime that starts 100 ms slower makes every spawned task ~100 ms dearer, so persistent's saving
// grows accordingly; the persistent pattern's own per-task time does not include its start-up.
func TestCalibrationSpawnSlowStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab: compiles and runs the agent")
	}
	base := []string{"--scenario", "spawn", "--skip-docker", "--quick", "--runtime", "go"}
	clean, _ := calibrate(t, base...)
	slow, _ := calibrate(t, append(base, "--plant", "startup-ms=100")...)
	if len(clean.Decisions.Spawn.Savings) != 1 || len(slow.Decisions.Spawn.Savings) != 1 {
		t.Fatalf("savings: clean %+v, slow %+v", clean.Decisions.Spawn.Savings, slow.Decisions.Spawn.Savings)
	}
	c, s := clean.Decisions.Spawn.Savings[0].Value, slow.Decisions.Spawn.Savings[0].Value
	t.Logf("savings: clean %.1f [%.1f–%.1f] %%, startup-ms=100 %.1f [%.1f–%.1f] %%", c.Estimate, c.Low, c.High,
		s.Estimate, s.Low, s.High)
	// Spawned tasks cost a few ms here; 100 ms more each puts the saving above 95 % with its whole interval, and
	// above the clean run's median.
	if s.Low <= c.Estimate || s.Estimate < 95 {
		t.Errorf("saving with a 100 ms start: %.1f [%.1f–%.1f] %%; clean %.1f %%: want the whole interval above the clean median and the median ≥ 95 %%",
			s.Estimate, s.Low, s.High, c.Estimate)
	}
}

// Test 4: CPU burned per token moves the band: 2 ms → "1–5 ms: Rust could help", 6 ms → "> 5 ms: Rust
// recommended"; the clean clients stay under 1 ms (network-bound). One concurrency level, 20 tokens, no delay, Go
// clients only: the band is read from the reference client (go-sdk) over 6 rounds.
func TestCalibrationStreamingBurn(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab: Docker containers")
	}
	dockerClient(t)
	base := []string{"--scenario", "ai-streaming", "--quick", "--concurrent", "1", "--tokens", "20", "--token-delay", "0s", "--skip-rust"}
	for _, tc := range []struct {
		plant, band string
	}{
		{"", "network-bound"},
		{"burn-us=2000", "rust-could-help"},
		{"burn-us=6000", "rust-recommended"},
	} {
		args := base
		if tc.plant != "" {
			args = append(args, "--plant", tc.plant)
		}
		c, _ := calibrate(t, args...)
		t.Logf("plant %q: band %s (%s)", tc.plant, c.Decisions.Streaming.Band, c.Decisions.Streaming.Answer)
		if c.Decisions.Streaming.Band != tc.band {
			t.Errorf("plant %q: band %s, want %s (%s)", tc.plant, c.Decisions.Streaming.Band, tc.band, c.Decisions.Streaming.Answer)
		}
		// The migration scenario that follows: hybrid needs network-bound streaming.
		want := map[bool]string{true: "yes", false: "no"}[tc.plant == ""]
		if got := c.criterion("2-hybrid", "AI streaming is network-bound"); got != want {
			t.Errorf("plant %q: migration 2 (hybrid) 'AI streaming is network-bound' = %q, want %s", tc.plant, got, want)
		}
	}
}

// Test 2: a bus that holds every message 200 ms and drops 1 % of deliveries → the p95 check "no" and "Go handles the
// agents with P95 < 50 ms? NO", "every message delivered: no"; the clean bus at the same load is never called slow
// or lossy. The Go bus Test 2 decides on — go-netpoll, Go's best design (the main job's go_bus) — alone, 10 agents
// at 200 deliveries/s, 6 repeats of 1 s (a 95 % CI needs 6). On a loaded machine runs are marked generator-bound;
// the p95 check still answers no when the generator sent on time (decide.BusPattern.GoP95FloorMS). The delay is
// 4× the threshold, not just above it: on a CI host running other packages' tests beside this one the generator's
// send lag p99 reached 75 ms at 200/s, and with a 60 ms delay the floor's interval (latency p94 − lag p99) fell to
// [35–353] ms, straddling 50 — "inconclusive", rightly, for that run; the planted fault must be larger than what a
// loaded host can hide.
func TestCalibrationBusDelayAndDrop(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab: Docker containers")
	}
	dockerClient(t)
	base := []string{"--scenario", "bus-load", "--bus", "go-netpoll", "--agents", "10", "--repeat", "6", "--duration", "1s",
		"--patterns", "targeted", "--model", "open", "--rate", "200"}
	clean, _ := calibrate(t, base...)
	planted, _ := calibrate(t, append(base, "--plant", "delay-ms=200,drop-every=100")...)
	cb, pb := clean.Decisions.Bus, planted.Decisions.Bus
	if len(cb.GoP95) != 1 || len(pb.GoP95) != 1 {
		t.Fatalf("p95 checks: clean %+v, planted %+v", cb.GoP95, pb.GoP95)
	}
	t.Logf("clean: p95 %s (%s); delivered %s; handles %s", cb.GoP95[0].Answer, cb.GoP95[0].Detail, cb.Delivered.Answer, cb.GoHandles)
	t.Logf("planted delay-ms=200,drop-every=100: p95 %s (%s); delivered %s (%s); handles %s", pb.GoP95[0].Answer,
		pb.GoP95[0].Detail, pb.Delivered.Answer, pb.Delivered.Detail, pb.GoHandles)
	if cb.GoBus != "go-netpoll" || pb.GoBus != "go-netpoll" {
		t.Errorf("decided on %s (clean), %s (planted); want go-netpoll", cb.GoBus, pb.GoBus)
	}
	if cb.Delivered.Answer != "yes" || cb.GoP95[0].Answer == "no" || cb.GoHandles == "no" {
		t.Errorf("clean bus: delivered %s, p95 %s, handles %s; want yes, not no, not no", cb.Delivered.Answer,
			cb.GoP95[0].Answer, cb.GoHandles)
	}
	if pb.Delivered.Answer != "no" || pb.GoHandles != "no" || !strings.HasPrefix(pb.HandlesAnswer, "NO") {
		t.Errorf("planted bus: delivered %s, handles %s (%s); want no, no", pb.Delivered.Answer, pb.GoHandles, pb.HandlesAnswer)
	}
	// The p95 check on its own: the drop alone would make "Go handles" no, so the delay's verdict is asserted apart.
	if p := pb.GoP95[0]; p.Answer != "no" || p.Value.Min < 200 {
		t.Errorf("planted 200 ms delay: p95 check %s (%s), lowest repeat p95 %.1f ms; want no, ≥ 200", p.Answer, p.Detail, p.Value.Min)
	}
}

// Test 5: a bus that drops every 10th delivery → "Success rate > 95 %? no → Architecture needs fixes" (first-try
// turns, its 95 % interval wholly below) and errors ≠ 0; the clean bus has neither. Go bus, 4 agents,
// 1 conversation × 10 turns per pattern, 2 repeats of the 3 patterns: 6 runs, the least a 95 % interval needs. A run
// whose start the bus dropped counts at 0 % success, not as a missing run.
func TestCalibrationMessagingDrop(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab: Docker containers")
	}
	dockerClient(t)
	base := []string{"--scenario", "agent-messaging", "--bus", "go", "--agents", "4", "--repeat", "2", "--conversations", "1", "--turns", "10"}
	for _, tc := range []struct {
		plant  string
		zero   string
		failed bool // success median under 95 %
	}{
		{"", "yes", false},
		{"drop-every=10", "no", true},
	} {
		args := base
		if tc.plant != "" {
			args = append(args, "--plant", tc.plant)
		}
		c, _ := calibrate(t, args...)
		if len(c.Decisions.Messaging.Buses) != 1 {
			t.Fatalf("plant %q: decisions %+v", tc.plant, c.Decisions.Messaging)
		}
		b := c.Decisions.Messaging.Buses[0]
		t.Logf("plant %q: success %s (%s → %s), zero errors %s (%s)", tc.plant, b.Success.Answer, b.Success.Detail, b.Success.Then,
			b.Zero.Answer, b.Zero.Detail)
		// The migration scenario that follows: persistent only needs messaging success > 95 %.
		if got := c.criterion("4-persistent-only", "Agent messaging success >95%"); tc.failed && got == "yes" || !tc.failed && got == "no" {
			t.Errorf("plant %q: migration 4 'Agent messaging success >95%%' = %q", tc.plant, got)
		}
		if b.Zero.Answer != tc.zero || tc.failed && (b.Success.Answer != "no" || b.Success.Then != "Architecture needs fixes") ||
			!tc.failed && b.Success.Answer == "no" {
			t.Errorf("plant %q: success %.1f %% (%s → %q), zero errors %s; want zero errors %s, success no → Architecture needs fixes: %v",
				tc.plant, b.Success.Value.Estimate, b.Success.Answer, b.Success.Then, b.Zero.Answer, tc.zero, tc.failed)
		}
	}
}

// Soak: a steady load with a planted leak of 256 KiB per task at 20 tasks/s is "not stable" over a 12 s soak, and
// the verdict is the soak's (its series is in spawn-comparison.json); the same soak of clean agents is never called
// growing (12 s cannot show it stable either: "not shown").
func TestCalibrationSoakLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab: compiles and runs the agent")
	}
	for _, plant := range []string{"", "leak-kib=256"} {
		out := t.TempDir()
		var stdout, errb bytes.Buffer
		args := []string{"--scenario", "persistent-process", "--quick", "--runtime", "go", "--soak", "12s", "--out", out}
		if plant != "" {
			args = append(args, "--plant", plant)
		}
		if code := Main(context.Background(), args, testIO(&stdout, &errb)); code != ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		b, err := os.ReadFile(filepath.Join(out, "latest", "spawn-comparison.json"))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			RunID    string `json:"run_id"`
			Patterns []struct {
				Memory struct {
					Trend struct{ Verdict string } `json:"trend"`
					Soak  *struct {
						Tasks  int               `json:"tasks"`
						Errors int               `json:"errors"`
						Series []json.RawMessage `json:"series"`
						Trend  struct {
							Verdict string     `json:"verdict"`
							Window  float64    `json:"window_s"`
							Slope   float64    `json:"slope_bytes_per_min"`
							CI      [2]float64 `json:"slope_ci95_bytes_per_min"`
						} `json:"trend"`
					} `json:"soak"`
				} `json:"memory"`
			} `json:"patterns"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Patterns) != 1 || doc.Patterns[0].Memory.Soak == nil {
			t.Fatalf("no soak in %s", b)
		}
		m := doc.Patterns[0].Memory
		t.Logf("run %s, plant %q: soak %d tasks, %d samples, verdict %s over %.1f s, %+.0f KiB/min [%.0f–%.0f]", doc.RunID, plant,
			m.Soak.Tasks, len(m.Soak.Series), m.Soak.Trend.Verdict, m.Soak.Trend.Window, m.Soak.Trend.Slope/1024,
			m.Soak.Trend.CI[0]/1024, m.Soak.Trend.CI[1]/1024)
		if m.Soak.Tasks < 50 || m.Soak.Errors != 0 || len(m.Soak.Series) < 20 {
			t.Errorf("plant %q: soak of %d tasks, %d errors, %d samples", plant, m.Soak.Tasks, m.Soak.Errors, len(m.Soak.Series))
		}
		leaking := m.Soak.Trend.Verdict == "growing" && m.Trend.Verdict == "growing" && strings.Contains(stdout.String(), "not stable")
		if leaking != (plant != "") || m.Soak.Trend.Verdict == "growing" != (plant != "") {
			t.Errorf("plant %q: soak verdict %s, pattern verdict %s; want growing only with the planted leak", plant,
				m.Soak.Trend.Verdict, m.Trend.Verdict)
		}
	}
}

// A planted bus fault on a bus without the knobs (NATS, a --bus-image) is refused before anything runs: one line,
// exit 2 — never a run with that bus silently clean beside the planted ones.
func TestPlantOnABusWithoutKnobsIsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"--scenario", "bus-load", "--bus", "go,nats", "--plant", "delay-ms=60"},
		{"--scenario", "bus-load", "--plant", "drop-every=100"}, // the full run's default set holds NATS
		{"--scenario", "agent-messaging", "--bus", "go", "--bus-image", "mine=example/bus", "--plant", "drop-every=10"},
	} {
		var stdout, errb bytes.Buffer
		code := Main(context.Background(), append(args, "--out", t.TempDir()), testIO(&stdout, &errb))
		lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
		if code != ExitUsage || len(lines) != 1 || !strings.Contains(lines[0], "cannot take planted bus faults") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line", args, code, errb.String(), ExitUsage)
		}
	}
}
