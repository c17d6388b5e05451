package stats

import (
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// Stability rule (stated in the README and results/README.md). Drop the first WarmupFraction of the samples; fit
// memory against time by least squares over the rest: the growth g (bytes/min) with its 95 % interval, and the
// window's detection limit L (bytes/min, below). With T = GrowthThresholdBytesPerMin:
//
//	growing       the whole 95 % interval of g is above T, and above the resolution floor (below)
//	              (a leak: "not stable", with g)
//	stable        the whole interval is below T AND L ≤ T           (no growth above T, and the window could see T)
//	not-shown     L > T and not growing                            (the window is too short or too noisy to tell)
//	inconclusive  L ≤ T and the interval straddles T
//	insufficient-data  fewer than MinSamples samples after warm-up
//
// Interval. Memory samples taken 100 ms apart are not independent (a GC sawtooth, a burst of tasks), so the
// ordinary least-squares standard error s/√Sxx (s² = SSE/(n−2), Sxx = Σ(t−t̄)²) would be too small. The residuals'
// lag-1 autocorrelation r (clamped to [0, 0.99]) gives an effective sample size n_eff = n·(1−r)/(1+r) (Santer et
// al. 2000, the usual correction for trends in autocorrelated series); the standard error is scaled by
// √((n−2)/(n_eff−2)) and Student's t has ν = n_eff − 2 degrees of freedom. The interval is g ± t(0.975, ν)·SE.
//
// Detection limit. L = (t(0.975, ν) + t(0.95, ν)) · SE: a true growth of L bytes/min would give an interval wholly
// above 0 in 95 % of windows with this length, sample spacing and noise (two-sided α = 0.05, power 0.95). It
// shrinks as window^(3/2) for a fixed sampling rate: for n evenly spaced samples over a window W, Sxx ≈ n·W²/12, so
// SE ≈ s·√12 / (W·√n_eff). n_eff ≤ 2 makes L infinite (reported as -1: unknown).
//
// Resolution floor. Memory does not grow smoothly with a leak: a garbage-collected heap absorbs new objects in the
// slack between collections and RSS or cgroup memory moves in steps (pages, heap arenas), so a perfectly flat
// reading over a second says nothing about a slow leak. L is therefore at least ResolutionBytes ÷ W: the window must
// be long enough for a leak at L to have grown past the allocator's slack. With 1 MiB and T = 256 KiB/min, "stable"
// needs a window of at least 4 minutes (a --soak); a quick run's window answers "not shown". The floor holds the
// other way too: "growing" needs the interval's low end above ResolutionBytes ÷ W as well as above T, since a
// growth the allocator's steps can make is no evidence of a leak (a clean Go agent grew 12 KiB over a 0.4 s quick
// window on a loaded machine, +1784 KiB/min [276–3291], and was called leaking before this rule).
const (
	// ResolutionBytes is the growth a window must be able to see beyond the allocator's slack (the floor above).
	ResolutionBytes = 1 << 20
	WarmupFraction  = 0.2
	MinSamples      = 5
	// GrowthThresholdBytesPerMin is the growth the lab calls a leak: 256 KiB/min is 360 MiB a day, enough to
	// exhaust a typical agent's memory within days. decide.MaxMemoryGrowthKiBPerMin is the same figure.
	GrowthThresholdBytesPerMin = 256 * 1024
)

// Verdicts.
const (
	Stable       = "stable"
	Growing      = "growing"
	NotShown     = "not-shown"
	Undecided    = "inconclusive"
	Insufficient = "insufficient-data"
)

// MemPoint is one memory sample.
type MemPoint struct {
	T     time.Time
	Bytes float64
}

// Trend is the stability analysis of a memory series. Growth figures are bytes per minute of the fitted line.
type Trend struct {
	Verdict       string  `json:"verdict"`
	Rule          string  `json:"rule"`
	Samples       int     `json:"samples"`
	BaselineBytes float64 `json:"baseline_bytes"`
	FinalBytes    float64 `json:"final_bytes"`
	DeltaBytes    float64 `json:"delta_bytes"`
	// SlopeBytesMin is the fitted growth g, bytes/min; SlopeStdErrMin its standard error corrected for
	// autocorrelation; SlopeCI95 its 95 % interval [low, high].
	SlopeBytesMin  float64    `json:"slope_bytes_per_min"`
	SlopeStdErrMin float64    `json:"slope_stderr_bytes_per_min"`
	SlopeCI95      [2]float64 `json:"slope_ci95_bytes_per_min"`
	// EffectiveSamples is n_eff (the fitted samples discounted for their lag-1 autocorrelation Lag1).
	EffectiveSamples float64 `json:"effective_samples"`
	Lag1             float64 `json:"residual_lag1_autocorrelation"`
	// DetectionLimitMin is L, bytes/min: the smallest growth this window would have detected 95 % of the time;
	// -1 when too few effective samples to say.
	DetectionLimitMin float64 `json:"detection_limit_bytes_per_min"`
	ThresholdMin      float64 `json:"threshold_bytes_per_min"`
	WindowSeconds     float64 `json:"window_s"`
	GrowthBytes       float64 `json:"fitted_growth_bytes"` // g × window
}

// RuleText describes the stability rule for reports.
var RuleText = fmt.Sprintf("after dropping the first 20%% of samples, fit memory growth by least squares (95%% CI "+
	"corrected for autocorrelation): growing if the CI is wholly above %d KiB/min and above 1 MiB ÷ window; stable if wholly below it and the "+
	"window's detection limit (at least 1 MiB ÷ window) is at most %d KiB/min; else not shown (window too short) or inconclusive",
	GrowthThresholdBytesPerMin/1024, GrowthThresholdBytesPerMin/1024)

// Analyze applies the stability rule to pts (in time order). The baseline is the first sample.
func Analyze(pts []MemPoint) Trend {
	tr := Trend{Rule: RuleText, Samples: len(pts), Verdict: Insufficient, ThresholdMin: GrowthThresholdBytesPerMin,
		DetectionLimitMin: -1}
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
	g, ok := FitGrowth(x, y)
	if !ok {
		return tr
	}
	tr.SlopeBytesMin = g.Slope
	tr.SlopeStdErrMin = g.StdErr
	tr.SlopeCI95 = [2]float64{g.Low, g.High}
	if g.DetectionLimit < 0 { // no interval: JSON has no infinity, and -1 says unknown
		tr.SlopeStdErrMin, tr.SlopeCI95 = -1, [2]float64{}
	}
	tr.EffectiveSamples = g.NEff
	tr.Lag1 = g.Lag1
	tr.WindowSeconds = rest[len(rest)-1].T.Sub(rest[0].T).Seconds()
	if g.DetectionLimit >= 0 { // the resolution floor
		g.DetectionLimit = max(g.DetectionLimit, ResolutionBytes/x[len(x)-1])
	}
	tr.DetectionLimitMin = g.DetectionLimit
	tr.GrowthBytes = g.Slope * x[len(x)-1]
	tr.Verdict = growthVerdict(g, GrowthThresholdBytesPerMin, ResolutionBytes/x[len(x)-1])
	return tr
}

// growthVerdict applies the rule with threshold t and resolution floor (bytes/min: ResolutionBytes ÷ window).
func growthVerdict(g Growth, t, floor float64) string {
	switch {
	case g.Low > t && g.Low > floor:
		return Growing
	case g.DetectionLimit < 0 || g.DetectionLimit > t:
		return NotShown
	case g.High < t:
		return Stable
	default:
		return Undecided
	}
}

// Growth is a least-squares slope with an interval corrected for lag-1 autocorrelation, and the detection limit
// of the window it came from (the rule above).
type Growth struct {
	Slope, StdErr, Low, High float64
	NEff, Lag1               float64
	DetectionLimit           float64 // -1 when unknown (n_eff ≤ 2)
	N                        int
}

// FitGrowth fits y against x (see the stability rule for the interval and the detection limit); false when the
// fit is impossible (fewer than 3 points, or one x value).
func FitGrowth(x, y []float64) (Growth, bool) {
	f, ok := LinearFit(x, y)
	if !ok || f.N < 3 {
		return Growth{N: len(x)}, false
	}
	g := Growth{Slope: f.Slope, N: f.N, DetectionLimit: -1, Low: math.Inf(-1), High: math.Inf(1)}
	var num, den float64
	prev := 0.0
	for i := range x {
		r := y[i] - (f.Intercept + f.Slope*x[i])
		if i > 0 {
			num += prev * r
		}
		den += r * r
		prev = r
	}
	if den > 0 {
		g.Lag1 = min(max(num/den, 0), 0.99)
	}
	n := float64(f.N)
	g.NEff = n * (1 - g.Lag1) / (1 + g.Lag1)
	if g.NEff <= 2 {
		g.StdErr = math.Inf(1)
		return g, true
	}
	g.StdErr = f.SlopeStdErr * math.Sqrt((n-2)/(g.NEff-2))
	st := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: g.NEff - 2}
	t975, t95 := st.Quantile(0.975), st.Quantile(0.95)
	g.Low, g.High = g.Slope-t975*g.StdErr, g.Slope+t975*g.StdErr
	g.DetectionLimit = (t975 + t95) * g.StdErr
	return g, true
}
