package aistreaming

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/agentlab/agentlab/scenarios/scenario"
)

// WriteTable writes the ai-streaming tables from the same struct as ai-streaming.json.
func (r *Result) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "\nai-streaming (seed Test 4): %s API, %d tokens/stream (%d B), realistic pacing %.0f ms/token and 0 (decoder-bound)\n",
		r.Mode, r.Tokens, r.TokenBytes, r.TokenDelayMS)
	for _, c := range r.Clients {
		state := "built"
		if !c.Built {
			state = "NOT BUILT"
		}
		fmt.Fprintf(w, "  %-8s %-4s %-9s %s\n", c.Client, c.Language, state, c.Note)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "client\tstreams\tdelay ms\tCPU/token ms [95% CI]\tnet wait/token ms\tTTFT p50 ms\tTTFT p99 ms\tgap p50 ms\tgap p95 ms\tgap p99 ms\ttok/s/stream\ttok/s total\theap/stream KiB\tmem/stream KiB\tmock CPU\toutcomes\t")
	for _, s := range r.tableOrder() {
		if s.Error != "" && s.Streams == 0 {
			fmt.Fprintf(tw, "%s\t%d\t%.0f\tFAILED: %s\t\t\t\t\t\t\t\t\t\t\t\t\t\n", s.Client, s.Concurrent, s.TokenDelayMS, scenario.Truncate([]byte(s.Error), 80))
			continue
		}
		// A figure that does not apply (no Go heap in Rust) or was not sampled twice (a run shorter than the sampling
		// interval) is "—", not a measured 0.
		heap, mem := "—", "—"
		if s.Language == "go" {
			heap = fmt.Sprintf("%.1f", s.HeapPerStream/1024)
		}
		if s.MemSamples >= 2 { // one sample has no spread to divide
			mem = fmt.Sprintf("%.1f", s.ContainerPerStream/1024)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%.3f\t%.2f\t%.2f\t%.3f\t%.3f\t%.3f\t%.0f\t%.0f\t%s\t%s\t%.2f\t%s\t\n",
			s.Client, s.Concurrent, s.TokenDelayMS, s.PerTokenCPU.Format("%.4f"), s.NetworkWaitPerToken,
			s.TTFT.P50MS, s.TTFT.P99MS, s.InterToken.P50MS, s.InterToken.P95MS, s.InterToken.P99MS,
			s.StreamTokensPerS, s.TotalTokensPerS, heap, mem, s.MockCPUCores, outcomes(s.Outcomes))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "  CPU/token: the client's own CPU (getrusage user+sys: HTTP read, SSE, JSON, accumulate, GC) per token, median over rounds;")
	fmt.Fprintln(w, "  net wait/token: stream time per token − CPU per token; gap: inter-token latency (HDR); mem/stream: container (peak − lowest)/streams;\n  mock CPU: the mock container's cores while the client ran (near the free cores, the mock set the pace).")
	if len(r.Faults) > 0 {
		fmt.Fprintln(w, "\nfaults (each stream of the run gets the fault; deadlines on every stream):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "client\tfault\tstreams\tretries\tretry wait p50 ms\toutcomes\twall s\t")
		for _, f := range r.Faults {
			o := outcomes(f.Outcomes)
			if f.Error != "" {
				o += " (run error: " + scenario.Truncate([]byte(f.Error), 60) + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f\t%s\t%.2f\t\n", f.Client, f.Fault, f.Streams, f.Retries, f.RetryWait.P50MS, o, f.WallS)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if r.Mock != nil {
		fmt.Fprintf(w, "\nmock: %d streams, %d completed, peak %d concurrent, %d × 529, %d mid-stream errors, %d cut\n",
			r.Mock.Streams, r.Mock.Completed, r.Mock.PeakActive, r.Mock.Overloaded, r.Mock.Midstream, r.Mock.Cut)
	}
	d := r.Decision
	fmt.Fprintf(w, "\nDecision (seed Test 4): %s\n", d.Answer)
	for _, c := range []struct {
		q, a, detail string
	}{{d.NetworkBound.Question, string(d.NetworkBound.Answer), d.NetworkBound.Detail},
		{d.RustRecommends.Question, string(d.RustRecommends.Answer), d.RustRecommends.Detail}} {
		fmt.Fprintf(w, "  %s %s — %s\n", c.q, strings.ToUpper(c.a), c.detail)
	}
	if len(d.GoOverRust) == 0 {
		fmt.Fprintf(w, "  Go/Rust per-token cost: %s\n", d.GoOverRustNote)
	}
	for _, c := range d.GoOverRust {
		fmt.Fprintf(w, "  %s / %s per-token cost: %s\n", c.Client, c.Against, c.Comparison)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "  note: "+n)
	}
	return nil
}

// tableOrder is the runs by level, pacing (realistic first) and the clients' order, whatever order the interleaved
// rounds ran them in.
func (r *Result) tableOrder() []streamRun {
	rank := map[string]int{}
	for i, c := range r.Clients {
		rank[c.Client] = i
	}
	out := slices.Clone(r.Runs)
	slices.SortStableFunc(out, func(a, b streamRun) int {
		if a.Concurrent != b.Concurrent {
			return a.Concurrent - b.Concurrent
		}
		if c := cmp.Compare(b.TokenDelayMS, a.TokenDelayMS); c != 0 {
			return c
		}
		return rank[a.Client] - rank[b.Client]
	})
	return out
}

func outcomes(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
