package busload

import (
	"io"
	"sort"

	"github.com/agentlab/agentlab/decide"
)

// WriteTables prints bus-load's tables from its files read back (one per bus, each holding the shared summary,
// ratios and decision): the result is rebuilt so the same code prints them as at run time.
func WriteTables(w io.Writer, files []*File) error {
	if len(files) == 0 {
		return nil
	}
	f0 := files[0]
	res := &Result{Params: f0.Parameters, Limits: f0.Limits, Notes: f0.Notes, OpenRates: f0.OpenRates,
		Interrupted: f0.Interrupted, ratios: f0.Comparison, vsNATS: f0.ComparisonNATS, vsGo: f0.ComparisonGo,
		runs: map[string][]*RunResult{}, summaries: map[string][]Summary{}}
	if f0.Decision != nil {
		res.decision = *f0.Decision
	}
	// The run order: the Go bus first, as bus-load runs them.
	fs := append([]*File(nil), files...)
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Bus.Name == "go" && fs[j].Bus.Name != "go" })
	for _, f := range fs {
		res.Buses = append(res.Buses, f.Bus)
		res.runs[f.Bus.Name] = f.Runs
		res.summaries[f.Bus.Name] = f.Summaries
	}
	return res.WriteTable(w)
}

// CostMemory is the bus's memory per connection for the Docker cost analysis: the slope of its memory against
// idle connections (the idle ladder's runs), with the fit's intercept, and the per-run figure at the agent count
// Test 2 was decided at as labelled context. Nothing when no ladder ran.
func (f *File) CostMemory() []decide.BusMemory {
	lk, ok := f.Parameters.ladderKey()
	if !ok {
		return nil
	}
	agents := 0
	src := ""
	if f.Decision != nil {
		agents, src = f.Decision.Agents, f.Decision.MemorySource
	}
	bm := decide.BusMemory{Bus: f.Bus.Name, Source: src, AgentCount: agents, Basis: "slope over " + f.Parameters.ladderRange()}
	found := false
	for _, s := range f.Summaries {
		k := cfgKey{s.Agents, s.Pattern, s.Model}
		if iv, ok := s.Metrics[MetricMemSlope]; ok && iv.N > 0 && k == lk {
			bm.PerConn, found = iv, true
			if fx, ok := s.Metrics[MetricMemFixed]; ok && fx.N > 0 {
				bm.FixedBytes = &fx
			}
		}
		if iv, ok := s.Metrics[MetricMemPerConn]; ok && iv.N > 0 && s.Agents == agents && bm.PerRun == nil {
			bm.PerRun = &iv
		}
	}
	if !found {
		return nil
	}
	return []decide.BusMemory{bm}
}
