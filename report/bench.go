package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/agentlab/agentlab/scenarios"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// benchName is a figure's Go benchmark name: BenchmarkBusLoad/bus=go/pattern=targeted/model=open/agents=100.
func benchName(f scenario.Figure) string {
	var b strings.Builder
	b.WriteString("Benchmark")
	for _, w := range strings.FieldsFunc(f.Scenario, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	for _, d := range f.Dims {
		b.WriteString("/" + d.Key + "=" + strings.NewReplacer(" ", "_", "/", "_").Replace(d.Value))
	}
	return b.String()
}

// Bench writes the run's figures in the Go benchmark format (golang.org/x/perf/benchfmt), one line per sample,
// the metric as the unit (latency_p95_ms): `benchstat A/bench.txt B/bench.txt` compares two runs.
func Bench(w io.Writer, r *scenarios.Folder) error {
	e := r.Env
	fmt.Fprintf(w, "goos: %s\ngoarch: %s\npkg: github.com/agentlab/agentlab\n", e.OS, e.Arch)
	// The run's identity as a plain line, not "key: value" configuration: benchstat would put every run in a table
	// of its own instead of side by side (lab compare warns about environment differences instead).
	docker := "none"
	if e.Docker != nil {
		docker = e.Docker.ServerVersion
	}
	fmt.Fprintf(w, "agentlab run %s, commit %s, %d cpus, kernel %s, docker %s\n", r.RunID, e.GitCommit, e.CPUs, e.Kernel, docker)
	for _, f := range r.Figures() {
		if f.Alias {
			continue
		}
		for _, x := range f.Samples {
			if _, err := fmt.Fprintf(w, "%s 1 %s %s\n", benchName(f), strconv.FormatFloat(x, 'g', -1, 64), f.Metric); err != nil {
				return err
			}
		}
	}
	return nil
}

// CSV writes one row per sample of every figure: the per-run rows of the results, long format.
func CSV(w io.Writer, r *scenarios.Folder) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"run_id", "figure", "scenario", "dims", "metric", "unit", "sample", "value"})
	for _, f := range r.Figures() {
		if f.Alias {
			continue
		}
		var dims []string
		for _, d := range f.Dims {
			dims = append(dims, d.Key+"="+d.Value)
		}
		for i, x := range f.Samples {
			cw.Write([]string{r.RunID, f.Name(), f.Scenario, strings.Join(dims, " "), string(f.Metric), string(f.Unit),
				strconv.Itoa(i + 1), strconv.FormatFloat(x, 'g', -1, 64)})
		}
	}
	cw.Flush()
	return cw.Error()
}
