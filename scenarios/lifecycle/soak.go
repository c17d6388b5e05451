package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/agentlab/agentlab/internal/agent"
	"github.com/agentlab/agentlab/internal/stats"
)

// Soak (--soak DURATION): after the interleaved rounds, every persistent pattern runs a steady load — one task every
// 1/--soak-rate s — for DURATION while its memory is sampled every --sample-interval, and the stability verdict is
// fitted over the soak instead of the short rounds: a quick window can only say "not shown", a soak of some minutes
// can say "stable" (its detection limit, at least 1 MiB ÷ window, falls below 256 KiB/min after ~4 minutes).
// Samples are taken between tasks, never during one; the persistent patterns soak at the same time.

// soakResult is one pattern's soak.
type soakResult struct {
	DurationS float64     `json:"duration_s"`      // planned, s
	RatePerS  float64     `json:"rate_per_s"`      // tasks per second offered
	Tasks     int         `json:"tasks"`           // tasks done and verified
	Errors    int         `json:"errors"`          // tasks failed
	Series    []memSample `json:"series"`          // memory through the soak (t_s since the measurement began)
	Trend     stats.Trend `json:"trend"`           // the stability analysis of Series (the pattern's verdict)
	Error     string      `json:"error,omitempty"` // the first failure

	points []stats.MemPoint
}

func soak(ctx context.Context, env *Env, pats []pattern, res []*PatternResult, t0 time.Time) error {
	p := env.Params
	var wg sync.WaitGroup
	errs := make([]error, len(pats))
	n := 0
	for i, pt := range pats {
		if res[i].Kind != "persistent" {
			continue
		}
		n++
		wg.Go(func() { errs[i] = soakOne(ctx, env, pt, res[i], t0) })
	}
	if n > 0 {
		fmt.Fprintf(env.Log, "soak: %v of steady load, %.1f tasks/s per persistent pattern, memory every %v\n", p.Soak,
			p.SoakRate, p.Sample)
	}
	wg.Wait()
	return errors.Join(errs...)
}

func soakOne(ctx context.Context, env *Env, pt pattern, r *PatternResult, t0 time.Time) error {
	p := env.Params
	s := &soakResult{DurationS: p.Soak.Seconds(), RatePerS: p.SoakRate}
	r.memMu.Lock()
	r.Memory.Soak = s
	r.memMu.Unlock()
	sctx, cancel := context.WithTimeout(ctx, p.Soak)
	defer cancel()
	tick := time.NewTicker(time.Duration(float64(time.Second) / p.SoakRate))
	defer tick.Stop()
	sample := time.NewTicker(p.Sample)
	defer sample.Stop()
	var ids idSource
	for {
		select {
		case <-sctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return nil
		case <-sample.C:
			// The soak's end never cuts a reading or a task short: they run on the run's context.
			v, _, err := pt.memory(ctx)
			if err != nil {
				if ctx.Err() == nil && s.Error == "" {
					s.Error = "memory: " + err.Error()
				}
				continue
			}
			now := env.Now()
			s.points = append(s.points, stats.MemPoint{T: now, Bytes: v})
			s.Series = append(s.Series, memSample{TS: now.Sub(t0).Seconds(), Bytes: v})
		case <-tick.C:
			t := ids.next(p.TaskKiB)
			out, err := pt.do(ctx, t)
			if err == nil {
				err = agent.Check(t, out)
			}
			switch {
			case err == nil:
				s.Tasks++
			case ctx.Err() == nil:
				s.Errors++
				if s.Error == "" {
					s.Error = err.Error()
				}
			}
		}
	}
}
