package stats

import (
	"math"
	"time"
)

// Stability rule (stated in the README): drop the first WarmupFraction of the samples; fit memory against time by
// least squares over the rest; the memory is stable when the fitted growth across that window is at most
// max(GrowthFraction × baseline, GrowthFloorBytes). Fewer than MinSamples samples after warm-up give no verdict.
const (
	WarmupFraction   = 0.2
	GrowthFraction   = 0.02
	GrowthFloorBytes = 1 << 20
	MinSamples       = 5
)

// Verdicts.
const (
	Stable       = "stable"
	Growing      = "growing"
	Insufficient = "insufficient-data"
)

// MemPoint is one memory sample.
type MemPoint struct {
	T     time.Time
	Bytes float64
}

// Trend is the stability analysis of a memory series.
type Trend struct {
	Verdict        string  `json:"verdict"`
	Rule           string  `json:"rule"`
	Samples        int     `json:"samples"`
	BaselineBytes  float64 `json:"baseline_bytes"`
	FinalBytes     float64 `json:"final_bytes"`
	DeltaBytes     float64 `json:"delta_bytes"`
	SlopeBytesMin  float64 `json:"slope_bytes_per_min"`
	SlopeStdErrMin float64 `json:"slope_stderr_bytes_per_min"`
	WindowSeconds  float64 `json:"window_s"`
	GrowthBytes    float64 `json:"fitted_growth_bytes"`
	LimitBytes     float64 `json:"limit_bytes"`
}

// RuleText describes the stability rule for reports.
const RuleText = "after dropping the first 20% of samples, the least-squares growth across the window must be ≤ max(2% of baseline, 1 MiB)"

// Analyze applies the stability rule to pts (in time order). The baseline is the first sample.
func Analyze(pts []MemPoint) Trend {
	tr := Trend{Rule: RuleText, Samples: len(pts), Verdict: Insufficient}
	if len(pts) == 0 {
		return tr
	}
	tr.BaselineBytes = pts[0].Bytes
	tr.FinalBytes = pts[len(pts)-1].Bytes
	tr.DeltaBytes = tr.FinalBytes - tr.BaselineBytes
	skip := int(math.Ceil(WarmupFraction * float64(len(pts))))
	rest := pts[skip:]
	if len(rest) < MinSamples {
		return tr
	}
	x := make([]float64, len(rest))
	y := make([]float64, len(rest))
	for i, p := range rest {
		x[i] = p.T.Sub(rest[0].T).Minutes()
		y[i] = p.Bytes
	}
	f, ok := LinearFit(x, y)
	if !ok {
		return tr
	}
	tr.SlopeBytesMin = f.Slope
	tr.SlopeStdErrMin = f.SlopeStdErr
	tr.WindowSeconds = rest[len(rest)-1].T.Sub(rest[0].T).Seconds()
	tr.GrowthBytes = f.Slope * x[len(x)-1]
	tr.LimitBytes = math.Max(GrowthFraction*tr.BaselineBytes, GrowthFloorBytes)
	if tr.GrowthBytes <= tr.LimitBytes {
		tr.Verdict = Stable
	} else {
		tr.Verdict = Growing
	}
	return tr
}
