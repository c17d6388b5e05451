package stats

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// noisy is n samples every step, growing perMin bytes/min, with white noise of standard deviation sd (a fixed seed:
// the test is deterministic).
func noisy(n int, step time.Duration, perMin, sd float64, seed uint64) []MemPoint {
	rng := rand.New(rand.NewPCG(seed, 1))
	t0 := time.Unix(0, 0)
	out := make([]MemPoint, n)
	for i := range out {
		t := time.Duration(i) * step
		out[i] = MemPoint{T: t0.Add(t), Bytes: 100<<20 + perMin*t.Minutes() + sd*rng.NormFloat64()}
	}
	return out
}

// expectedLimit is the detection limit of the rule for white noise sd over the samples kept after warm-up,
// computed from the formula in stability.go with n_eff = n (no autocorrelation).
func expectedLimit(pts []MemPoint, sd float64) float64 {
	rest := pts[int(math.Ceil(WarmupFraction*float64(len(pts)))):]
	var mx, sxx float64
	for _, p := range rest {
		mx += p.T.Sub(rest[0].T).Minutes()
	}
	mx /= float64(len(rest))
	for _, p := range rest {
		d := p.T.Sub(rest[0].T).Minutes() - mx
		sxx += d * d
	}
	st := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(len(rest) - 2)}
	w := rest[len(rest)-1].T.Sub(rest[0].T).Minutes()
	return max((st.Quantile(0.975)+st.Quantile(0.95))*sd/math.Sqrt(sxx), ResolutionBytes/w)
}

func TestGrowthDetectsAKnownLeak(t *testing.T) {
	// 1 MiB/min over a 10-minute soak sampled every second, 512 KiB of noise: "growing", the interval holds the truth.
	tr := Analyze(noisy(600, time.Second, 1<<20, 512<<10, 1))
	if tr.Verdict != Growing {
		t.Fatalf("1 MiB/min leak over 10 min: %+v", tr)
	}
	if lo, hi := tr.SlopeCI95[0], tr.SlopeCI95[1]; lo > 1<<20 || hi < 1<<20 || lo <= GrowthThresholdBytesPerMin {
		t.Errorf("CI [%.0f, %.0f] KiB/min should hold 1024 and lie above the threshold", lo/1024, hi/1024)
	}
	if tr.DetectionLimitMin <= 0 || tr.DetectionLimitMin > 160<<10 {
		t.Errorf("detection limit %.0f KiB/min: a 10-minute soak should see ~128 KiB/min (1 MiB ÷ 8 min after warm-up)", tr.DetectionLimitMin/1024)
	}
}

func TestGrowthFlatNoisySeriesHasTheExpectedLimit(t *testing.T) {
	const sd = 1 << 20 // noisy enough for the statistical limit (~75 KiB/min) to be close to the floor (~107)
	pts := noisy(600, time.Second, 0, sd, 2)
	tr := Analyze(pts)
	want := expectedLimit(pts, sd)
	if r := tr.DetectionLimitMin / want; r < 0.85 || r > 1.2 {
		t.Errorf("detection limit %.1f KiB/min, want %.1f ±15%% (white noise: n_eff ≈ n)", tr.DetectionLimitMin/1024, want/1024)
	}
	if tr.Verdict != Stable {
		t.Errorf("flat 10-minute series: %s, want stable (%+v)", tr.Verdict, tr)
	}
	if tr.SlopeCI95[0] > 0 || tr.SlopeCI95[1] < 0 {
		t.Errorf("flat series: CI %v should hold 0", tr.SlopeCI95)
	}
}

func TestGrowthShortWindowHasALargeLimit(t *testing.T) {
	const sd = 256 << 10
	// The quick lab's window: ~6 s, 21 samples 300 ms apart — the same noise.
	short := Analyze(noisy(21, 300*time.Millisecond, 0, sd, 3))
	long := Analyze(noisy(600, time.Second, 0, sd, 3))
	if short.Verdict != NotShown {
		t.Errorf("6 s window: %s, want %s (%+v)", short.Verdict, NotShown, short)
	}
	if short.DetectionLimitMin < GrowthThresholdBytesPerMin || short.DetectionLimitMin < 50*long.DetectionLimitMin {
		t.Errorf("detection limit: 6 s %.0f KiB/min, 10 min %.0f KiB/min; want the short one above the threshold and ≫ the long",
			short.DetectionLimitMin/1024, long.DetectionLimitMin/1024)
	}
}

// Autocorrelated noise (AR(1), φ = 0.9) is worth fewer independent samples: the limit grows accordingly.
func TestGrowthAutocorrelationWidensTheLimit(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 1))
	t0 := time.Unix(0, 0)
	pts := make([]MemPoint, 600)
	e := 0.0
	for i := range pts {
		e = 0.9*e + 100e3*rng.NormFloat64()
		pts[i] = MemPoint{T: t0.Add(time.Duration(i) * time.Second), Bytes: 50<<20 + e}
	}
	tr := Analyze(pts)
	rest := pts[120:]
	x := make([]float64, len(rest))
	y := make([]float64, len(rest))
	for i, p := range rest {
		x[i], y[i] = p.T.Sub(rest[0].T).Minutes(), p.Bytes
	}
	f, _ := LinearFit(x, y)
	if tr.Lag1 < 0.7 || tr.EffectiveSamples > 0.25*float64(len(rest)) || tr.SlopeStdErrMin < 2*f.SlopeStdErr {
		t.Errorf("AR(1) 0.9: lag1 %.2f, n_eff %.0f of %d, SE %.0f vs OLS %.0f: want the correction", tr.Lag1,
			tr.EffectiveSamples, len(rest), tr.SlopeStdErrMin, f.SlopeStdErr)
	}
}

// Every Trend marshals (no infinity or NaN reaches JSON), whatever the series.
func TestTrendMarshals(t *testing.T) {
	t0 := time.Unix(0, 0)
	wave := make([]MemPoint, 40) // one smooth period: residual lag-1 ≈ 0.98, n_eff ≤ 2, no interval
	for i := range wave {
		wave[i] = MemPoint{T: t0.Add(time.Duration(i) * time.Second), Bytes: 1e6 * math.Sin(2*math.Pi*float64(i)/32)}
	}
	if tr := Analyze(wave); tr.EffectiveSamples > 2 || tr.DetectionLimitMin != -1 || tr.Verdict != NotShown {
		t.Errorf("smooth wave: n_eff %.1f, limit %v, verdict %s; want ≤ 2, -1 (unknown), %s", tr.EffectiveSamples,
			tr.DetectionLimitMin, tr.Verdict, NotShown)
	}
	for name, pts := range map[string][]MemPoint{"none": nil, "few": series(3, 1, 1), "wave": wave,
		"flat": series(20, 5, 0), "noisy": noisy(30, time.Second, 0, 1e5, 5)} {
		tr := Analyze(pts)
		if _, err := json.Marshal(tr); err != nil {
			t.Errorf("%s: %v (%+v)", name, err, tr)
		}
	}
}

// A flat, noise-free short window still cannot show stability: the resolution floor (1 MiB ÷ window) applies.
func TestGrowthResolutionFloor(t *testing.T) {
	tr := Analyze(series(21, 100<<20, 0)) // 20 s, perfectly flat: 15 s after warm-up
	if tr.Verdict != NotShown || math.Abs(tr.DetectionLimitMin-ResolutionBytes/(15.0/60)) > 1 {
		t.Errorf("flat 15 s window: %s, limit %.0f KiB/min; want %s and 1 MiB ÷ 15 s = 4096 KiB/min", tr.Verdict,
			tr.DetectionLimitMin/1024, NotShown)
	}
	if tr := Analyze(series(320, 100<<20, 0)); tr.Verdict != Stable { // 255 s after warm-up: 1 MiB ÷ 4.25 min < 256 KiB/min
		t.Errorf("flat 5-minute window: %s (limit %.0f KiB/min)", tr.Verdict, tr.DetectionLimitMin/1024)
	}
}

// A growth smaller than the allocator's steps is no leak, however tight its interval: a clean agent's 12 KiB over a
// 0.4 s window (+1784 KiB/min [276–3291], seen on a loaded machine) is not "growing"; a planted leak of hundreds of
// MiB/min over the same window still is.
func TestGrowthBelowTheResolutionFloorIsNoLeak(t *testing.T) {
	pts := noisy(25, 20*time.Millisecond, 1784<<10, 512, 5) // 0.48 s, 12 KiB of growth, 512 B of noise
	tr := Analyze(pts)
	if tr.SlopeCI95[0] <= GrowthThresholdBytesPerMin {
		t.Fatalf("the series should have an interval wholly above T to test the floor: %+v", tr)
	}
	if tr.Verdict == Growing {
		t.Errorf("12 KiB over %.2f s called growing: %+v", tr.WindowSeconds, tr)
	}
	leak := Analyze(noisy(25, 20*time.Millisecond, 400<<20, 64<<10, 6)) // 400 MiB/min: ~2.5 MiB over the window
	if leak.Verdict != Growing {
		t.Errorf("400 MiB/min over %.2f s: %s, want growing (%+v)", leak.WindowSeconds, leak.Verdict, leak)
	}
}
