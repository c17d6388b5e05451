package loadgen

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/agentlab/agentlab/internal/stats"
)

// Histograms hold microseconds, 1 µs to 10 min, 3 significant digits (the same geometry as internal/stats).
const (
	histMaxUS   = int64(10 * time.Minute / time.Microsecond)
	histSigFigs = 3
	shards      = 16
)

func newHDR() *hdrhistogram.Histogram { return hdrhistogram.New(1, histMaxUS, histSigFigs) }

// Hist is an HDR histogram of microseconds. In JSON it is the HdrHistogram V2 compressed, base64 encoding (a few
// KiB, readable by every HdrHistogram implementation), so generators' histograms can be merged exactly.
type Hist struct{ h *hdrhistogram.Histogram }

// NewHist returns an empty histogram.
func NewHist() *Hist { return &Hist{h: newHDR()} }

// RecordUS adds one value in microseconds, clamped to the histogram's range.
func (h *Hist) RecordUS(us int64) {
	_ = h.h.RecordValue(min(max(us, 1), histMaxUS))
}

// Merge adds every value of o to h.
func (h *Hist) Merge(o *Hist) {
	if o != nil && o.h != nil {
		h.h.Merge(o.h)
	}
}

// Count is the number of values recorded.
func (h *Hist) Count() int64 { return h.h.TotalCount() }

// Summary reads the distribution in milliseconds.
func (h *Hist) Summary() stats.Summary {
	if h == nil {
		return stats.Summary{}
	}
	return stats.SummarizeMicros(h.h)
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

// shardedHist lets many goroutines record with little contention: each records into shard (its index mod shards).
type shardedHist struct {
	s [shards]struct {
		mu sync.Mutex
		h  *hdrhistogram.Histogram
		_  [40]byte // keep shards' locks on separate cache lines
	}
}

func newSharded() *shardedHist {
	s := &shardedHist{}
	for i := range s.s {
		s.s[i].h = newHDR()
	}
	return s
}

func (s *shardedHist) record(shard int, us int64) {
	sh := &s.s[shard%shards]
	sh.mu.Lock()
	_ = sh.h.RecordValue(min(max(us, 1), histMaxUS))
	sh.mu.Unlock()
}

// merged returns one histogram holding every shard's values.
func (s *shardedHist) merged() *Hist {
	out := NewHist()
	for i := range s.s {
		s.s[i].mu.Lock()
		out.h.Merge(s.s[i].h)
		s.s[i].mu.Unlock()
	}
	return out
}
