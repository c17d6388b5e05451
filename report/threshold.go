package report

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/agentlab/agentlab/internal/stats"
	"github.com/agentlab/agentlab/scenarios"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// Grammar is the threshold syntax, in one line (printed with every syntax error).
const Grammar = `threshold: SCENARIO.SUBJECT….METRIC OP NUMBER, OP one of < <= > >= == !=, e.g. bus-load.go.targeted.latency_p95_ms<50 (the median over repeats; see README: Thresholds)`

// Threshold is one pass/fail criterion on a figure, as k6 has them.
type Threshold struct {
	Expr   string
	Figure string // the figure's name
	Op     string
	Limit  float64
}

var thresholdRE = regexp.MustCompile(`^\s*([a-z0-9][a-z0-9_.\-]*\.[a-z0-9_]+)\s*(<=|>=|==|!=|<|>)\s*([-+0-9.eE]+)\s*$`)

// ParseThreshold reads one threshold; the scenario and the metric must exist (the subject is checked after the
// run, against what was measured).
func ParseThreshold(s string, scenarioNames []string) (Threshold, error) {
	m := thresholdRE.FindStringSubmatch(s)
	if m == nil {
		return Threshold{}, fmt.Errorf("bad threshold %q; %s", s, Grammar)
	}
	lim, err := strconv.ParseFloat(m[3], 64)
	if err != nil || math.IsNaN(lim) || math.IsInf(lim, 0) {
		return Threshold{}, fmt.Errorf("bad threshold %q: %q is not a number; %s", s, m[3], Grammar)
	}
	t := Threshold{Expr: strings.TrimSpace(s), Figure: m[1], Op: m[2], Limit: lim}
	name := t.Figure
	sc := ""
	for _, n := range scenarioNames {
		if strings.HasPrefix(name, n+".") && len(n) > len(sc) {
			sc = n
		}
	}
	if sc == "" {
		return Threshold{}, fmt.Errorf("threshold %q: unknown scenario; valid: %s", s, strings.Join(scenarioNames, ", "))
	}
	metric := name[strings.LastIndexByte(name, '.')+1:]
	if err := scenarios.KnownMetric(metric); err != nil {
		return Threshold{}, fmt.Errorf("threshold %q: %w", s, err)
	}
	return t, nil
}

// ReadThresholds reads a thresholds file: one threshold a line; blank lines and # comments are skipped.
func ReadThresholds(path string, scenarioNames []string) ([]Threshold, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("thresholds file: %w", err)
	}
	defer f.Close()
	var out []Threshold
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		t, err := ParseThreshold(line, scenarioNames)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, t)
	}
	return out, sc.Err()
}

// ThresholdResult is a threshold evaluated on a run.
type ThresholdResult struct {
	Threshold
	Value    stats.Interval // the figure's median over its samples
	Measured bool
	Pass     bool
}

func (t Threshold) holds(v float64) bool {
	switch t.Op {
	case "<":
		return v < t.Limit
	case "<=":
		return v <= t.Limit
	case ">":
		return v > t.Limit
	case ">=":
		return v >= t.Limit
	case "==":
		return v == t.Limit
	default:
		return v != t.Limit
	}
}

// Evaluate checks each threshold on the run's figures: the value is the figure's median over its samples (repeats
// or rounds), as k6 checks an aggregate. A figure the run did not measure fails.
func Evaluate(ts []Threshold, r *scenarios.Folder) []ThresholdResult {
	figs := map[string]scenario.Figure{}
	for _, f := range r.Figures() {
		figs[f.Name()] = f
	}
	var out []ThresholdResult
	for _, t := range ts {
		tr := ThresholdResult{Threshold: t}
		if f, ok := figs[t.Figure]; ok {
			tr.Value, tr.Measured = stats.MedianCI(f.Samples), true
			tr.Pass = tr.Value.N > 0 && t.holds(tr.Value.Estimate)
		}
		out = append(out, tr)
	}
	return out
}

// PrintThresholds writes ✓/✗ with each value, and says whether all passed.
func PrintThresholds(w io.Writer, rs []ThresholdResult) bool {
	if len(rs) == 0 {
		return true
	}
	fmt.Fprintln(w, "\nthresholds:")
	ok := true
	for _, r := range rs {
		mark := "✓"
		if !r.Pass {
			mark, ok = "✗", false
		}
		val := "not measured in this run"
		if r.Measured {
			val = r.Value.Format("%.4g")
		}
		fmt.Fprintf(w, "  %s %s: %s\n", mark, r.Expr, val)
	}
	return ok
}
