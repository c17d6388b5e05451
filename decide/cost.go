package decide

import (
	"fmt"

	"github.com/agentlab/agentlab/internal/stats"
)

// The seed's "Docker Costs Analysis":
//
//	const memSavings = ((nodeMem - rustMem) / nodeMem * 100);
//	const costSavings = (memSavings * 0.6); // Approx 60% of savings translate to cost
//	- Memory savings directly impact container density
//	- 50% memory reduction → ~30-40% cost savings
//	- Cold start improvements → reduced orchestrator wait times
const (
	// CostShareOfMemorySavings: "Approx 60% of savings translate to cost".
	CostShareOfMemorySavings = 0.6
	// GiB is the density unit: containers (or connections) per GiB of memory.
	GiB = 1 << 30
)

// BusMemory is one bus's memory per connection, bytes (median over repeats, interval): the slope of its memory
// against idle registered connections (decide.BusInput.MemSlope), what one more connection costs.
type BusMemory struct {
	Bus     string         `json:"bus"`
	PerConn stats.Interval `json:"mem_per_conn_bytes"`
	PerGiB  stats.Interval `json:"connections_per_gib"` // GiB ÷ memory per connection (the slope)
	// Basis says what PerConn is ("slope over 250–1000 idle connections"); FixedBytes is the fit's intercept,
	// the memory the bus holds before its per-connection cost (idle bus + what the first connections trigger).
	Basis      string          `json:"basis"`
	FixedBytes *stats.Interval `json:"fixed_bytes,omitempty"`
	// PerRun is the per-run (connected − idle) / agents at AgentCount, fixed costs included: context only.
	PerRun     *stats.Interval `json:"per_run_context_bytes,omitempty"`
	Source     string          `json:"source,omitempty"`
	AgentCount int             `json:"agents"`
}

// CostInput is what the cost analysis is computed from; the scenarios fill it from their results.
type CostInput struct {
	Buses []BusMemory
	// ColdStartMS is, per interleaved round, the spawn-docker mean time per task minus the persistent-docker one:
	// what starting a container for the task adds (the orchestrator's wait); ColdStartRatio spawn ÷ persistent.
	ColdStartMS    []float64
	ColdStartRatio []float64
}

// CostAnalysis is the seed's Docker cost analysis on measured figures.
type CostAnalysis struct {
	Formula string `json:"formula"`
	// MemorySavingsPct is 100·(1 − Rust/Go memory per connection), per repeat (Test 2's memory figure); the
	// estimated cost reduction is CostShareOfMemorySavings of it.
	MemorySavingsPct *stats.Interval `json:"memory_savings_pct"`
	CostReductionPct *stats.Interval `json:"estimated_cost_reduction_pct"`
	MemorySource     string          `json:"memory_source,omitempty"`
	// Buses: memory per connection and connections per GiB, per bus measured.
	Buses []BusMemory `json:"bus_density"`
	// AgentContainerBytes is one agent container's memory, AgentContainersPerGiB the density it gives.
	AgentContainerBytes   *stats.Interval `json:"agent_container_bytes,omitempty"`
	AgentContainerSource  string          `json:"agent_container_source,omitempty"`
	AgentContainersPerGiB *stats.Interval `json:"agent_containers_per_gib,omitempty"`
	// ColdStartMS: what a cold container adds per task (spawn-docker − persistent-docker, per round).
	ColdStartMS    *stats.Interval `json:"cold_start_added_ms,omitempty"`
	ColdStartRatio *stats.Interval `json:"cold_start_ratio,omitempty"`
	Notes          []string        `json:"notes,omitempty"`
}

// scale maps an interval through f, increasing (dec false) or decreasing (dec true: the bounds swap).
func scale(iv stats.Interval, f func(float64) float64, dec bool) stats.Interval {
	out := stats.Interval{Estimate: f(iv.Estimate), Min: f(iv.Min), Max: f(iv.Max), N: iv.N, Confidence: iv.Confidence}
	if dec {
		out.Min, out.Max = out.Max, out.Min
	}
	if iv.HasCI() {
		lo, hi := f(*iv.Low95), f(*iv.High95)
		if dec {
			lo, hi = hi, lo
		}
		out.Low95, out.High95 = &lo, &hi
	}
	return out
}

// containerBytes is what one agent container costs the host: the marginal host memory per container of the
// persistent-docker pattern (else spawn-docker) — cgroup + shim + proxy + daemon growth, the spawn decision's
// HostMemory — or, where that is not measurable (a remote daemon), the cgroup figure alone, said in the source.
func containerBytes(s *SpawnDecision) (float64, string, bool) {
	if s == nil {
		return 0, "", false
	}
	for _, want := range []string{"persistent-docker", "spawn-docker"} {
		for _, h := range s.HostMemory {
			if h.Pattern != want || h.Containers == 0 {
				continue
			}
			if h.MarginalHostBytesPerContainer != nil {
				return *h.MarginalHostBytesPerContainer, fmt.Sprintf("%s: marginal host memory per container, median over %d containers (%s)",
					h.Pattern, h.Containers, MarginalHostDefinition), true
			}
			if h.CgroupBytes > 0 {
				return h.CgroupBytes, fmt.Sprintf("%s: cgroup memory only (%s), median over %d containers; the marginal host memory is not measurable here: %s",
					h.Pattern, h.CgroupSource, h.Containers, h.NotMeasurable), true
			}
		}
	}
	return 0, "", false
}

func perGiB(x float64) float64 {
	if x <= 0 {
		return 0
	}
	return GiB / x
}

// Cost computes the Docker cost analysis. The memory savings are Test 2's (d.MessageBus), so the cost estimate
// rests on the same per-repeat figures as the "Rust uses <50% of Go's memory" answer.
func Cost(in CostInput, d Decisions) CostAnalysis {
	c := CostAnalysis{
		Formula: fmt.Sprintf("memory savings %% = 100·(1 − Rust/Go memory per connection) per repeat, memory per connection being the slope of the bus's memory against idle registered connections (fixed costs apart); estimated cost reduction %% = %.1f × memory savings (the seed: approx 60 %% of savings translate to cost); density = 1 GiB ÷ memory per connection", CostShareOfMemorySavings),
	}
	if b := d.MessageBus; b != nil && b.Memory.Value != nil && b.Memory.Answer != NotEvaluated {
		c.MemorySavingsPct = savingsOf(b.Memory.Value)
		cost := scale(*c.MemorySavingsPct, func(x float64) float64 { return CostShareOfMemorySavings * x }, false)
		c.CostReductionPct = &cost
		c.MemorySource = b.MemorySource
	} else {
		c.Notes = append(c.Notes, "memory savings not evaluated: needs both buses' memory per connection as a slope (bus-load with Go and Rust)")
	}
	for _, bm := range in.Buses {
		bm.PerGiB = scale(bm.PerConn, perGiB, true)
		c.Buses = append(c.Buses, bm)
	}
	if b, src, ok := containerBytes(d.SpawnPatterns); ok {
		// One median over the pattern's containers: a figure, not a sample, so no interval is claimed.
		iv := stats.Interval{Estimate: b, Min: b, Max: b, N: 1}
		g := scale(iv, perGiB, true)
		c.AgentContainerBytes, c.AgentContainerSource, c.AgentContainersPerGiB = &iv, src, &g
	} else {
		c.Notes = append(c.Notes, "agent container memory not measured (needs spawn with Docker)")
	}
	if len(in.ColdStartMS) > 0 {
		iv, r := stats.MedianCI(in.ColdStartMS), stats.MedianCI(in.ColdStartRatio)
		c.ColdStartMS, c.ColdStartRatio = &iv, &r
	} else {
		c.Notes = append(c.Notes, "cold start not measured (needs spawn-docker and persistent-docker in one run)")
	}
	return c
}
