package stats

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// The lab's one histogram geometry: microseconds, 1 µs to 10 min, 3 significant digits (≤ 0.1 % error).
const (
	HistMinUS   = int64(1)
	HistMaxUS   = int64(10 * time.Minute / time.Microsecond)
	HistSigFigs = 3
)

func newHDR() *hdrhistogram.Histogram { return hdrhistogram.New(HistMinUS, HistMaxUS, HistSigFigs) }

// Hist is an HDR histogram of microseconds in the lab's geometry. It is not safe for concurrent use (loadgen shards
// it). In JSON it is the HdrHistogram V2 compressed, base64 encoding (a few KiB, readable by every HdrHistogram
// implementation), so histograms written by separate processes merge exactly; null is an empty histogram.
type Hist struct{ h *hdrhistogram.Histogram }

// NewHist returns an empty histogram.
func NewHist() *Hist { return &Hist{h: newHDR()} }

func (h *Hist) lazy() *hdrhistogram.Histogram {
	if h.h == nil { // the zero Hist (e.g. a struct field decoded from nothing) is usable
		h.h = newHDR()
	}
	return h.h
}

// Record adds one duration, truncated to whole microseconds and clamped to 1 µs–10 min.
func (h *Hist) Record(d time.Duration) { h.RecordUS(d.Microseconds()) }

// RecordUS adds one value in microseconds, clamped to 1 µs–10 min.
func (h *Hist) RecordUS(us int64) { _ = h.lazy().RecordValue(min(max(us, HistMinUS), HistMaxUS)) }

// Merge adds every value of o to h; a nil o adds nothing.
func (h *Hist) Merge(o *Hist) {
	if o != nil && o.h != nil {
		h.lazy().Merge(o.h)
	}
}

// Count is the number of values recorded (0 for a nil histogram).
func (h *Hist) Count() int64 {
	if h == nil || h.h == nil {
		return 0
	}
	return h.h.TotalCount()
}

// Summary reads the distribution in milliseconds (source: HdrHistogram, 3 significant digits); nil or empty → zeros.
func (h *Hist) Summary() Summary {
	if h == nil {
		return Summary{}
	}
	return SummarizeMicros(h.h)
}

// Quantiles returns the value in milliseconds at each percentile in ps (0–100); an empty histogram gives zeros.
func (h *Hist) Quantiles(ps ...float64) []float64 {
	out := make([]float64, len(ps))
	if h.Count() == 0 {
		return out
	}
	for i, p := range ps {
		out[i] = float64(h.h.ValueAtQuantile(p)) / 1000
	}
	return out
}

// CDFPoint is one point of a latency CDF.
type CDFPoint struct {
	Value      float64 `json:"value_ms"`   // latency, ms
	Percentile float64 `json:"percentile"` // share of values ≤ Value, 0–100
}

// CDF returns points (≥ 2) points of the distribution for plotting, spaced evenly in "nines" (0, 90, 99, 99.9 … are
// equally far apart) so the tail is drawn as finely as the body, as HdrHistogram's percentile plots do. The deepest
// percentile is the one the count can resolve (1 − 1/count); the last point is the maximum at 100. Empty → nil.
func (h *Hist) CDF(points int) []CDFPoint {
	n := h.Count()
	if n == 0 {
		return nil
	}
	points = max(points, 2)
	nines := math.Max(math.Log10(float64(n)), 1)
	out := make([]CDFPoint, 0, points)
	for i := range points - 1 {
		p := 100 * (1 - math.Pow(10, -nines*float64(i)/float64(points-1)))
		out = append(out, CDFPoint{Value: float64(h.h.ValueAtQuantile(p)) / 1000, Percentile: p})
	}
	return append(out, CDFPoint{Value: float64(h.h.Max()) / 1000, Percentile: 100})
}

// MarshalJSON implements json.Marshaler.
func (h *Hist) MarshalJSON() ([]byte, error) {
	if h == nil || h.h == nil {
		return []byte("null"), nil
	}
	b, err := h.h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, fmt.Errorf("encode histogram: %w", err)
	}
	return json.Marshal(string(b))
}

// UnmarshalJSON implements json.Unmarshaler.
func (h *Hist) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		h.h = newHDR()
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	d, err := hdrhistogram.Decode([]byte(s))
	if err != nil {
		return fmt.Errorf("decode histogram: %w", err)
	}
	// Re-home the values in the standard geometry so histograms of any origin merge without loss of range.
	h.h = newHDR()
	h.h.Merge(d)
	return nil
}
