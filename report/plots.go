package report

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/agentlab/agentlab/internal/memstat"
	"github.com/agentlab/agentlab/internal/stats"
	"github.com/agentlab/agentlab/scenarios"
	"github.com/agentlab/agentlab/scenarios/busload"
)

// Plot is one figure of the HTML report: inline SVG drawn by gonum/plot, no script, no request.
type Plot struct {
	Title   string
	Caption string // the data's source and unit
	SVG     string
}

// svg renders p. embed puts gonum's fonts into the SVG (a data: URL, no request); one embedding serves the whole
// page, since an inline SVG's @font-face is document-wide.
func svg(p *plot.Plot, w, h vg.Length, embed bool) (s string, err error) {
	// gonum/plot panics on data it cannot draw (a log axis reaching 0): one plot's failure is an error, not a crash.
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("render plot %q: %v", p.Title.Text, v)
		}
	}()
	c := vgsvg.NewWith(vgsvg.UseWH(w, h), vgsvg.EmbedFonts(embed))
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", fmt.Errorf("render plot %q: %w", p.Title.Text, err)
	}
	return b.String(), nil
}

// ninesTicks labels a percentile axis drawn in "nines" (x = −log10(1 − p/100)): 0 %, 90 %, 99 %, 99.9 % …
type ninesTicks struct{}

func (ninesTicks) Ticks(_, hi float64) []plot.Tick {
	var out []plot.Tick
	for n := 0.0; n <= math.Ceil(hi); n++ {
		p := 100 * (1 - math.Pow(10, -n))
		out = append(out, plot.Tick{Value: n, Label: strconv.FormatFloat(p, 'f', max(0, int(n)-2), 64) + "%"})
	}
	return out
}

func nines(p float64) float64 {
	if p >= 100 {
		return math.NaN()
	}
	return -math.Log10(1 - p/100)
}

// cdfLine is one latency distribution of a CDF plot.
type cdfLine struct {
	Name string
	Hist *stats.Hist
}

// cdfPlot draws latency against percentile (HdrHistogram's percentile plot) for each line.
func cdfPlot(title string, lines []cdfLine) (*plot.Plot, bool) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (ms)"
	p.X.Tick.Marker = ninesTicks{}
	p.Legend.Top = true
	p.Legend.Left = true
	n := 0
	for i, l := range lines {
		pts := l.Hist.CDF(60)
		var xy plotter.XYs
		for _, pt := range pts {
			if x := nines(pt.Percentile); !math.IsNaN(x) {
				xy = append(xy, plotter.XY{X: x, Y: pt.Value})
			}
		}
		if len(xy) < 2 {
			continue
		}
		ln, err := plotter.NewLine(xy)
		if err != nil {
			continue
		}
		ln.Color = plotutil.Color(i)
		ln.Dashes = plotutil.Dashes(i / 7)
		ln.Width = vg.Points(1.5)
		p.Add(ln)
		p.Legend.Add(fmt.Sprintf("%s (n=%d)", l.Name, l.Hist.Count()), ln)
		n++
	}
	p.Add(plotter.NewGrid())
	return p, n > 0
}

// barGroup is one series of a grouped bar chart.
type barGroup struct {
	Name   string
	Values []float64
}

// barPlot draws grouped bars: one group per label, one bar per series.
func barPlot(title, ylabel string, labels []string, groups []barGroup, logY bool) (*plot.Plot, bool) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	if len(labels) == 0 || len(groups) == 0 {
		return p, false
	}
	w := vg.Points(math.Max(4, math.Min(24, 360/float64(len(labels)*len(groups)))))
	any := false
	lo, hi := math.Inf(1), 0.0
	for i, g := range groups {
		vs := make(plotter.Values, len(g.Values))
		for j, v := range g.Values {
			if v > 0 && !math.IsNaN(v) && !math.IsInf(v, 0) {
				vs[j] = v
				any = true
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			} else if logY {
				vs[j] = math.NaN()
			}
		}
		b, err := plotter.NewBarChart(vs, w)
		if err != nil {
			continue
		}
		b.LineStyle.Width = 0
		b.Color = plotutil.Color(i)
		b.Offset = w * vg.Length(float64(i)-float64(len(groups)-1)/2)
		p.Add(b)
		if len(groups) > 1 {
			p.Legend.Add(g.Name, b)
		}
	}
	p.NominalX(labels...)
	if logY && any {
		// Bars stand on 0, which a log axis cannot show: the axis starts below the smallest bar.
		p.Y.Min, p.Y.Max = lo/2, hi*2
		p.Y.Scale = floorLog{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	return p, any
}

// floorLog is a log scale on which values below the axis minimum (a bar's base, 0) sit at the bottom.
type floorLog struct{}

func (floorLog) Normalize(min, max, x float64) float64 {
	return plot.LogScale{}.Normalize(min, max, math.Max(x, min))
}

// linePlot draws one line per series over shared x values.
type series struct {
	Name string
	XY   plotter.XYs
}

func linePlot(title, xlabel, ylabel string, ss []series) (*plot.Plot, bool) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	n := 0
	for i, s := range ss {
		if len(s.XY) == 0 {
			continue
		}
		sort.Slice(s.XY, func(a, b int) bool { return s.XY[a].X < s.XY[b].X })
		l, pts, err := plotter.NewLinePoints(s.XY)
		if err != nil {
			continue
		}
		l.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
		pts.Shape = plotutil.Shape(i)
		l.Dashes = plotutil.Dashes(i / 7)
		p.Add(l, pts)
		p.Legend.Add(s.Name, l, pts)
		n++
	}
	p.Add(plotter.NewGrid())
	// From zero with headroom: an axis fitted to the data puts a lone point (one agent count) on the plot's edge
	// and makes a small difference look large.
	if p.Y.Min > 0 {
		p.Y.Min = 0
	}
	p.Y.Max *= 1.1
	return p, n > 0
}

// plots draws every plot the results have data for.
func plots(r *scenarios.Results) ([]Plot, error) {
	type pending struct {
		title, caption string
		p              *plot.Plot
		ok             bool
		h              vg.Length
	}
	var ps []pending
	addP := func(title, caption string, p *plot.Plot, ok bool) {
		ps = append(ps, pending{title, caption, p, ok, 9 * vg.Centimeter})
	}

	// Time per task per lifecycle pattern.
	if c := r.Spawn; c != nil {
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
		addP("Time per task per lifecycle pattern", "spawn-comparison.json → patterns[].time_per_task (HDR histogram, ms)", p, ok)

		var ss []series
		for _, pt := range c.Patterns {
			var xy plotter.XYs
			for _, s := range pt.Memory.Series {
				xy = append(xy, plotter.XY{X: s.TS, Y: s.Bytes / (1 << 20)})
			}
			ss = append(ss, series{pt.Name, xy})
		}
		p, ok = linePlot("memory over time per lifecycle pattern", "s since measuring began", "MiB", ss)
		addP("Memory over time per lifecycle pattern", "spawn-comparison.json → patterns[].memory.series (t_s, bytes; each pattern's memory.source)", p, ok)

		if cm := c.ContainerMem; cm != nil {
			for i, ct := range cm.Containers {
				if i >= 8 {
					break
				}
				title, p, ok := containerMemPlot(ct, cm.Sources, "")
				addP(title, "spawn-comparison.json → container_memory.containers[].series (working_set_bytes per source; first 8 containers)", p, ok)
			}
		}
	}

	// Memory over time of the bus containers of bus-load: per bus, the first repeat of each pattern and model at
	// the largest agent count (the run that loads the bus most), from each source.
	for _, f := range r.Buses {
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
			ct, ok := (memstat.Results{Containers: ms.Containers}).Container(run.BusFig.ContainerID)
			if !ok {
				continue
			}
			what := fmt.Sprintf("%s bus, %d agents, %s %s, repeat 1", run.Bus, run.Agents, run.Pattern, run.Model)
			title, p, ok := containerMemPlot(ct, ms.Sources, what)
			addP(title, f.Bus.Name+"-ws-metrics.json → memory_sampling.containers[].series (working_set_bytes per source; "+
				"the run's runs[].bus_resources.container_id; first repeat of each pattern and model at the largest agent count)", p, ok)
		}
	}

	// Bus latency CDFs per bus and pattern; throughput and memory per connection vs agents.
	if len(r.Buses) > 0 {
		type key struct {
			pattern, model string
			agents         int
		}
		var keys []key
		lines := map[key][]cdfLine{}
		thr, mem := []series{}, []series{}
		for _, f := range r.Buses {
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
			addP(fmt.Sprintf("Bus latency CDF — %s, %s model, %d agents", k.pattern, k.model, k.agents),
				"<bus>-ws-metrics.json → runs[].latency_hdr, every repeat merged (open: from the intended send time)", p, ok)
		}
		p, ok := linePlot("saturation throughput vs agents", "agents", "deliveries/s (median over repeats)", thr)
		addP("Throughput vs agents per bus", "<bus>-ws-metrics.json → summaries[model=closed].metrics.ws_msgs_received_per_s", p, ok)
		p, ok = linePlot("memory per connection vs agents", "agents", "KiB per connection (median over repeats)", mem)
		addP("Memory per connection vs agents per bus", "<bus>-ws-metrics.json → summaries[].metrics.bus_mem_per_conn_bytes", p, ok)
	}

	// Streaming decode cost per client.
	if s := r.Streaming; s != nil {
		var labels []string
		var clients []string
		val := map[string]map[string]float64{}
		for _, run := range s.Runs {
			l := fmt.Sprintf("%d streams, %gms", run.Concurrent, run.TokenDelayMS)
			if !contains(labels, l) {
				labels = append(labels, l)
			}
			if !contains(clients, run.Client) {
				clients = append(clients, run.Client)
			}
			if val[run.Client] == nil {
				val[run.Client] = map[string]float64{}
			}
			val[run.Client][l] = run.PerTokenCPU.Estimate
		}
		var g []barGroup
		for _, c := range clients {
			bg := barGroup{Name: c}
			for _, l := range labels {
				bg.Values = append(bg.Values, val[c][l])
			}
			g = append(g, bg)
		}
		p, ok := barPlot("client CPU per token", "ms per token (log scale)", labels, g, true)
		addP("Streaming decode cost per client", "ai-streaming.json → runs[].per_token_cpu_ms (getrusage user+sys ÷ tokens, median over rounds)", p, ok)
	}

	// Messaging latency and fault recovery.
	if m := r.Messaging; m != nil {
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
		addP("Messaging latency CDF", "agent-messaging.json → runs[].latency_hdr, repeats merged (ms per turn)", p, ok)

		var labels []string
		g := []barGroup{{Name: "p50"}, {Name: "p95"}, {Name: "p99"}}
		for _, s := range m.Summary {
			labels = append(labels, s.Bus+" "+s.Pattern)
			g[0].Values = append(g[0].Values, s.P50MS.Estimate)
			g[1].Values = append(g[1].Values, s.P95MS.Estimate)
			g[2].Values = append(g[2].Values, s.P99MS.Estimate)
		}
		p, ok = barPlot("turn latency per bus and pattern", "ms (median over repeats)", labels, g, false)
		addP("Messaging latency per bus and pattern", "agent-messaging.json → summary[].p50_ms/p95_ms/p99_ms", p, ok)

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
		addP("Messaging fault recovery", "agent-messaging.json → faults[].recovery_ms", p, ok)

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
				addP(title, fmt.Sprintf("agent-messaging.json → container_memory.containers[].series (working_set_bytes per source; every bus, the first %d agents per bus)", messagingAgentPlots), p, ok)
			}
		}
	}

	var out []Plot
	embedded := false
	for _, pp := range ps {
		if !pp.ok {
			continue
		}
		s, err := svg(pp.p, 16*vg.Centimeter, pp.h, !embedded)
		if err != nil {
			return out, err
		}
		embedded = true
		out = append(out, Plot{Title: pp.title, Caption: pp.caption, SVG: s})
	}
	return out, nil
}

// messagingAgentPlots is how many agent containers per bus get a memory plot: the agents run the same code, a few
// show the shape; every agent's series stays in the file.
const messagingAgentPlots = 2

// containerMemPlot draws one container's memory over time, one line per source (working set, MiB; x: s since the
// container's first sample, every source on one axis). what names the container in the title; "" uses its name and role.
func containerMemPlot(ct memstat.ContainerResult, sources []string, what string) (string, *plot.Plot, bool) {
	if what == "" {
		name := ct.Name
		if name == "" {
			name = ct.ID
		}
		what = name + " (" + ct.Role + ")"
	}
	if len(ct.Series) == 0 {
		return "", nil, false
	}
	t0 := ct.Series[0].Time // the series is by time: the sources share one time axis
	var ss []series
	for _, src := range sources {
		var xy plotter.XYs
		for _, s := range ct.Of(src) {
			xy = append(xy, plotter.XY{X: s.Time.Sub(t0).Seconds(), Y: float64(s.WorkingSetBytes) / (1 << 20)})
		}
		ss = append(ss, series{src, xy})
	}
	p, ok := linePlot("memory over time: "+what, "s", "MiB (working set)", ss)
	return "Memory over time, container " + what, p, ok
}

func patternOf(f *busload.File) string { return f.Parameters.ClosedPattern }

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func containsX(xy plotter.XYs, x float64) bool {
	for _, p := range xy {
		if p.X == x {
			return true
		}
	}
	return false
}
