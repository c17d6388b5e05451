// Package stats turns raw measurements into the figures the lab reports: latency summaries from an HDR histogram,
// least-squares trends, memory-stability verdicts, and medians with distribution-free confidence intervals and
// Mann–Whitney U comparisons (golang.org/x/perf/benchmath, the statistics behind benchstat).
package stats

import (
	"math"
	"sort"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Summary is a latency distribution; every figure is in milliseconds.
type Summary struct {
	Count  int64   `json:"count"`
	MeanMS float64 `json:"mean_ms"`
	MinMS  float64 `json:"min_ms"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P95MS  float64 `json:"p95_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p99_9_ms"`
	MaxMS  float64 `json:"max_ms"`
	StdMS  float64 `json:"stddev_ms"`
}

// SummarizeMicros reads an HDR histogram of microseconds as a Summary in milliseconds; empty or nil → zero Summary.
func SummarizeMicros(h *hdrhistogram.Histogram) Summary {
	if h == nil || h.TotalCount() == 0 {
		return Summary{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Summary{
		Count:  h.TotalCount(),
		MeanMS: h.Mean() / 1000,
		MinMS:  ms(h.Min()),
		P50MS:  ms(h.ValueAtQuantile(50)),
		P90MS:  ms(h.ValueAtQuantile(90)),
		P95MS:  ms(h.ValueAtQuantile(95)),
		P99MS:  ms(h.ValueAtQuantile(99)),
		P999MS: ms(h.ValueAtQuantile(99.9)),
		MaxMS:  ms(h.Max()),
		StdMS:  h.StdDev() / 1000,
	}
}

// Fit is a least-squares line y = Intercept + Slope·x.
type Fit struct {
	Slope, Intercept float64
	SlopeStdErr      float64
	R2               float64
	N                int
}

// LinearFit fits y against x; it needs at least two distinct x values.
func LinearFit(x, y []float64) (Fit, bool) {
	n := len(x)
	if n < 2 || n != len(y) {
		return Fit{N: n}, false
	}
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= float64(n)
	my /= float64(n)
	var sxx, sxy, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	if sxx == 0 {
		return Fit{N: n}, false
	}
	f := Fit{Slope: sxy / sxx, N: n}
	f.Intercept = my - f.Slope*mx
	var sse float64
	for i := range x {
		r := y[i] - (f.Intercept + f.Slope*x[i])
		sse += r * r
	}
	if syy > 0 {
		f.R2 = 1 - sse/syy
	}
	if n > 2 {
		f.SlopeStdErr = math.Sqrt(sse / float64(n-2) / sxx)
	}
	return f, true
}

// Median of xs (NaN when empty); xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// Mean of xs (NaN when empty).
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
