package report

import (
	"fmt"
	"strings"

	"github.com/agentlab/agentlab/internal/stats"
	"github.com/agentlab/agentlab/scenarios/messaging"
)

// messaging adds the agent-messaging plots: latency, fault recovery, container memory.
func (ps *plotList) messaging(m *messaging.Result) {
	// Messaging latency and fault recovery.
	if m != nil {
		hs := map[string]*stats.Hist{}
		var names []string
		for _, run := range m.Runs {
			if run.LatencyHDR == nil {
				continue
			}
			n := run.Bus + " " + run.Pattern
			if hs[n] == nil {
				hs[n] = stats.NewHist()
				names = append(names, n)
			}
			hs[n].Merge(run.LatencyHDR)
		}
		var ls []cdfLine
		for _, n := range names {
			ls = append(ls, cdfLine{n, hs[n]})
		}
		p, ok := cdfPlot("turn latency CDF per bus and pattern", ls)
		ps.add("Messaging latency CDF", "agent-messaging.json → runs[].latency_hdr, repeats merged (ms per turn)", p, ok)

		var labels []string
		g := []barGroup{{Name: "p50"}, {Name: "p95"}, {Name: "p99"}}
		for _, s := range m.Summary {
			labels = append(labels, s.Bus+" "+s.Pattern)
			g[0].Values = append(g[0].Values, s.P50MS.Estimate)
			g[1].Values = append(g[1].Values, s.P95MS.Estimate)
			g[2].Values = append(g[2].Values, s.P99MS.Estimate)
		}
		p, ok = barPlot("turn latency per bus and pattern", "ms (median over repeats)", labels, g, false)
		ps.add("Messaging latency per bus and pattern", "agent-messaging.json → summary[].p50_ms/p95_ms/p99_ms", p, ok)

		var flabels []string
		var buses []string
		rec := map[string]map[string]float64{}
		for _, f := range m.FaultRuns {
			if !contains(flabels, f.Fault) {
				flabels = append(flabels, f.Fault)
			}
			if !contains(buses, f.Bus) {
				buses = append(buses, f.Bus)
			}
			if rec[f.Bus] == nil {
				rec[f.Bus] = map[string]float64{}
			}
			if f.RecoveryMS != nil {
				rec[f.Bus][f.Fault] = *f.RecoveryMS
			}
		}
		var fg []barGroup
		for _, b := range buses {
			bg := barGroup{Name: b}
			for _, l := range flabels {
				bg.Values = append(bg.Values, rec[b][l])
			}
			fg = append(fg, bg)
		}
		p, ok = barPlot("fault recovery (every conversation moving again)", "ms (no bar: never recovered or not measured)", flabels, fg, false)
		ps.add("Messaging fault recovery", "agent-messaging.json → faults[].recovery_ms", p, ok)

		// Memory over time of every bus container and of the first few agent containers per bus, from each source.
		if cm := m.ContainerMem; cm != nil {
			agents := map[string]int{}
			for _, ct := range cm.Containers {
				if strings.HasPrefix(ct.Role, "agent") {
					if agents[ct.Role]++; agents[ct.Role] > messagingAgentPlots {
						continue
					}
				}
				title, p, ok := containerMemPlot(ct, cm.Sources, "")
				ps.add(title, fmt.Sprintf("agent-messaging.json → container_memory.containers[].series (working_set_bytes per source; every bus, the first %d agents per bus)", messagingAgentPlots), p, ok)
			}
		}
	}
}
