package loadgen

import (
	"runtime"
	"sync"

	"github.com/agentlab/agentlab/internal/stats"
)

// shardedHist lets many goroutines record with little contention: each records into shard (its index mod the
// shard count). Two shards per core: each histogram's counts are a few hundred KiB, so more shards than cores
// only spread the recording over more cache misses.
type shardedHist struct {
	s []histShard
}

type histShard struct {
	mu sync.Mutex
	h  *stats.Hist
	_  [48]byte // keep shards' locks on separate cache lines
}

func newSharded() *shardedHist {
	s := &shardedHist{s: make([]histShard, 2*runtime.GOMAXPROCS(0))}
	for i := range s.s {
		s.s[i].h = stats.NewHist()
	}
	return s
}

func (s *shardedHist) record(shard int, us int64) {
	sh := &s.s[shard%len(s.s)]
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
