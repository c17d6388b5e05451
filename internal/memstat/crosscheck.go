package memstat

import (
	"sort"
	"time"
)

// Cross-check defaults.
const (
	// DefaultWindow is how far apart two sources' samples may be and still count as the same moment.
	DefaultWindow = 1500 * time.Millisecond
	// DefaultTolerance is the relative difference |a−b|/max(a,b) above which a pair is flagged.
	DefaultTolerance = 0.10
	// DefaultMinDiffBytes is the absolute difference below which a pair is never flagged: two reads up to a
	// second apart of a 1 MiB process differ by a few hundred KiB (GC, scavenger) — 20 % that means nothing.
	DefaultMinDiffBytes = 1 << 20
)

// Comparison is the cross-check of one container's memory_bytes between two sources.
type Comparison struct {
	A string `json:"a"`
	B string `json:"b"`
	// Pairs is how many samples of A found a sample of B within the window (each sample is used once).
	Pairs int `json:"pairs"`
	// MaxRelDiff and MeanRelDiff are over all pairs: |a−b|/max(a,b).
	MaxRelDiff  float64 `json:"max_rel_diff"`
	MeanRelDiff float64 `json:"mean_rel_diff"`
	Tolerance   float64 `json:"tolerance"`
	// MinDiffBytes is the noise floor: a pair is flagged only if it also differs by more than this.
	MinDiffBytes uint64 `json:"min_diff_bytes"`
	// Flagged are the pairs whose relative difference exceeds Tolerance (and absolute one MinDiffBytes).
	Flagged []Pair `json:"flagged,omitempty"`
}

// OK reports whether there were pairs to compare and none was flagged.
func (c Comparison) OK() bool { return c.Pairs > 0 && len(c.Flagged) == 0 }

// Pair is two sources' memory figures for the same container at about the same moment.
type Pair struct {
	TA      time.Time `json:"t_a"`
	TB      time.Time `json:"t_b"`
	ABytes  uint64    `json:"a_bytes"`
	BBytes  uint64    `json:"b_bytes"`
	RelDiff float64   `json:"rel_diff"`
}

// CrossCheck pairs the samples of a and b (one container, one source each) nearest in time — closest pairs first,
// each sample in at most one pair, never further apart than window — and flags pairs whose memory_bytes differ by
// more than tol relative to the larger one and by more than minDiff bytes. window ≤ 0 and tol ≤ 0 mean the
// defaults; minDiff is taken as given (0 = no floor).
func CrossCheck(a, b []Sample, window time.Duration, tol float64, minDiff uint64) Comparison {
	if window <= 0 {
		window = DefaultWindow
	}
	if tol <= 0 {
		tol = DefaultTolerance
	}
	c := Comparison{Tolerance: tol, MinDiffBytes: minDiff}
	if len(a) > 0 {
		c.A = a[0].Source
	}
	if len(b) > 0 {
		c.B = b[0].Source
	}
	a, b = byTime(a), byTime(b)
	type cand struct {
		i, j int
		dt   time.Duration
	}
	var cands []cand
	lo := 0
	for i := range a {
		for lo < len(b) && b[lo].Time.Before(a[i].Time.Add(-window)) {
			lo++
		}
		for j := lo; j < len(b) && !b[j].Time.After(a[i].Time.Add(window)); j++ {
			cands = append(cands, cand{i, j, absDur(a[i].Time.Sub(b[j].Time))})
		}
	}
	sort.SliceStable(cands, func(x, y int) bool { return cands[x].dt < cands[y].dt })
	usedA, usedB := make([]bool, len(a)), make([]bool, len(b))
	var pairs []Pair
	for _, k := range cands {
		if usedA[k.i] || usedB[k.j] {
			continue
		}
		usedA[k.i], usedB[k.j] = true, true
		sa, sb := a[k.i], b[k.j]
		pairs = append(pairs, Pair{TA: sa.Time, TB: sb.Time, ABytes: sa.MemoryBytes, BBytes: sb.MemoryBytes,
			RelDiff: relDiff(sa.MemoryBytes, sb.MemoryBytes)})
	}
	sort.Slice(pairs, func(x, y int) bool { return pairs[x].TA.Before(pairs[y].TA) })
	sum := 0.0
	for _, p := range pairs {
		sum += p.RelDiff
		c.MaxRelDiff = max(c.MaxRelDiff, p.RelDiff)
		if p.RelDiff > tol && max(p.ABytes, p.BBytes)-min(p.ABytes, p.BBytes) > minDiff {
			c.Flagged = append(c.Flagged, p)
		}
	}
	c.Pairs = len(pairs)
	if c.Pairs > 0 {
		c.MeanRelDiff = sum / float64(c.Pairs)
	}
	return c
}

func relDiff(a, b uint64) float64 {
	hi, lo := max(a, b), min(a, b)
	if hi == 0 {
		return 0
	}
	return float64(hi-lo) / float64(hi)
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func byTime(s []Sample) []Sample {
	out := append([]Sample(nil), s...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}
