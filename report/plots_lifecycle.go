package report

import (
	"github.com/agentlab/agentlab/scenarios/lifecycle"
	"gonum.org/v1/plot/plotter"
)

// lifecycle adds the lifecycle plots: time per task and memory over time per pattern, container memory.
func (ps *plotList) lifecycle(c *lifecycle.Comparison) {
	// Time per task per lifecycle pattern.
	if c != nil {
		var labels []string
		g := []barGroup{{Name: "p50"}, {Name: "p95"}, {Name: "p99"}}
		for _, pt := range c.Patterns {
			if pt.Tasks == 0 {
				continue
			}
			labels = append(labels, pt.Name)
			g[0].Values = append(g[0].Values, pt.Time.P50MS)
			g[1].Values = append(g[1].Values, pt.Time.P95MS)
			g[2].Values = append(g[2].Values, pt.Time.P99MS)
		}
		p, ok := barPlot("time per task per lifecycle pattern", "ms (log scale)", labels, g, true)
		ps.add("Time per task per lifecycle pattern", "spawn-comparison.json → patterns[].time_per_task (HDR histogram, ms)", p, ok)

		var ss []series
		for _, pt := range c.Patterns {
			var xy plotter.XYs
			for _, s := range pt.Memory.Series {
				xy = append(xy, plotter.XY{X: s.TS, Y: s.Bytes / (1 << 20)})
			}
			ss = append(ss, series{pt.Name, xy})
		}
		p, ok = linePlot("memory over time per lifecycle pattern", "s since measuring began", "MiB", ss)
		ps.add("Memory over time per lifecycle pattern", "spawn-comparison.json → patterns[].memory.series (t_s, bytes; each pattern's memory.source)", p, ok)

		if cm := c.ContainerMem; cm != nil {
			for i, ct := range cm.Containers {
				if i >= 8 {
					break
				}
				title, p, ok := containerMemPlot(ct, cm.Sources, "")
				ps.add(title, "spawn-comparison.json → container_memory.containers[].series (working_set_bytes per source; first 8 containers)", p, ok)
			}
		}
	}
}
