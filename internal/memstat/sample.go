// Package memstat measures per-container memory and CPU from three sources — a cAdvisor sidecar, the Docker stats
// API and the container's cgroup files — samples them side by side over time and cross-checks them, so a figure in
// a benchmark result is one two independent readers agree on.
//
// Memory is reported as `docker stats` shows it (MemoryBytes): cgroup usage minus the inactive page cache, the part
// of the page cache the kernel would reclaim first. cAdvisor calls the same quantity the working set.
package memstat

import (
	"context"
	"time"
)

// Source names, as they appear in Sample.Source and in results.
const (
	SourceCAdvisor    = "cadvisor"
	SourceDockerStats = "docker-stats"
	SourceCgroup      = "cgroup"
)

// Sample is one reading of one container by one source. Byte fields are bytes; a field a source cannot provide is 0.
type Sample struct {
	// Time is when the source read the counters (cAdvisor's stat timestamp, the daemon's read time, or the
	// sampler's clock for cgroup files), not when we asked.
	Time        time.Time `json:"t"`
	ContainerID string    `json:"id,omitempty"`
	Name        string    `json:"name,omitempty"`
	Source      string    `json:"source"`

	// UsageBytes is the cgroup's total charge: memory.usage_in_bytes (v1) or memory.current (v2), page cache included.
	UsageBytes uint64 `json:"usage_bytes"`
	// WorkingSetBytes is cAdvisor's working set: usage − inactive file cache (computed the same way for every source).
	WorkingSetBytes uint64 `json:"working_set_bytes"`
	// RSSBytes is anonymous memory: total_rss (v1) or anon (v2).
	RSSBytes uint64 `json:"rss_bytes"`
	// CacheBytes is page cache: total_cache (v1) or file (v2).
	CacheBytes uint64 `json:"cache_bytes"`
	// InactiveFileBytes is the inactive page cache: total_inactive_file (v1) or inactive_file (v2).
	InactiveFileBytes uint64 `json:"inactive_file_bytes"`
	// MemoryBytes is the figure `docker stats` shows: usage − inactive file cache (never below 0).
	MemoryBytes uint64 `json:"memory_bytes"`

	// CPUUsageNs is cumulative CPU time of all the container's tasks, in nanoseconds.
	CPUUsageNs uint64 `json:"cpu_usage_ns"`
	// CPUCores is the CPU rate since the same source's previous sample of this container, in cores (1.0 = one
	// core busy); nil when there is no previous sample to derive it from.
	CPUCores *float64 `json:"cpu_cores,omitempty"`
}

// Source reads containers' current memory and CPU.
type Source interface {
	// Name is one of the Source* constants.
	Name() string
	// Sample reads the containers with the given full ids. It returns the samples it could take and an error
	// describing the containers it could not read (both may be non-empty). A source may return more than one
	// sample per container (cAdvisor returns its recent history); the Sampler drops samples it already has.
	Sample(ctx context.Context, ids []string) ([]Sample, error)
}

// Historic is implemented by sources whose answers include readings older than the request (cAdvisor's recent
// housekeeping points); the Sampler drops those taken before a container was added.
type Historic interface {
	Historic() bool
}

// memoryFigures fills the derived fields from usage and the inactive file cache, the way the Docker CLI does:
// the subtraction only applies when it makes sense (inactive < usage).
func (s *Sample) memoryFigures() {
	s.MemoryBytes = s.UsageBytes
	if s.InactiveFileBytes < s.UsageBytes {
		s.MemoryBytes = s.UsageBytes - s.InactiveFileBytes
	}
	s.WorkingSetBytes = s.MemoryBytes
}

// memoryFromStat fills the fields memory.stat provides, cgroup v1 (total_* hierarchical keys, falling back to the
// local ones) or v2 (anon, file, inactive_file).
func (s *Sample) memoryFromStat(stat map[string]uint64) {
	first := func(keys ...string) uint64 {
		for _, k := range keys {
			if v, ok := stat[k]; ok {
				return v
			}
		}
		return 0
	}
	s.RSSBytes = first("total_rss", "rss", "anon")
	s.CacheBytes = first("total_cache", "cache", "file")
	s.InactiveFileBytes = first("total_inactive_file", "inactive_file")
}
