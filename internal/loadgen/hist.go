package loadgen

import (
	"sync"

	"github.com/agentlab/agentlab/internal/stats"
)

// Hist is the lab's one HDR histogram (µs, 1 µs–10 min, 3 significant digits; JSON is the HdrHistogram V2
// compressed, base64 encoding). The alias keeps loadgen.Hist working for callers.
type Hist = stats.Hist

// NewHist returns an empty histogram.
var NewHist = stats.NewHist

const shards = 16

// shardedHist lets many goroutines record with little contention: each records into shard (its index mod shards).
type shardedHist struct {
	s [shards]struct {
		mu sync.Mutex
		h  *stats.Hist
		_  [48]byte // keep shards' locks on separate cache lines
	}
}

func newSharded() *shardedHist {
	s := &shardedHist{}
	for i := range s.s {
		s.s[i].h = stats.NewHist()
	}
	return s
}

func (s *shardedHist) record(shard int, us int64) {
	sh := &s.s[shard%shards]
	sh.mu.Lock()
	sh.h.RecordUS(us)
	sh.mu.Unlock()
}

// merged returns one histogram holding every shard's values.
func (s *shardedHist) merged() *stats.Hist {
	out := stats.NewHist()
	for i := range s.s {
		s.s[i].mu.Lock()
		out.Merge(s.s[i].h)
		s.s[i].mu.Unlock()
	}
	return out
}
