package lifecycle

import (
	"bytes"
	"strings"
	"testing"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/stats"
)

func result(name, kind string, mean float64, rounds []float64, verdict string) *PatternResult {
	r := &PatternResult{patternInfo: patternInfo{Name: name, Kind: kind}, Tasks: 10,
		Time: stats.Summary{MeanMS: mean, P50MS: mean}, RoundMeanMS: rounds}
	if verdict != "" {
		r.Memory.Trend = &stats.Trend{Verdict: verdict}
	}
	return r
}

// TestSpawnInput: the decision reads the same per-round savings as the ratios table (decide's tests cover the tree).
func TestSpawnInput(t *testing.T) {
	res := []*PatternResult{
		result("spawn-process", "spawn", 10, []float64{10, 10, 10, 10, 10, 10}, ""),
		result("persistent-process", "persistent", 1, []float64{1, 1, 2, 1, 1, 1}, stats.Stable),
		result("spawn-docker", "spawn", 200, []float64{200}, ""),
	}
	rs := ratios(res)
	in := spawnInput(res, rs)
	if len(in.Savings) != 1 || in.Savings[0].Runtime != "process" || len(in.Savings[0].PerRound) != 6 || in.Savings[0].PerRound[2] != 80 {
		t.Fatalf("savings input %+v", in.Savings)
	}
	if len(in.Memory) != 1 || in.Memory[0].Pattern != "persistent-process" {
		t.Errorf("memory input %+v", in.Memory)
	}
	d := decide.Spawn(in)
	if d.PersistentSaves50 != decide.Yes || d.ShiftJustified != decide.Yes {
		t.Errorf("decision %+v", d)
	}
	if d.Savings[0].Value.Estimate != rs[0].SavingsPct.Estimate {
		t.Errorf("decision saving %v ≠ table saving %v", d.Savings[0].Value.Estimate, rs[0].SavingsPct.Estimate)
	}
}

func TestRatios(t *testing.T) {
	rs := ratios([]*PatternResult{
		result("spawn-process", "spawn", 10, []float64{10, 12, 8}, ""),
		result("persistent-process", "persistent", 2, []float64{2, 3, 2}, ""),
	})
	if len(rs) != 1 {
		t.Fatalf("ratios = %+v", rs)
	}
	r := rs[0]
	// The rounds save 80, 75 and 75 %.
	if r.MeanRatio != 5 || r.SavingsPct.N != 3 || r.SavingsPct.Estimate != 75 || r.SavingsPct.HasCI() {
		t.Errorf("ratio = %+v", r)
	}
}

func TestReportNamesEverything(t *testing.T) {
	res := []*PatternResult{
		result("spawn-process", "spawn", 10, []float64{10}, ""),
		result("persistent-process", "persistent", 1, []float64{1}, stats.Stable),
	}
	res[0].Memory.Source = "SRC-A"
	res[1].Memory.Source = "SRC-B"
	rs := ratios(res)
	d := decide.Spawn(spawnInput(res, rs))
	c := &Comparison{Params: lifecycleParams{Iterations: 10}, Patterns: res, Ratios: rs, Decision: &d}
	var b bytes.Buffer
	if err := c.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SRC-A", "SRC-B", "spawn-process      / persistent-process", "architectural shift justified: inconclusive", "n=1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
