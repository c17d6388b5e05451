package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/agent"
	"github.com/agentlab/agentlab/internal/memstat"
	"github.com/agentlab/agentlab/internal/stats"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// ErrTasksFailed reports that some tasks of a run failed; the run's figures cover only the tasks that succeeded.
var ErrTasksFailed = errors.New("tasks failed")

// memSamplesPerPattern is how many task-driven memory samples a pattern gets over a run.
const memSamplesPerPattern = 40

// SchemaVersion of spawn-comparison.json; bump on incompatible changes. 2: typed parameters, savings with
// benchmath intervals (no interval below 6 rounds), the decision from package decide. 3: spawn patterns have no
// memory delta (the host-wide figure is context only); host memory per container (shim, docker-proxy, daemon
// growth, marginal) per container pattern and in the decision.
const SchemaVersion = 3

// PatternResult is what spawn-comparison.json holds per pattern. Times are milliseconds, memory bytes.
type PatternResult struct {
	patternInfo
	Tasks       int           `json:"tasks"`
	Errors      int           `json:"errors"`
	FirstError  string        `json:"first_error,omitempty"`
	Time        stats.Summary `json:"time_per_task"`
	OpsPerSec   float64       `json:"ops_per_s"`
	StartupMS   float64       `json:"startup_ms"`
	RoundMeanMS []float64     `json:"round_mean_ms"`
	Memory      memoryResult  `json:"memory"`

	lat   *stats.Hist
	memMu sync.Mutex // guards Memory while blocks run
}

type memoryResult struct {
	Source        string  `json:"source"`
	BaselineBytes float64 `json:"baseline_bytes"`
	FinalBytes    float64 `json:"final_bytes"`
	// DeltaBytes is final − baseline for persistent patterns; none for spawn patterns, whose figure is host-wide.
	DeltaBytes *float64     `json:"delta_bytes,omitempty"`
	Series     []memSample  `json:"series"`
	Trend      *stats.Trend `json:"trend,omitempty"`
	// ChildPeakRSS is getrusage ru_maxrss of the spawned agents (spawn-process). Under CLONE_VFORK the kernel folds
	// the lab's own high-water mark into it, so it is kept only to show that; PeakSelf is the agent's figure.
	ChildPeakRSS *stats.Interval `json:"child_peak_rss_bytes,omitempty"`
	// PeakSelf is each spawned agent's own peak RSS (VmHWM of /proc/self/status, sent in its reply), bytes.
	PeakSelf *stats.Interval `json:"peak_self_bytes,omitempty"`
	// ContainerPeak is each spawned task container's cgroup peak (v1 memory.max_usage_in_bytes, v2 memory.peak),
	// read by the agent as the container's init just before replying (runc removes the cgroup at exit), bytes.
	ContainerPeak       *stats.Interval `json:"container_peak_bytes,omitempty"`
	ContainerPeakSource string          `json:"container_peak_source,omitempty"`
	// PSS is the persistent agent processes' summed PSS (/proc/<pid>/smaps_rollup) per reading, bytes: shared text
	// pages are counted once, unlike the summed VmRSS.
	PSS *stats.Interval `json:"pss_bytes,omitempty"`
	// Host is a container pattern's host memory per container: shim, docker-proxy, daemon growth, marginal.
	Host  *hostOverhead `json:"host_per_container,omitempty"`
	Error string        `json:"error,omitempty"`

	points []stats.MemPoint
}

type memSample struct {
	TS    float64 `json:"t_s"` // seconds since the measurement started
	Bytes float64 `json:"bytes"`
}

// ratio compares two patterns' time per task. The saving is per interleaved round, so the two patterns' blocks of
// one round — run back to back — are compared with each other: the same figure feeds the decision.
type ratio struct {
	Slow       string         `json:"slow"`
	Fast       string         `json:"fast"`
	What       string         `json:"what"`
	MeanRatio  float64        `json:"mean_ratio"` // mean time per task, slow / fast (all rounds pooled)
	P50Ratio   float64        `json:"p50_ratio"`
	SavingsPct stats.Interval `json:"savings_pct"` // 100·(1 − fast/slow) per round: median with benchmath's 95 % CI (none below 6 rounds)
	// PerRoundPct are the rounds' savings the interval is computed from.
	PerRoundPct []float64 `json:"per_round_savings_pct"`
}

// lifecycleParams are the parameters a lifecycle run used.
type lifecycleParams struct {
	Iterations  int     `json:"iterations"` // tasks per pattern
	Agents      int     `json:"agents"`     // persistent agents per pattern
	Concurrency int     `json:"concurrency"`
	TaskKiB     int     `json:"task_kib"`
	Rounds      int     `json:"rounds"`
	Warmup      int     `json:"warmup"`
	Quick       bool    `json:"quick"`
	SampleMS    float64 `json:"sample_interval_ms"`
	// SampleEvery is how many tasks run between two task-driven memory samples (outside the timing).
	SampleEvery int `json:"sample_every_tasks"`
	// Runtimes and AgentImages are --runtime and --agent-image as given.
	Runtimes    string `json:"runtimes,omitempty"`
	AgentImages string `json:"agent_images,omitempty"`
}

// Comparison is spawn-comparison.json.
type Comparison struct {
	SchemaVersion int                   `json:"schema_version"`
	Params        lifecycleParams       `json:"parameters"`
	Patterns      []*PatternResult      `json:"patterns"`
	Ratios        []ratio               `json:"ratios"`
	Decision      *decide.SpawnDecision `json:"decision"`
	// Languages is Test 3 per agent language when more than one was measured (--runtime); Decision is then go's
	// (or the first language's when go was not measured).
	Languages    []LanguageVerdict  `json:"languages,omitempty"`
	Interrupted  bool               `json:"interrupted"`
	ContainerMem *memstat.Recording `json:"container_memory,omitempty"` // cAdvisor / Docker stats / cgroup time series
}

// runPatterns runs the patterns' tasks interleaved: Rounds rounds, each running a block of every pattern, the
// order rotated per round so no pattern always follows another. Setup and teardown are outside the timings.
//
// hold, if not nil, runs after the measurement and before teardown (the container sampler uses it to see the
// agents through a few sampling rounds of every source).
func runPatterns(ctx context.Context, env *Env, pats []pattern, hold func(context.Context)) (*Comparison, error) {
	p := env.Params
	cmp := &Comparison{SchemaVersion: SchemaVersion, Params: lifecycleParams{
		Iterations: p.Iterations, Agents: p.Agents, Concurrency: p.Concurrency, TaskKiB: p.TaskKiB, Rounds: p.Rounds,
		Warmup: p.Warmup, Quick: p.Quick, SampleMS: float64(p.Sample.Microseconds()) / 1000, SampleEvery: sampleEvery(p),
		Runtimes: p.Runtimes, AgentImages: p.AgentImages,
	}}
	res := make([]*PatternResult, len(pats))
	for i, pt := range pats {
		res[i] = &PatternResult{patternInfo: pt.info(), lat: stats.NewHist()}
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

	busy, runErr := runRounds(ctx, env, pats, res, &ids, t0)
	if hold != nil && runErr == nil {
		hold(ctx)
	}
	// Host overhead per container, after the timing and before teardown (persistent containers must be up).
	if runErr == nil && ctx.Err() == nil {
		hostOverheads(ctx, env, pats, res)
	}

	finishPatterns(pats, res, busy)
	cmp.Ratios = ratios(res)
	langs := languages(res)
	d := decide.Spawn(spawnInputFor(res, cmp.Ratios, langs[0]))
	cmp.Decision = &d
	if len(langs) > 1 {
		for _, l := range langs {
			ld := decide.Spawn(spawnInputFor(res, cmp.Ratios, l))
			name := l
			if name == "" {
				name = "go"
			}
			cmp.Languages = append(cmp.Languages, LanguageVerdict{Language: name, Version: env.Versions[name], Decision: &ld})
		}
	}
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

// runRounds runs the timed tasks: p.Rounds interleaved rounds, every pattern a block per round, the order rotated
// per round. It returns each pattern's busy time and the first error.
func runRounds(ctx context.Context, env *Env, pats []pattern, res []*PatternResult, ids *idSource, t0 time.Time) ([]time.Duration, error) {
	p := env.Params
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
			d, err := runBlock(ctx, env, pats[i], res[i], ids, n, bar, t0)
			busy[i] += d
			if err != nil {
				runErr = err
				break rounds
			}
		}
	}
	bar.Done()
	return busy, runErr
}

// hostOverheads reads the host memory per container of the patterns that have containers.
func hostOverheads(ctx context.Context, env *Env, pats []pattern, res []*PatternResult) {
	for i, pt := range pats {
		hr, ok := pt.(hostOverheadReader)
		if !ok {
			continue
		}
		h, err := hr.hostOverhead(ctx)
		res[i].Memory.Host = h
		if err != nil {
			err = fmt.Errorf("host memory per container: %w", err)
			fmt.Fprintf(env.Log, "%s: %v\n", res[i].Name, err)
			if res[i].Memory.Error == "" {
				res[i].Memory.Error = err.Error()
			}
		}
	}
}

// finishPatterns turns each pattern's raw samples into its figures: time summary, throughput, memory intervals.
func finishPatterns(pats []pattern, res []*PatternResult, busy []time.Duration) {
	for i, r := range res {
		r.Time = r.lat.Summary()
		r.Tasks = int(r.lat.Count())
		if busy[i] > 0 {
			r.OpsPerSec = float64(r.Tasks) / busy[i].Seconds()
		}
		finishMemory(r)
		ivOf := func(xs []float64) *stats.Interval {
			if len(xs) == 0 {
				return nil
			}
			iv := stats.MedianCI(xs)
			return &iv
		}
		switch pt := pats[i].(type) {
		case *spawnProcess:
			r.Memory.ChildPeakRSS, r.Memory.PeakSelf = ivOf(pt.peakRSS), ivOf(pt.peakSelf)
		case *spawnDocker:
			r.Memory.PeakSelf, r.Memory.ContainerPeak, r.Memory.ContainerPeakSource = ivOf(pt.peakSelf), ivOf(pt.peaks), pt.peakSource
		case *persistentProcess:
			r.Memory.PSS = ivOf(pt.pss)
		}
	}
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

// sampleEvery is how many tasks run between two task-driven memory samples: a pattern gets about
// memSamplesPerPattern of them over a run, since persistent tasks are so quick that a whole run may be shorter than
// one sampling tick.
func sampleEvery(p Params) int { return max(1, p.Iterations/memSamplesPerPattern) }

// runBlock runs n tasks of one pattern with Concurrency workers and returns the block's timed duration. The block
// runs in chunks of sampleEvery tasks; memory is sampled between chunks with the clock stopped, so no reading (a
// Docker stats call takes up to a second) is ever inside a timed span. A context error stops it; task errors are
// counted.
func runBlock(ctx context.Context, env *Env, pt pattern, r *PatternResult, ids *idSource, n int, bar interface{ Add(int) }, t0 time.Time) (time.Duration, error) {
	if n == 0 {
		return 0, nil
	}
	var elapsed time.Duration
	chunk := sampleEvery(env.Params)
	for done := 0; done < n && ctx.Err() == nil; done += chunk {
		elapsed += runChunk(ctx, env, pt, r, ids, min(chunk, n-done), bar)
		sampleMemory(ctx, env, pt, r, t0) // the clock is stopped
	}
	// Round mean: timed wall per task at concurrency 1, or per task of throughput otherwise.
	r.RoundMeanMS = append(r.RoundMeanMS, float64(elapsed.Microseconds())/1000/float64(n))
	return elapsed, ctx.Err()
}

// runChunk runs n tasks with Concurrency workers and returns their wall time.
func runChunk(ctx context.Context, env *Env, pt pattern, r *PatternResult, ids *idSource, n int, bar interface{ Add(int) }) time.Duration {
	var mu sync.Mutex
	work := make(chan agent.Task)
	var wg sync.WaitGroup
	start := env.Now()
	for w := 0; w < min(n, max(1, env.Params.Concurrency)); w++ {
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
				mu.Unlock()
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
	return env.Now().Sub(start)
}

func sampleMemory(ctx context.Context, env *Env, pt pattern, r *PatternResult, t0 time.Time) {
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

func finishMemory(r *PatternResult) {
	m := &r.Memory
	if len(m.points) == 0 {
		return
	}
	m.BaselineBytes = m.points[0].Bytes
	m.FinalBytes = m.points[len(m.points)-1].Bytes
	if r.Kind == "persistent" {
		d := m.FinalBytes - m.BaselineBytes
		m.DeltaBytes = &d
		tr := stats.Analyze(m.points)
		m.Trend = &tr
	}
}

// ratioPairs are the comparisons the report makes within one language, when both patterns ran (names get the
// language's suffix: spawn-process-node / persistent-process-node).
var ratioPairs = [...]struct{ slow, fast, what string }{
	{"spawn-process", "persistent-process", "spawn-kill vs persistent, processes"},
	{"spawn-docker", "persistent-docker", "spawn-kill vs persistent, containers"},
	{"spawn-docker", "spawn-docker-raw", "testcontainers-go vs raw Engine API"},
	{"spawn-docker", "spawn-process", "container vs process, spawn-kill"},
	{"persistent-docker", "persistent-process", "container vs process, persistent"},
}

// languages lists the languages of res in order of appearance ("" is go).
func languages(res []*PatternResult) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range res {
		if !seen[r.Language] {
			seen[r.Language] = true
			out = append(out, r.Language)
		}
	}
	return out
}

func ratios(res []*PatternResult) []ratio {
	by := map[string]*PatternResult{}
	for _, r := range res {
		if r.Tasks > 0 {
			by[r.Name] = r
		}
	}
	type pair struct{ slow, fast, what string }
	var pairs []pair
	for _, lang := range languages(res) {
		sfx := langSuffix(lang)
		for _, p := range ratioPairs {
			what := p.what
			if lang != "" {
				what += ", " + lang
			}
			pairs = append(pairs, pair{p.slow + sfx, p.fast + sfx, what})
		}
	}
	// Across languages: what the seed's own runtime costs beside the Go agent, and npx beside a direct node.
	for _, lang := range languages(res) {
		if lang == "" {
			continue
		}
		sfx := langSuffix(lang)
		pairs = append(pairs,
			pair{"spawn-process" + sfx, "spawn-process", lang + " vs go, spawn-kill process"},
			pair{"persistent-process" + sfx, "persistent-process", lang + " vs go, persistent process"},
			pair{"spawn-docker" + sfx, "spawn-docker", lang + " vs go, spawn-kill container"})
	}
	pairs = append(pairs,
		pair{"spawn-npx", "spawn-process-node", "npx vs node directly, spawn-kill"},
		pair{"spawn-npx", "persistent-process-node", "the seed's npx spawn-kill vs persistent node"})
	var out []ratio
	for _, p := range pairs {
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
			MeanRatio:   scenario.SafeDiv(a.Time.MeanMS, b.Time.MeanMS),
			P50Ratio:    scenario.SafeDiv(a.Time.P50MS, b.Time.P50MS),
			SavingsPct:  stats.MedianCI(sav),
			PerRoundPct: sav,
		})
	}
	return out
}

// spawnInput is what decide.Spawn needs for the Go agent: the per-round savings of each runtime's spawn →
// persistent pair (the same figures as the ratios table) and every persistent pattern's memory trend.
func spawnInput(res []*PatternResult, rs []ratio) decide.SpawnInput {
	return spawnInputFor(res, rs, "")
}

// spawnInputFor is spawnInput for the agent written in lang ("" = go); node's includes the seed's own path,
// spawn-npx → persistent-process-node, as runtime "npx".
func spawnInputFor(res []*PatternResult, rs []ratio, lang string) decide.SpawnInput {
	var in decide.SpawnInput
	sfx := langSuffix(lang)
	for _, rt := range []string{"process", "docker", "npx"} {
		slow, fast := "spawn-"+rt+sfx, "persistent-"+rt+sfx
		if rt == "npx" {
			if lang != "node" {
				continue
			}
			slow, fast = "spawn-npx", "persistent-process-node"
		}
		for _, r := range rs {
			if r.Slow == slow && r.Fast == fast {
				in.Savings = append(in.Savings, decide.RuntimeSavings{Runtime: rt, PerRound: r.PerRoundPct})
			}
		}
	}
	for _, r := range res {
		if r.Language != lang {
			continue
		}
		if r.Kind == "persistent" && r.Tasks > 0 {
			in.Memory = append(in.Memory, decide.MemoryVerdict{Pattern: r.Name, Trend: r.Memory.Trend})
		}
		if h := r.Memory.Host; h != nil {
			in.HostMemory = append(in.HostMemory, h.ContainerHostMemory)
		}
	}
	return in
}

// LanguageVerdict is Test 3 asked of one agent language: its runtime's version and the decision on its own patterns.
type LanguageVerdict struct {
	Language string                `json:"language"`
	Version  string                `json:"version,omitempty"` // node v20.20.2, python 3.11.2, go 1.26 (the lab's toolchain)
	Decision *decide.SpawnDecision `json:"decision"`
}

// WriteTable writes the comparison as tables.
func (c *Comparison) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\nspawn patterns — %d tasks per pattern of %d KiB SHA-256, concurrency %d, %d interleaved rounds (times: ms, HDR histogram; memory sampled between tasks, outside the timing)\n",
		c.Params.Iterations, c.Params.TaskKiB, c.Params.Concurrency, c.Params.Rounds)
	fmt.Fprintln(tw, "pattern\tvia\tp50\tp95\tp99\tmax\tmean\tops/s\tstartup ms\tmem baseline MiB\tmem delta MiB\terrors\t")
	for _, r := range c.Patterns {
		// A spawn pattern's memory series is host-wide context: no baseline or delta of its own (see its peaks).
		base, delta := "-", "-"
		if d := r.Memory.DeltaBytes; d != nil {
			base, delta = fmt.Sprintf("%.1f", r.Memory.BaselineBytes/(1<<20)), fmt.Sprintf("%+.2f", *d/(1<<20))
		}
		fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.1f\t%.0f\t%s\t%s\t%d\t\n", r.Name, dash(r.Via),
			r.Time.P50MS, r.Time.P95MS, r.Time.P99MS, r.Time.MaxMS, r.Time.MeanMS, r.OpsPerSec, r.StartupMS,
			base, delta, r.Errors)
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
		if m := r.Memory; m.PeakSelf != nil {
			line += "; agent's own peak (VmHWM, MiB, per task) median " + mibIv(m.PeakSelf)
		}
		if m := r.Memory; m.ContainerPeak != nil {
			line += "; task container's cgroup peak (MiB, per task) median " + mibIv(m.ContainerPeak)
		}
		if m := r.Memory; m.ChildPeakRSS != nil {
			line += "; ru_maxrss (MiB; includes the lab's own peak: not the agent's) median " + mibIv(m.ChildPeakRSS)
		}
		if m := r.Memory; m.PSS != nil {
			line += "; summed PSS (MiB, per reading) median " + mibIv(m.PSS)
		}
		if t := r.Memory.Trend; t != nil {
			line += fmt.Sprintf("; trend %s: slope %+.0f KiB/min over %.1f s, %d samples", t.Verdict, t.SlopeBytesMin/1024, t.WindowSeconds, t.Samples)
		}
		fmt.Fprintf(w, "  %-20s %s\n", r.Name, line)
	}
	reportHostMemory(w, c.Patterns)
	if len(c.Ratios) > 0 {
		fmt.Fprintln(w, "\nratios (time per task; savings: median of the per-round savings [95 % CI, benchmath order statistics]):")
		for _, r := range c.Ratios {
			fmt.Fprintf(w, "  %-18s / %-18s mean %6.2f×  p50 %6.2f×  savings %s %%  (%s)\n",
				r.Slow, r.Fast, r.MeanRatio, r.P50Ratio, r.SavingsPct.Format("%.1f"), r.What)
		}
	}
	if c.Decision != nil {
		writeSpawnDecision(w, *c.Decision)
	}
	if len(c.Languages) > 0 {
		fmt.Fprintln(w, "\ndecision (seed Test 3) per agent language — the same questions on each language's own patterns:")
		for _, l := range c.Languages {
			if l.Decision == nil {
				continue
			}
			fmt.Fprintf(w, "  %-8s %-16s persistent saves >50%% time? %-12s memory stable? %-12s → shift justified: %s\n",
				l.Language, "("+dash(l.Version)+")", l.Decision.TimeAnswer, l.Decision.MemoryAnswer, l.Decision.ShiftJustified)
			for _, s := range l.Decision.Savings {
				fmt.Fprintf(w, "      %-44s %-12s %s\n", s.Question, s.Answer, s.Detail)
			}
		}
	}
	if c.Interrupted {
		fmt.Fprintln(w, "  (interrupted: partial results)")
	}
	return nil
}

// writeSpawnDecision prints Test 3's answers with the figures behind them.
func writeSpawnDecision(w io.Writer, d decide.SpawnDecision) {
	fmt.Fprintln(w, "\ndecision (seed Test 3):")
	fmt.Fprintf(w, "  persistent saves >50%% time? %s\n", d.TimeAnswer)
	for _, s := range d.Savings {
		fmt.Fprintf(w, "    %-44s %-12s %s\n", s.Question, s.Answer, s.Detail)
	}
	fmt.Fprintf(w, "  persistent memory stable?   %s\n", d.MemoryAnswer)
	for _, m := range d.Memory {
		if m.Trend != nil {
			fmt.Fprintf(w, "    %-20s %s: slope %+.0f KiB/min over %.1f s, %d samples\n", m.Pattern, m.Trend.Verdict,
				m.Trend.SlopeBytesMin/1024, m.Trend.WindowSeconds, m.Trend.Samples)
		}
	}
	fmt.Fprintf(w, "  → architectural shift justified: %s\n", d.ShiftJustified)
}

// mibIv formats a bytes interval in MiB.
func mibIv(iv *stats.Interval) string {
	c := *iv
	m := func(x float64) float64 { return x / (1 << 20) }
	c.Estimate, c.Min, c.Max = m(c.Estimate), m(c.Min), m(c.Max)
	if c.HasCI() {
		lo, hi := m(*c.Low95), m(*c.High95)
		c.Low95, c.High95 = &lo, &hi
	}
	return c.Format("%.2f")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
