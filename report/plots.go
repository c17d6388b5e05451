package report

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strconv"

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

// plotList collects the plots of a report in order; the family files (plots_*.go) add theirs.
type plotList []pendingPlot

type pendingPlot struct {
	title, caption string
	p              *plot.Plot
	ok             bool
	h              vg.Length
}

func (ps *plotList) add(title, caption string, p *plot.Plot, ok bool) {
	*ps = append(*ps, pendingPlot{title, caption, p, ok, 9 * vg.Centimeter})
}

// plots draws every plot the results have data for, family by family.
func plots(r *scenarios.Folder) ([]Plot, error) {
	var ps plotList
	ps.lifecycle(r.Spawn)
	ps.busLoad(r.Buses)
	ps.streaming(r.Streaming)
	ps.messaging(r.Messaging)
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
