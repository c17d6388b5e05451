package scenarios

import (
	"bytes"
	"strings"
	"testing"

	"github.com/agentlab/agentlab/internal/stats"
)

func result(name, kind string, mean float64, rounds []float64, verdict string) *patternResult {
	r := &patternResult{patternInfo: patternInfo{Name: name, Kind: kind}, Tasks: 10,
		Time: stats.Summary{MeanMS: mean, P50MS: mean}, RoundMeanMS: rounds}
	if verdict != "" {
		r.Memory.Trend = &stats.Trend{Verdict: verdict}
	}
	return r
}

func TestDecideSpawn(t *testing.T) {
	for _, tc := range []struct {
		name      string
		res       []*patternResult
		justified *bool
		timeAns   string
	}{
		{"saves and stable", []*patternResult{
			result("spawn-process", "spawn", 10, nil, ""), result("persistent-process", "persistent", 1, nil, stats.Stable),
			result("spawn-docker", "spawn", 200, nil, ""), result("persistent-docker", "persistent", 1, nil, stats.Stable),
		}, ptr(true), "YES"},
		{"saves but leaks", []*patternResult{
			result("spawn-process", "spawn", 10, nil, ""), result("persistent-process", "persistent", 1, nil, stats.Growing),
		}, ptr(false), "YES"},
		{"saves too little in one runtime", []*patternResult{
			result("spawn-process", "spawn", 10, nil, ""), result("persistent-process", "persistent", 6, nil, stats.Stable),
			result("spawn-docker", "spawn", 200, nil, ""), result("persistent-docker", "persistent", 1, nil, stats.Stable),
		}, ptr(false), "NO"},
		{"memory unknown", []*patternResult{
			result("spawn-process", "spawn", 10, nil, ""), result("persistent-process", "persistent", 1, nil, stats.Insufficient),
		}, nil, "YES"},
		{"no pair", []*patternResult{result("spawn-docker", "spawn", 200, nil, "")}, nil, "not evaluated"},
	} {
		d := decideSpawn(tc.res)
		if (d.ShiftJustified == nil) != (tc.justified == nil) || (d.ShiftJustified != nil && *d.ShiftJustified != *tc.justified) {
			t.Errorf("%s: justified = %v, want %v (%+v)", tc.name, d.ShiftJustified, tc.justified, d)
		}
		if !strings.HasPrefix(d.TimeAnswer, tc.timeAns) {
			t.Errorf("%s: time answer %q, want prefix %q", tc.name, d.TimeAnswer, tc.timeAns)
		}
	}
}

func ptr(b bool) *bool { return &b }

func TestRatios(t *testing.T) {
	rs := ratios([]*patternResult{
		result("spawn-process", "spawn", 10, []float64{10, 12, 8}, ""),
		result("persistent-process", "persistent", 2, []float64{2, 3, 2}, ""),
	})
	if len(rs) != 1 {
		t.Fatalf("ratios = %+v", rs)
	}
	r := rs[0]
	// The rounds save 80, 75 and 75 %.
	if r.MeanRatio != 5 || r.SavingsPct.N != 3 || r.SavingsPct.Estimate != 75 {
		t.Errorf("ratio = %+v", r)
	}
}

func TestReportNamesEverything(t *testing.T) {
	res := []*patternResult{
		result("spawn-process", "spawn", 10, []float64{10}, ""),
		result("persistent-process", "persistent", 1, []float64{1}, stats.Stable),
	}
	res[0].Memory.Source = "SRC-A"
	res[1].Memory.Source = "SRC-B"
	c := &comparison{Params: map[string]any{"iterations": 10}, Patterns: res, Ratios: ratios(res), Decision: decideSpawn(res)}
	var b bytes.Buffer
	if err := c.report(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SRC-A", "SRC-B", "spawn-process      / persistent-process", "architectural shift justified: true"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
