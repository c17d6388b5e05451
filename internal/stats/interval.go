package stats

import (
	"fmt"
	"math"
	"strings"

	"golang.org/x/perf/benchmath"
)

// Confidence is the confidence level every interval of the lab asks for.
const Confidence = 0.95

// Alpha is the significance level of every comparison (benchmath.DefaultThresholds.CompareAlpha).
const Alpha = 0.05

// MinNForCI is the smallest sample for which order statistics give a 95 % interval of the median: with n values the
// interval [x(1), x(n)] covers the median with probability 1 − 2·0.5ⁿ, which first reaches 0.95 at n = 6 (0.969).
// benchmath refuses (±∞ and a warning) below it; this constant is for documentation and for callers planning repeats.
const MinNForCI = 6

// MinNForSignificance is the smallest per-side sample for which the Mann–Whitney U test can reach p < 0.05 at all
// (two samples of 4 give a minimum p of 0.029; of 3, 0.1). Below it a comparison is never significant.
const MinNForSignificance = 4

// Interval is a median with its confidence interval, or no interval when the sample cannot support one.
type Interval struct {
	Estimate   float64  `json:"estimate"`                // median
	Low95      *float64 `json:"ci95_low"`                // nil when N is too small for a 95 % interval (N < MinNForCI)
	High95     *float64 `json:"ci95_high"`               // nil with Low95
	Confidence float64  `json:"ci_confidence,omitempty"` // the interval's actual confidence (order statistics give ≥ 0.95)
	Min        float64  `json:"min"`
	Max        float64  `json:"max"`
	N          int      `json:"n"`
}

// clean drops NaNs (a failed measurement is not a value) and returns a copy: benchmath sorts its input in place.
func clean(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			out = append(out, x)
		}
	}
	return out
}

func sample(xs []float64) *benchmath.Sample {
	th := benchmath.DefaultThresholds
	th.CompareAlpha = Alpha
	return benchmath.NewSample(clean(xs), &th)
}

// MedianCI is the median of xs with benchmath's distribution-free (AssumeNothing, order-statistic) 95 % interval.
// NaNs are ignored; an empty sample gives N = 0 and zeros; fewer than MinNForCI values give no interval.
func MedianCI(xs []float64) Interval {
	s := sample(xs)
	iv := Interval{N: len(s.Values)}
	if iv.N == 0 {
		return iv
	}
	iv.Min, iv.Max = s.Values[0], s.Values[iv.N-1]
	sum := benchmath.AssumeNothing.Summary(s, Confidence)
	iv.Estimate = sum.Center
	if !math.IsInf(sum.Lo, 0) && !math.IsInf(sum.Hi, 0) && !math.IsNaN(sum.Lo) && !math.IsNaN(sum.Hi) {
		lo, hi := sum.Lo, sum.Hi
		iv.Low95, iv.High95 = &lo, &hi
		iv.Confidence = sum.Confidence
	}
	return iv
}

// BootstrapMedian is the former percentile-bootstrap estimator, kept only so callers still build.
//
// Deprecated: use MedianCI. It returns exactly MedianCI(xs): no interval below MinNForCI values.
func BootstrapMedian(xs []float64) Interval { return MedianCI(xs) }

// HasCI reports whether the interval has bounds.
func (iv Interval) HasCI() bool { return iv.Low95 != nil && iv.High95 != nil }

// Format prints the interval with verb (a fmt verb for one number, e.g. "%.2f"): "12.30 [11.90–12.80]" with a CI,
// "12.30 (n=3: no CI; range 11.90–12.80)" without, "12.30 (n=1)" for one value and "— (n=0)" for none.
func (iv Interval) Format(verb string) string {
	f := func(x float64) string { return fmt.Sprintf(verb, x) }
	switch {
	case iv.N == 0:
		return "— (n=0)"
	case iv.HasCI():
		return f(iv.Estimate) + " [" + f(*iv.Low95) + "–" + f(*iv.High95) + "]"
	case iv.N == 1:
		return fmt.Sprintf("%s (n=1)", f(iv.Estimate))
	default:
		return fmt.Sprintf("%s (n=%d: no CI; range %s–%s)", f(iv.Estimate), iv.N, f(iv.Min), f(iv.Max))
	}
}

// Side is where an interval lies against a threshold.
type Side int

// Sides. NoCI means the sample cannot support an interval: the caller reports the decision as inconclusive.
const (
	NoCI Side = iota
	Below
	Above
	Straddles
)

func (s Side) String() string {
	switch s {
	case Below:
		return "below"
	case Above:
		return "above"
	case Straddles:
		return "straddles"
	default:
		return "no-ci"
	}
}

// Side says where the interval lies against t: Below when High95 < t, Above when Low95 > t, Straddles when the
// closed interval contains t, NoCI when there is no interval.
func (iv Interval) Side(t float64) Side {
	switch {
	case !iv.HasCI():
		return NoCI
	case *iv.High95 < t:
		return Below
	case *iv.Low95 > t:
		return Above
	default:
		return Straddles
	}
}

// Comparison is benchstat's row: two samples, their medians with CIs, the delta and the Mann–Whitney U p-value.
type Comparison struct {
	A           Interval `json:"a"`
	B           Interval `json:"b"`
	Ratio       *float64 `json:"ratio"`          // median B / median A; nil when A's median is 0
	DeltaPct    *float64 `json:"delta_pct"`      // 100·(B/A − 1); nil with Ratio
	P           *float64 `json:"p_value"`        // two-sided Mann–Whitney U; nil when it cannot be computed (a sample is empty)
	Alpha       float64  `json:"alpha"`          // significance level, 0.05
	Significant bool     `json:"significant"`    // P < Alpha
	Note        string   `json:"note,omitempty"` // benchmath's warnings, e.g. "need >= 4 samples to detect a difference at alpha level 0.05"
}

// Compare compares two samples as benchstat does (AssumeNothing): medians with 95 % CIs and the Mann–Whitney U test.
// Two samples of fewer than MinNForSignificance values each are never significant, and the Note says so.
func Compare(a, b []float64) Comparison {
	sa, sb := sample(a), sample(b)
	c := Comparison{A: MedianCI(a), B: MedianCI(b), Alpha: Alpha}
	if c.A.N > 0 && c.B.N > 0 && c.A.Estimate != 0 {
		r := c.B.Estimate / c.A.Estimate
		d := 100 * (r - 1)
		c.Ratio, c.DeltaPct = &r, &d
	}
	var notes []string
	for _, iv := range []Interval{c.A, c.B} {
		if iv.N > 0 && !iv.HasCI() {
			notes = append(notes, fmt.Sprintf("need >= %d samples for confidence interval at level %v", MinNForCI, Confidence))
			break
		}
	}
	if c.A.N == 0 || c.B.N == 0 {
		notes = append(notes, "a sample is empty")
		c.Note = strings.Join(notes, "; ")
		return c
	}
	cmp := benchmath.AssumeNothing.Compare(sa, sb)
	// benchmath reports a failed U test as p = 1 with the error as a warning. All-equal samples (one value on both
	// sides) genuinely show no difference, so p = 1 stands; any other failure means no p-value.
	failed := false
	for _, w := range cmp.Warnings {
		notes = append(notes, w.Error())
		if w.Error() != "all samples are equal" && !strings.HasPrefix(w.Error(), "need ") {
			failed = true
		}
	}
	if !failed {
		p := cmp.P
		c.P = &p
		c.Significant = p < c.Alpha
	}
	c.Note = strings.Join(notes, "; ")
	return c
}

// String is benchstat's delta cell: "+12.3% (p=0.002 n=6+6)" when significant, "~ (p=0.400 n=3+3)" when not.
func (c Comparison) String() string {
	n := fmt.Sprintf("n=%d+%d", c.A.N, c.B.N)
	if c.P == nil {
		return "? (no p-value " + n + ")"
	}
	inner := fmt.Sprintf("p=%.3f %s", *c.P, n)
	switch {
	case !c.Significant:
		return "~ (" + inner + ")"
	case c.DeltaPct == nil:
		return "? (" + inner + ")"
	default:
		return fmt.Sprintf("%+.1f%% (%s)", *c.DeltaPct, inner)
	}
}
