package report

import (
	"fmt"
	"sort"

	"github.com/agentlab/agentlab/internal/memstat"
	"github.com/agentlab/agentlab/internal/stats"
	"github.com/agentlab/agentlab/scenarios/busload"
	"gonum.org/v1/plot/plotter"
)

// busLoad adds the bus-load plots: bus container memory over time, latency CDFs, throughput and memory per
// connection vs agents.
func (ps *plotList) busLoad(files []*busload.File) {
	// Memory over time of the bus containers of bus-load: per bus, the first repeat of each pattern and model at
	// the largest agent count (the run that loads the bus most), from each source.
	for _, f := range files {
		ms := f.MemSampling
		if ms == nil {
			continue
		}
		top := 0
		for _, run := range f.Runs {
			top = max(top, run.Agents)
		}
		for _, run := range f.Runs {
			if run.Agents != top || run.Repeat != 1 || run.BusFig.ContainerID == "" {
				continue
			}
			ct, ok := (memstat.Recording{Containers: ms.Containers}).Container(run.BusFig.ContainerID)
			if !ok {
				continue
			}
			what := fmt.Sprintf("%s bus, %d agents, %s %s, repeat 1", run.Bus, run.Agents, run.Pattern, run.Model)
			title, p, ok := containerMemPlot(ct, ms.Sources, what)
			ps.add(title, f.Bus.Name+"-ws-metrics.json → memory_sampling.containers[].series (working_set_bytes per source; "+
				"the run's runs[].bus_resources.container_id; first repeat of each pattern and model at the largest agent count)", p, ok)
		}
	}

	// Bus latency CDFs per bus and pattern; throughput and memory per connection vs agents.
	if len(files) > 0 {
		type key struct {
			pattern, model string
			agents         int
		}
		var keys []key
		lines := map[key][]cdfLine{}
		thr, mem := []series{}, []series{}
		for _, f := range files {
			hs := map[key]*stats.Hist{}
			for _, run := range f.Runs {
				if run.Error != "" || run.LatencyHDR == nil {
					continue
				}
				k := key{run.Pattern, run.Model, run.Agents}
				if hs[k] == nil {
					hs[k] = stats.NewHist()
					if _, seen := lines[k]; !seen {
						keys = append(keys, k)
						lines[k] = nil
					}
				}
				hs[k].Merge(run.LatencyHDR)
			}
			for k, h := range hs {
				lines[k] = append(lines[k], cdfLine{Name: f.Bus.Name, Hist: h})
			}
			var t, m plotter.XYs
			for _, s := range f.Summaries {
				if iv, ok := s.Metrics[busload.MetricDeliveredPerS]; ok && s.Model == "closed" && iv.N > 0 {
					t = append(t, plotter.XY{X: float64(s.Agents), Y: iv.Estimate})
				}
				if iv, ok := s.Metrics[busload.MetricMemPerConn]; ok && iv.N > 0 && !containsX(m, float64(s.Agents)) {
					m = append(m, plotter.XY{X: float64(s.Agents), Y: iv.Estimate / 1024})
				}
			}
			thr = append(thr, series{f.Bus.Name + " (" + "closed " + patternOf(f) + ")", t})
			mem = append(mem, series{f.Bus.Name, m})
		}
		for _, k := range keys {
			ls := lines[k]
			sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
			p, ok := cdfPlot(fmt.Sprintf("latency CDF: %s, %s model, %d agents", k.pattern, k.model, k.agents), ls)
			ps.add(fmt.Sprintf("Bus latency CDF — %s, %s model, %d agents", k.pattern, k.model, k.agents),
				"<bus>-ws-metrics.json → runs[].latency_hdr, every repeat merged (open: from the intended send time)", p, ok)
		}
		p, ok := linePlot("saturation throughput vs agents", "agents", "deliveries/s (median over repeats)", thr)
		ps.add("Throughput vs agents per bus", "<bus>-ws-metrics.json → summaries[model=closed].metrics.ws_msgs_received_per_s", p, ok)
		p, ok = linePlot("memory per connection vs agents", "agents", "KiB per connection (median over repeats)", mem)
		ps.add("Memory per connection vs agents per bus", "<bus>-ws-metrics.json → summaries[].metrics.bus_mem_per_conn_bytes", p, ok)
	}
}
