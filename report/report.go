// Package report shows a results folder to a person: report.md, a self-contained report.html (inline SVG plots,
// no script, no request), bench.txt (Go benchmark format, for benchstat), runs.csv, compare of two runs and
// thresholds. It reads the typed results the scenarios wrote (scenarios.ReadFolder) and the decisions package
// decide made; it never computes a verdict of its own.
package report

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/stats"
	"github.com/agentlab/agentlab/scenarios"
)

// Files are what Write adds to a results folder.
var Files = []string{"report.md", "report.html", "bench.txt", "runs.csv"}

// Write renders the results folder dir into report.md, report.html, bench.txt and runs.csv (in dir).
func Write(dir string) error {
	r, err := scenarios.ReadFolder(dir)
	if err != nil {
		return err
	}
	d, err := build(r)
	if err != nil {
		return err
	}
	var md, html, bench, csv bytes.Buffer
	d.markdown(&md)
	if err := d.html(&html); err != nil {
		return err
	}
	if err := Bench(&bench, r); err != nil {
		return err
	}
	if err := CSV(&csv, r); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{"report.md", md.Bytes()}, {"report.html", html.Bytes()}, {"bench.txt", bench.Bytes()}, {"runs.csv", csv.Bytes()}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	return nil
}

// table is one table of the report.
type table struct {
	Caption string
	Header  []string
	Rows    [][]string
}

// section is one part of the report; markdown and HTML render the same sections.
type section struct {
	Title  string
	Text   []string
	Tables []table
	Pre    string // text printed as is (the stdout tables)
	Plots  []Plot // HTML only
}

type doc struct {
	Title    string
	Sections []section
}

func ivs(iv *stats.Interval, verb string) string {
	if iv == nil {
		return "—"
	}
	return iv.Format(verb)
}

func check(test string, c decide.Check) []string {
	return []string{test, c.Question, string(c.Answer), ivs(c.Value, "%.4g") + " " + c.Unit, c.Then, c.Detail}
}

// build lays the report out from the results.
func build(r *scenarios.Folder) (*doc, error) {
	d := &doc{Title: "agentlab run " + r.RunID}
	e := r.Env
	env := section{Title: "Run", Tables: []table{{Header: []string{"field", "value"}, Rows: [][]string{
		{"run id", r.RunID}, {"git commit", e.GitCommit + map[bool]string{true: " (dirty)", false: ""}[e.GitDirty]},
		{"cpus", fmt.Sprint(e.CPUs)}, {"kernel", e.Kernel}, {"go", e.GoVersion}, {"host", e.Hostname},
	}}}}
	if e.Docker != nil {
		env.Tables[0].Rows = append(env.Tables[0].Rows, []string{"docker", e.Docker.ServerVersion + " (API " + e.Docker.APIVersion +
			", cgroup " + e.Docker.CgroupVersion + ")"})
	}
	if f := r.Final; f != nil {
		env.Tables[0].Rows = append(env.Tables[0].Rows, []string{"scenario", f.Scenario}, []string{"not run", strings.Join(f.NotRun, ", ")})
		if f.Error != "" {
			env.Text = append(env.Text, "The run ended with an error: "+f.Error)
		}
		if f.Interrupted {
			env.Text = append(env.Text, "The run was interrupted: the figures cover what ran.")
		}
		if len(f.Scenarios) > 0 {
			t := table{Caption: "scenarios", Header: []string{"scenario", "status", "wall s", "reason"}}
			for _, s := range f.Scenarios {
				t.Rows = append(t.Rows, []string{s.Name, s.Status, fmt.Sprintf("%.1f", s.WallS), s.Reason})
			}
			env.Tables = append(env.Tables, t)
		}
	}
	d.Sections = append(d.Sections, env)

	if f := r.Final; f != nil {
		d.Sections = append(d.Sections, finalSections(f)...)

		dt := table{Header: []string{"test", "question", "answer", "value", "then", "detail"}}
		ds := f.Decisions
		if b := ds.MessageBus; b != nil {
			if b.GoBusNote != "" {
				dt.Rows = append(dt.Rows, []string{"2 bus", "the Go bus decided on", b.GoBus, "", "", b.GoBusNote})
			}
			if b.RustBusNote != "" {
				dt.Rows = append(dt.Rows, []string{"2 bus", "the Rust bus decided on", b.RustBus, "", "", b.RustBusNote})
			}
			for _, c := range b.HandlesP95 {
				dt.Rows = append(dt.Rows, check("2 bus", c))
			}
			dt.Rows = append(dt.Rows, check("2 bus", b.Delivered), check("2 bus", b.Improvement), check("2 bus", b.Memory),
				[]string{"2 bus", "recommendation", "", "", b.Recommendation, ""})
			for _, c := range b.VsNATS {
				dt.Rows = append(dt.Rows, check("2 bus vs NATS", c))
			}
		}
		if s := ds.SpawnPatterns; s != nil {
			for _, c := range s.Savings {
				dt.Rows = append(dt.Rows, check("3 spawn", c))
			}
			dt.Rows = append(dt.Rows, []string{"3 spawn", "Persistent memory stable over time?", string(s.MemoryStable), "", s.MemoryAnswer, ""},
				[]string{"3 spawn", "architectural shift justified", string(s.ShiftJustified), "", "", s.Rule})
		}
		if s := ds.AIStreaming; s != nil {
			dt.Rows = append(dt.Rows, check("4 streaming", s.NetworkBound), check("4 streaming", s.RustRecommends),
				[]string{"4 streaming", "band", s.Band, "", s.Answer, ""})
			for _, g := range s.GoOverRust {
				dt.Rows = append(dt.Rows, []string{"4 streaming", g.Client + " vs " + g.Against + " per-token CPU", "", "", "", g.Comparison.String()})
			}
		}
		if m := ds.AgentMessaging; m != nil {
			for _, b := range m.Buses {
				dt.Rows = append(dt.Rows, check("5 messaging "+b.Bus, b.Success), check("5 messaging "+b.Bus, b.P95), check("5 messaging "+b.Bus, b.Zero))
			}
		}
		d.Sections = append(d.Sections, section{Title: "Decision tree (seed Tests 2–5)", Text: []string{
			"Each answer is read on the 95 % interval of the median (benchmath order statistics); an interval that straddles the threshold, or too few values for one, is inconclusive."},
			Tables: []table{dt}})
	}

	ps, err := plots(r)
	if err != nil {
		return nil, err
	}
	if len(ps) > 0 {
		d.Sections = append(d.Sections, section{Title: "Plots", Plots: ps,
			Text: []string{"The plots are in report.html (inline SVG drawn from the JSON files of this folder)."}})
	}

	var tb bytes.Buffer
	if err := r.WriteTables(&tb); err != nil {
		return nil, fmt.Errorf("tables: %w", err)
	}
	d.Sections = append(d.Sections, section{Title: "Tables (as printed on stdout)", Pre: strings.TrimLeft(tb.String(), "\n")})
	return d, nil
}

// finalSections are the migration scenario and the Docker cost analysis of final-report.json.
func finalSections(f *decide.FinalReport) []section {
	m := f.Migration
	mig := section{Title: "Migration scenario (seed: Migration Recommendations)", Text: []string{
		"**" + m.Answer + "**", "Rule: " + m.Rule}}
	t := table{Header: []string{"scenario", "all met", "criterion", "answer", "from", "detail"}}
	for _, s := range m.Scenarios {
		for i, c := range s.Criteria {
			name, met := "", ""
			if i == 0 {
				name, met = s.ID+" "+s.Name, string(s.Met)
			}
			t.Rows = append(t.Rows, []string{name, met, c.Criterion, string(c.Answer), c.From, c.Detail})
		}
	}
	mig.Tables = append(mig.Tables, t)

	c := f.DockerCost
	cost := section{Title: "Docker cost analysis (seed formula)", Text: append([]string{c.Formula}, c.Notes...)}
	ct := table{Header: []string{"figure", "value [95 % CI]", "source"}, Rows: [][]string{
		{"memory savings, Rust vs Go per connection (%)", ivs(c.MemorySavingsPct, "%.1f"), c.MemorySource},
		{"estimated Docker cost reduction (%)", ivs(c.CostReductionPct, "%.1f"), "0.6 × memory savings"},
		{"agent container memory (bytes)", ivs(c.AgentContainerBytes, "%.0f"), c.AgentContainerSource},
		{"agent containers per GiB", ivs(c.AgentContainersPerGiB, "%.1f"), "1 GiB ÷ agent container memory"},
		{"cold start added per task (ms)", ivs(c.ColdStartMS, "%.1f"), "spawn-docker − persistent-docker mean time per task, per round"},
		{"cold start ratio (spawn ÷ persistent)", ivs(c.ColdStartRatio, "%.1f"), "per round"},
	}}
	for _, b := range c.Buses {
		ct.Rows = append(ct.Rows, []string{fmt.Sprintf("%s bus: connections per GiB at %d agents", b.Bus, b.AgentCount),
			b.PerGiB.Format("%.0f"), "1 GiB ÷ memory per connection (" + b.Source + ")"})
	}
	cost.Tables = append(cost.Tables, ct)
	return []section{mig, cost}
}

// Summary prints the migration scenario and the Docker cost analysis as text, for the end of a run's stdout: the
// same sections report.md has.
func Summary(w io.Writer, f *decide.FinalReport) error {
	for _, sec := range finalSections(f) {
		fmt.Fprintf(w, "\n%s\n", sec.Title)
		for _, t := range sec.Text {
			fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(t, "**", ""))
		}
		for _, t := range sec.Tables {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "  %s\n", strings.Join(t.Header, "\t"))
			for _, r := range t.Rows {
				fmt.Fprintf(tw, "  %s\n", strings.Join(r, "\t"))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}
