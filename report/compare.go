package report

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/agentlab/agentlab/internal/rundir"
	"github.com/agentlab/agentlab/internal/stats"
	"github.com/agentlab/agentlab/scenarios"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// EnvDiff lists how two runs' environments differ in what moves figures: CPU count, kernel, Docker version,
// git commit.
func EnvDiff(a, b rundir.Environment) []string {
	var out []string
	add := func(what, x, y string) {
		if x != y {
			out = append(out, fmt.Sprintf("%s %s vs %s", what, x, y))
		}
	}
	add("cpus", fmt.Sprint(a.CPUs), fmt.Sprint(b.CPUs))
	add("kernel", a.Kernel, b.Kernel)
	dv := func(e rundir.Environment) string {
		if e.Docker == nil {
			return "none"
		}
		return e.Docker.ServerVersion
	}
	add("docker", dv(a), dv(b))
	commit := func(e rundir.Environment) string {
		c := e.GitCommit
		if len(c) > 12 {
			c = c[:12]
		}
		if e.GitDirty {
			c += "+dirty"
		}
		return c
	}
	add("git commit", commit(a), commit(b))
	return out
}

// spread is benchstat's "± x%": the 95 % interval's larger half-width relative to the median; ∞ without one.
func spread(iv stats.Interval) string {
	if !iv.HasCI() {
		return "± ∞"
	}
	if iv.Estimate == 0 {
		return "± ?"
	}
	h := math.Max(iv.Estimate-*iv.Low95, *iv.High95-iv.Estimate)
	return fmt.Sprintf("± %.0f%%", 100*h/math.Abs(iv.Estimate))
}

// Compare writes the benchstat-style comparison of runs a and b: a table per metric, each figure's medians with
// their spread, the delta and the Mann–Whitney U p-value ("~" where p ≥ 0.05), and a warning first when the
// environments differ.
func Compare(w io.Writer, a, b *scenarios.Folder) error {
	fmt.Fprintf(w, "A: %s (%s)\nB: %s (%s)\n", a.Dir, a.RunID, b.Dir, b.RunID)
	if d := EnvDiff(a.Env, b.Env); len(d) > 0 {
		fmt.Fprintf(w, "WARNING: the environments differ (%s): differences may be the machine's, not the code's\n", strings.Join(d, "; "))
	}
	fa, fb := a.Figures(), b.Figures()
	byName := map[string]scenario.Figure{}
	for _, f := range fb {
		if !f.Alias {
			byName[f.Name()] = f
		}
	}
	var metrics []scenario.Metric
	rows := map[scenario.Metric][]string{}
	units := map[scenario.Metric]scenario.Unit{}
	onlyA := 0
	for _, f := range fa {
		if f.Alias {
			continue
		}
		g, ok := byName[f.Name()]
		if !ok {
			onlyA++
			continue
		}
		delete(byName, f.Name())
		if _, seen := rows[f.Metric]; !seen {
			metrics = append(metrics, f.Metric)
		}
		units[f.Metric] = f.Unit
		c := stats.Compare(f.Samples, g.Samples)
		name := strings.TrimSuffix(f.Name(), "."+string(f.Metric))
		rows[f.Metric] = append(rows[f.Metric], fmt.Sprintf("%s\t%.4g %s n=%d\t%.4g %s n=%d\t%s\t", name,
			c.A.Estimate, spread(c.A), c.A.N, c.B.Estimate, spread(c.B), c.B.N, c.String()))
	}
	for _, m := range metrics {
		fmt.Fprintf(w, "\n%s (%s)\n", m, units[m])
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\tA\tB\tdelta\t")
		for _, r := range rows[m] {
			fmt.Fprintln(tw, r)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if onlyA > 0 || len(byName) > 0 {
		fmt.Fprintf(w, "\n%d figures only in A, %d only in B (not compared)\n", onlyA, len(byName))
	}
	fmt.Fprintln(w, "\nmedians with the 95 % interval's half-width (± ∞: fewer than 6 values, no interval); delta: B vs A, Mann–Whitney U; ~: p ≥ 0.05, no significant difference")
	return nil
}
