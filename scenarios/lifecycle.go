package scenarios

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/agentlab/agentlab/internal/agent"
	"github.com/agentlab/agentlab/internal/stats"
)

// ErrTasksFailed reports that some tasks of a run failed; the run's figures cover only the tasks that succeeded.
var ErrTasksFailed = errors.New("tasks failed")

// memSamplesPerPattern is how many task-driven memory samples a pattern gets over a run.
const memSamplesPerPattern = 40

// SchemaVersion of spawn-comparison.json; bump on incompatible changes.
const SchemaVersion = 1

// patternResult is what spawn-comparison.json holds per pattern. Times are milliseconds, memory bytes.
type patternResult struct {
	patternInfo
	Tasks       int           `json:"tasks"`
	Errors      int           `json:"errors"`
	FirstError  string        `json:"first_error,omitempty"`
	Time        stats.Summary `json:"time_per_task"`
	OpsPerSec   float64       `json:"ops_per_s"`
	StartupMS   float64       `json:"startup_ms"`
	RoundMeanMS []float64     `json:"round_mean_ms"`
	Memory      memoryResult  `json:"memory"`

	lat   *stats.Latency
	memMu sync.Mutex // guards Memory while blocks run
}

type memoryResult struct {
	Source        string       `json:"source"`
	BaselineBytes float64      `json:"baseline_bytes"`
	FinalBytes    float64      `json:"final_bytes"`
	DeltaBytes    float64      `json:"delta_bytes"`
	Series        []memSample  `json:"series"`
	Trend         *stats.Trend `json:"trend,omitempty"`
	// ChildPeakRSS is the agent processes' peak RSS (getrusage ru_maxrss), spawn-process only.
	ChildPeakRSS *stats.Interval `json:"child_peak_rss_bytes,omitempty"`
	Error        string          `json:"error,omitempty"`

	points []stats.MemPoint
}

type memSample struct {
	TS    float64 `json:"t_s"` // seconds since the measurement started
	Bytes float64 `json:"bytes"`
}

// ratio compares two patterns' time per task.
type ratio struct {
	Slow       string         `json:"slow"`
	Fast       string         `json:"fast"`
	What       string         `json:"what"`
	MeanRatio  float64        `json:"mean_ratio"`
	P50Ratio   float64        `json:"p50_ratio"`
	SavingsPct stats.Interval `json:"savings_pct"` // 100·(1 − fast/slow) per round: median, 95 % bootstrap CI
}

// comparison is spawn-comparison.json.
type comparison struct {
	SchemaVersion int              `json:"schema_version"`
	Params        map[string]any   `json:"parameters"`
	Patterns      []*patternResult `json:"patterns"`
	Ratios        []ratio          `json:"ratios"`
	Decision      spawnDecision    `json:"decision"`
	Interrupted   bool             `json:"interrupted"`
	ContainerMem  any              `json:"container_memory,omitempty"` // cAdvisor / Docker stats time series
}

// runPatterns runs the patterns' tasks interleaved: Rounds rounds, each running a block of every pattern, the
// order rotated per round so no pattern always follows another. Setup and teardown are outside the timings.
//
// hold, if not nil, runs after the measurement and before teardown (the container sampler uses it to see the
// agents through a few sampling rounds of every source).
func runPatterns(ctx context.Context, env *Env, pats []pattern, hold func(context.Context)) (*comparison, error) {
	p := env.Params
	cmp := &comparison{SchemaVersion: SchemaVersion, Params: map[string]any{
		"iterations": p.Iterations, "agents": p.Agents, "concurrency": p.Concurrency, "task_kib": p.TaskKiB,
		"rounds": p.Rounds, "warmup": p.Warmup, "quick": p.Quick, "sample_interval_ms": p.Sample.Milliseconds(),
	}}
	res := make([]*patternResult, len(pats))
	for i, pt := range pats {
		res[i] = &patternResult{patternInfo: pt.info(), lat: stats.NewLatency()}
	}
	cmp.Patterns = res

	started := 0
	defer func() {
		// Teardown must run after Ctrl-C too: give it its own deadline.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		for _, pt := range pats[:started] {
			if err := pt.stop(sctx); err != nil {
				fmt.Fprintf(env.Log, "stop %s: %v\n", pt.info().Name, err)
			}
		}
	}()
	for i, pt := range pats {
		t0 := env.Now()
		started++
		if err := pt.start(ctx); err != nil {
			return cmp, fmt.Errorf("start %s: %w", res[i].Name, err)
		}
		res[i].StartupMS = msSince(env.Now, t0)
	}

	t0 := env.Now()
	for i, pt := range pats {
		sampleMemory(ctx, env, pt, res[i], t0)
	}
	var ids idSource
	for i, pt := range pats {
		for w := 0; w < p.Warmup; w++ {
			t := ids.next(p.TaskKiB)
			if _, err := pt.do(ctx, t); err != nil {
				return cmp, fmt.Errorf("warm-up %s: %w", res[i].Name, err)
			}
		}
	}

	rounds := max(1, min(p.Rounds, p.Iterations))
	bar := env.Progress("tasks", p.Iterations*len(pats))
	busy := make([]time.Duration, len(pats))
	var runErr error
rounds:
	for r := 0; r < rounds; r++ {
		n := p.Iterations / rounds
		if r < p.Iterations%rounds {
			n++
		}
		for k := range pats {
			i := (k + r) % len(pats)
			d, err := runBlock(ctx, env, pats[i], res[i], &ids, n, bar, t0)
			busy[i] += d
			if err != nil {
				runErr = err
				break rounds
			}
		}
	}
	bar.Done()
	if hold != nil && runErr == nil {
		hold(ctx)
	}

	for i, r := range res {
		r.Time = r.lat.Summary()
		r.Tasks = int(r.lat.Count())
		if busy[i] > 0 {
			r.OpsPerSec = float64(r.Tasks) / busy[i].Seconds()
		}
		finishMemory(r)
		if sp, ok := pats[i].(*spawnProcess); ok && len(sp.peakRSS) > 0 {
			iv := stats.BootstrapMedian(sp.peakRSS)
			r.Memory.ChildPeakRSS = &iv
		}
	}
	cmp.Ratios = ratios(res)
	cmp.Decision = decideSpawn(res)
	if ctx.Err() != nil {
		cmp.Interrupted = true
		return cmp, ctx.Err()
	}
	if runErr != nil {
		return cmp, runErr
	}
	failed := 0
	for _, r := range res {
		failed += r.Errors
	}
	if failed > 0 {
		return cmp, fmt.Errorf("%w: %d", ErrTasksFailed, failed)
	}
	return cmp, nil
}

func msSince(now func() time.Time, t0 time.Time) float64 {
	return float64(now().Sub(t0).Microseconds()) / 1000
}

// idSource numbers tasks across patterns so every task's data differs.
type idSource struct {
	mu sync.Mutex
	n  uint64
}

func (s *idSource) next(kib int) agent.Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return agent.Task{ID: s.n, KiB: kib, Seed: s.n * 0x9E3779B97F4A7C15}
}

// runBlock runs n tasks of one pattern with Concurrency workers and returns the block's wall time. Memory is
// sampled on a ticker while it runs and once at its end. A context error stops it; task errors are counted.
func runBlock(ctx context.Context, env *Env, pt pattern, r *patternResult, ids *idSource, n int, bar interface{ Add(int) }, t0 time.Time) (time.Duration, error) {
	if n == 0 {
		return 0, nil
	}
	sctx, stopSampler := context.WithCancel(ctx)
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		tk := time.NewTicker(env.Params.Sample)
		defer tk.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-tk.C:
				sampleMemory(sctx, env, pt, r, t0)
			}
		}
	}()

	// Besides the ticker, sample every sampleEvery tasks, between tasks and outside their timing: persistent
	// tasks are so quick that a whole run may be shorter than one tick.
	sampleEvery := max(1, env.Params.Iterations/memSamplesPerPattern)
	var mu sync.Mutex
	done := 0
	work := make(chan agent.Task)
	var wg sync.WaitGroup
	start := env.Now()
	for w := 0; w < max(1, env.Params.Concurrency); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				s := env.Now()
				res, err := pt.do(ctx, t)
				d := env.Now().Sub(s)
				if err == nil {
					err = agent.Check(t, res)
				}
				mu.Lock()
				if err != nil {
					if ctx.Err() == nil {
						r.Errors++
						if r.FirstError == "" {
							r.FirstError = err.Error()
						}
					}
				} else {
					r.lat.Record(d)
				}
				done++
				sample := done%sampleEvery == 0
				mu.Unlock()
				if sample {
					sampleMemory(ctx, env, pt, r, t0)
				}
				bar.Add(1)
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case work <- ids.next(env.Params.TaskKiB):
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	elapsed := env.Now().Sub(start)
	stopSampler()
	<-samplerDone
	sampleMemory(ctx, env, pt, r, t0)
	// Round mean: wall time per task at concurrency 1, or per task of throughput otherwise.
	r.RoundMeanMS = append(r.RoundMeanMS, float64(elapsed.Microseconds())/1000/float64(n))
	return elapsed, ctx.Err()
}

func sampleMemory(ctx context.Context, env *Env, pt pattern, r *patternResult, t0 time.Time) {
	if ctx.Err() != nil {
		return
	}
	v, src, err := pt.memory(ctx)
	r.memMu.Lock()
	defer r.memMu.Unlock()
	if err != nil {
		if r.Memory.Error == "" && ctx.Err() == nil {
			r.Memory.Error = err.Error()
		}
		return
	}
	now := env.Now()
	r.Memory.Source = src
	r.Memory.points = append(r.Memory.points, stats.MemPoint{T: now, Bytes: v})
	r.Memory.Series = append(r.Memory.Series, memSample{TS: now.Sub(t0).Seconds(), Bytes: v})
}

func finishMemory(r *patternResult) {
	m := &r.Memory
	if len(m.points) == 0 {
		return
	}
	m.BaselineBytes = m.points[0].Bytes
	m.FinalBytes = m.points[len(m.points)-1].Bytes
	m.DeltaBytes = m.FinalBytes - m.BaselineBytes
	if r.Kind == "persistent" {
		tr := stats.Analyze(m.points)
		m.Trend = &tr
	}
}

// ratioPairs are the comparisons the report makes, when both patterns ran.
var ratioPairs = [...]struct{ slow, fast, what string }{
	{"spawn-process", "persistent-process", "spawn-kill vs persistent, processes"},
	{"spawn-docker", "persistent-docker", "spawn-kill vs persistent, containers"},
	{"spawn-docker", "spawn-docker-raw", "testcontainers-go vs raw Engine API"},
	{"spawn-docker", "spawn-process", "container vs process, spawn-kill"},
	{"persistent-docker", "persistent-process", "container vs process, persistent"},
}

func ratios(res []*patternResult) []ratio {
	by := map[string]*patternResult{}
	for _, r := range res {
		if r.Tasks > 0 {
			by[r.Name] = r
		}
	}
	var out []ratio
	for _, p := range ratioPairs {
		a, b := by[p.slow], by[p.fast]
		if a == nil || b == nil {
			continue
		}
		var sav []float64
		for i := 0; i < min(len(a.RoundMeanMS), len(b.RoundMeanMS)); i++ {
			if a.RoundMeanMS[i] > 0 {
				sav = append(sav, 100*(1-b.RoundMeanMS[i]/a.RoundMeanMS[i]))
			}
		}
		out = append(out, ratio{
			Slow: p.slow, Fast: p.fast, What: p.what,
			MeanRatio:  safeDiv(a.Time.MeanMS, b.Time.MeanMS),
			P50Ratio:   safeDiv(a.Time.P50MS, b.Time.P50MS),
			SavingsPct: stats.BootstrapMedian(sav),
		})
	}
	return out
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// spawnDecision is the seed's decision 2 ("Spawn Patterns") with its inputs.
type spawnDecision struct {
	Question          string             `json:"question"`
	SavingsPct        map[string]float64 `json:"savings_pct"` // runtime → 100·(1 − persistent mean / spawn mean)
	PersistentSaves50 *bool              `json:"persistent_saves_over_50pct"`
	TimeAnswer        string             `json:"time_answer"`
	MemoryVerdicts    map[string]string  `json:"memory_verdicts"`
	MemoryStable      *bool              `json:"memory_stable"`
	MemoryAnswer      string             `json:"memory_answer"`
	ShiftJustified    *bool              `json:"architectural_shift_justified"`
	Rule              string             `json:"rule"`
}

func decideSpawn(res []*patternResult) spawnDecision {
	d := spawnDecision{
		Question:       "Persistent saves >50% time vs spawn-kill? Persistent memory stable over time?",
		Rule:           "architectural shift justified ⇔ persistent saves > 50 % mean time per task in every runtime measured AND every persistent pattern's memory is stable (" + stats.RuleText + ")",
		SavingsPct:     map[string]float64{},
		MemoryVerdicts: map[string]string{},
	}
	by := map[string]*patternResult{}
	for _, r := range res {
		if r.Tasks > 0 {
			by[r.Name] = r
		}
	}
	for _, rt := range []string{"process", "docker"} {
		s, p := by["spawn-"+rt], by["persistent-"+rt]
		if s != nil && p != nil && s.Time.MeanMS > 0 {
			d.SavingsPct[rt] = 100 * (1 - p.Time.MeanMS/s.Time.MeanMS)
		}
		if p != nil && p.Memory.Trend != nil {
			d.MemoryVerdicts[p.Name] = p.Memory.Trend.Verdict
		}
	}
	if len(d.SavingsPct) > 0 {
		yes := true
		for _, s := range d.SavingsPct {
			yes = yes && s > 50
		}
		d.PersistentSaves50 = &yes
		d.TimeAnswer = map[bool]string{true: "YES → Move to persistent architecture", false: "NO → Keep current spawn-kill"}[yes]
	} else {
		d.TimeAnswer = "not evaluated: needs a spawn and a persistent pattern of the same runtime"
	}
	if len(d.MemoryVerdicts) > 0 {
		stable, known := true, true
		for _, v := range d.MemoryVerdicts {
			stable = stable && v == stats.Stable
			known = known && v != stats.Insufficient
		}
		switch {
		case stable:
			d.MemoryStable = &stable
			d.MemoryAnswer = "YES → Safe to use persistent agents"
		case known:
			d.MemoryStable = &stable
			d.MemoryAnswer = "NO → Memory leak detected, fix before migrating"
		default:
			d.MemoryAnswer = "not established: too few memory samples (raise --iterations)"
		}
	} else {
		d.MemoryAnswer = "not evaluated: no persistent pattern measured"
	}
	if d.PersistentSaves50 != nil && d.MemoryStable != nil {
		j := *d.PersistentSaves50 && *d.MemoryStable
		d.ShiftJustified = &j
	}
	return d
}

// report writes the comparison as tables.
func (c *comparison) report(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\nspawn patterns — %v tasks per pattern of %v KiB SHA-256, concurrency %v, %v interleaved rounds (times: ms, HDR histogram)\n",
		c.Params["iterations"], c.Params["task_kib"], c.Params["concurrency"], c.Params["rounds"])
	fmt.Fprintln(tw, "pattern\tvia\tp50\tp95\tp99\tmax\tmean\tops/s\tstartup ms\tmem baseline MiB\tmem delta MiB\terrors\t")
	for _, r := range c.Patterns {
		fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.1f\t%.0f\t%.1f\t%+.2f\t%d\t\n", r.Name, dash(r.Via),
			r.Time.P50MS, r.Time.P95MS, r.Time.P99MS, r.Time.MaxMS, r.Time.MeanMS, r.OpsPerSec, r.StartupMS,
			r.Memory.BaselineBytes/(1<<20), r.Memory.DeltaBytes/(1<<20), r.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nmemory sources:")
	for _, r := range c.Patterns {
		line := r.Memory.Source
		if r.Memory.Error != "" {
			line += " (error: " + r.Memory.Error + ")"
		}
		if r.Memory.ChildPeakRSS != nil {
			line += fmt.Sprintf("; agent peak RSS (ru_maxrss) median %.1f MiB", r.Memory.ChildPeakRSS.Estimate/(1<<20))
		}
		if t := r.Memory.Trend; t != nil {
			line += fmt.Sprintf("; trend %s: slope %+.0f KiB/min over %.1f s, %d samples", t.Verdict, t.SlopeBytesMin/1024, t.WindowSeconds, t.Samples)
		}
		fmt.Fprintf(w, "  %-20s %s\n", r.Name, line)
	}
	if len(c.Ratios) > 0 {
		fmt.Fprintln(w, "\nratios (time per task):")
		for _, r := range c.Ratios {
			fmt.Fprintf(w, "  %-18s / %-18s mean %6.2f×  p50 %6.2f×  savings %5.1f %% [95%% CI %.1f–%.1f, %d rounds]  (%s)\n",
				r.Slow, r.Fast, r.MeanRatio, r.P50Ratio, r.SavingsPct.Estimate, r.SavingsPct.Low95, r.SavingsPct.High95, r.SavingsPct.N, r.What)
		}
	}
	d := c.Decision
	fmt.Fprintln(w, "\ndecision (seed Test 3):")
	fmt.Fprintf(w, "  persistent saves >50%% time? %s", d.TimeAnswer)
	for rt, s := range d.SavingsPct {
		fmt.Fprintf(w, "  [%s: %.1f %%]", rt, s)
	}
	fmt.Fprintf(w, "\n  persistent memory stable?   %s %v\n", d.MemoryAnswer, d.MemoryVerdicts)
	if d.ShiftJustified != nil {
		fmt.Fprintf(w, "  → architectural shift justified: %v\n", *d.ShiftJustified)
	}
	if c.Interrupted {
		fmt.Fprintln(w, "  (interrupted: partial results)")
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
