// Package decide is the one home of the seed's decision tree (benchmark-suite-README.md, "Results
// Interpretation"): one function per seed question, every threshold a named constant next to the seed's words,
// and the typed FinalReport the runner writes as final-report.json.
//
// decide never measures: each function takes the figures a scenario measured (per repeat or per round, so it can
// put an interval on them) and answers yes, no or — when the interval straddles the threshold or the sample is too
// small for an interval — inconclusive, with the figures that led there.
package decide

import (
	"fmt"

	"github.com/agentlab/agentlab/internal/stats"
)

// Answer is a decision's outcome.
type Answer string

const (
	Yes          Answer = "yes"
	No           Answer = "no"
	Inconclusive Answer = "inconclusive"  // the interval straddles the threshold, or n is too small for one
	NotEvaluated Answer = "not-evaluated" // the inputs were not measured in this run
)

// Check is one question of the tree answered from one measured figure.
type Check struct {
	Question string `json:"question"` // the seed's words
	Answer   Answer `json:"answer"`
	// Then is the seed's consequence of the answer ("Stick with Go", "Move to persistent architecture", …);
	// empty when inconclusive or not evaluated.
	Then      string          `json:"then,omitempty"`
	Value     *stats.Interval `json:"value,omitempty"` // the figure: median with its 95 % CI where n supports one
	Unit      string          `json:"unit,omitempty"`
	Threshold *float64        `json:"threshold,omitempty"`
	// P is a Mann–Whitney U p-value where the question compares two samples (Go vs Rust).
	P      *float64 `json:"p_value,omitempty"`
	Detail string   `json:"detail"` // the figures and the reasoning, one line
}

// Direction says which side of a threshold answers yes.
type Direction int

const (
	YesBelow Direction = iota // yes when the figure is below the threshold ("P95 < 50 ms")
	YesAbove                  // yes when the figure is above it ("saves > 50 %")
)

// against answers whether iv lies on the yes side of threshold t. An interval that straddles t, or a sample too
// small for a 95 % interval, is inconclusive: the figures are given, the verdict is not.
func against(iv stats.Interval, t float64, dir Direction, verb string) (Answer, string) {
	if iv.N == 0 {
		return NotEvaluated, "not measured"
	}
	rel := map[Direction]string{YesBelow: "<", YesAbove: ">"}[dir]
	fig := iv.Format(verb)
	switch side := iv.Side(t); {
	case side == stats.NoCI:
		return Inconclusive, fmt.Sprintf("%s: too few samples for a 95 %% CI to show it %s "+verb, fig, rel, t)
	case side == stats.Straddles:
		return Inconclusive, fmt.Sprintf("%s: the 95 %% CI straddles "+verb, fig, t)
	case (side == stats.Below) == (dir == YesBelow):
		return Yes, fmt.Sprintf("%s %s "+verb+" (whole 95 %% CI)", fig, rel, t)
	default:
		return No, fmt.Sprintf("%s: not %s "+verb+" (whole 95 %% CI)", fig, rel, t)
	}
}

// threshold checks iv against t and fills a Check; then maps the yes/no answer to the seed's consequence.
func threshold(question string, xs []float64, t float64, dir Direction, unit, verb string, then map[Answer]string) Check {
	iv := stats.MedianCI(xs)
	c := Check{Question: question, Unit: unit, Threshold: &t}
	if iv.N > 0 {
		c.Value = &iv
	}
	c.Answer, c.Detail = against(iv, t, dir, verb)
	c.Then = then[c.Answer]
	return c
}

// all combines answers that must all be yes: any no → no; else any inconclusive → inconclusive; none → not evaluated.
func all(as ...Answer) Answer {
	if len(as) == 0 {
		return NotEvaluated
	}
	out := Yes
	for _, a := range as {
		switch a {
		case No:
			return No
		case Inconclusive, NotEvaluated:
			if out == Yes || a == Inconclusive {
				out = a
			}
		}
	}
	return out
}
