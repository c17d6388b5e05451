// Package connmem measures a bus container's memory per connection as a slope: load generators (internal/loadgen
// with Config.IdleSteps) open registered idle connections in steps and pause at each; the lab reads the bus's
// memory until it settles — successive readings within a tolerance, a wait condition, not a sleep —, records the
// step and lets the generators go on. stats.FitConnSlope fits the readings.
//
// Everything goes through the Engine API and memstat, so it works wherever the lab does: the step lines are read
// from the generators' logs, the go-ahead is a SIGUSR1 sent with ContainerKill, and the memory comes from the
// memstat reader the caller binds (the cgroup files when the daemon is local, Docker stats when it is remote).
package connmem

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/internal/loadgen"
	"github.com/agentlab/agentlab/internal/stats"
)

// ErrGeneratorEnded is a generator whose log ended before every step was reached (it failed or was stopped).
var ErrGeneratorEnded = errors.New("generator ended before its last idle step")

// Reader reads the bus container's memory now, in bytes (memstat MemoryBytes: usage − inactive file cache), with
// the time the source read it.
type Reader func(ctx context.Context) (bytes float64, at time.Time, err error)

// Settle is the wait condition of a step: readings every Interval until the latest readings — at least MinReadings
// of them, spanning at least MinSpan of the source's clock, at most Window — lie within max(TolBytes, TolFrac ×
// their median); the step's figure is that median. MinSpan keeps a fast source (the cgroup files, 100 ms apart)
// watching for half a second, while a slow one (Docker stats through a remote daemon, ~1 s a reading) settles
// after three readings instead of Window. After Timeout the step is taken as it is (the median of the last
// readings) and marked unsettled.
type Settle struct {
	Interval    time.Duration
	Window      int
	MinReadings int
	MinSpan     time.Duration
	TolBytes    float64
	TolFrac     float64
	Timeout     time.Duration
}

// DefaultSettle: five readings 100 ms apart within max(64 KiB, 0.2 %) — well below what 250 connections add (≥
// 0.5 MiB on every bus measured) —, at most 15 s per step.
var DefaultSettle = Settle{Interval: 100 * time.Millisecond, Window: 5, MinReadings: 3, MinSpan: 400 * time.Millisecond,
	TolBytes: 64 << 10, TolFrac: 0.002, Timeout: 15 * time.Second}

func (s Settle) withDefaults() Settle {
	d := DefaultSettle
	if s.Interval > 0 {
		d.Interval = s.Interval
	}
	if s.Window >= 2 {
		d.Window = s.Window
	}
	if s.MinReadings >= 2 {
		d.MinReadings = s.MinReadings
	}
	if s.MinSpan > 0 {
		d.MinSpan = s.MinSpan
	}
	d.MinReadings = min(d.MinReadings, d.Window)
	if s.TolBytes > 0 {
		d.TolBytes = s.TolBytes
	}
	if s.TolFrac > 0 {
		d.TolFrac = s.TolFrac
	}
	if s.Timeout > 0 {
		d.Timeout = s.Timeout
	}
	return d
}

// Point is one step: the bus's memory with Conns registered idle connections (every generator together).
type Point struct {
	Step     int     `json:"step"`
	Target   int     `json:"target"`      // connections the step asked for
	Conns    int     `json:"connections"` // registered
	Bytes    float64 `json:"bytes"`       // median of the settled readings
	Spread   float64 `json:"spread_bytes"`
	Readings int     `json:"readings"`
	Settled  bool    `json:"settled"`
	SettleS  float64 `json:"settle_s"` // from the last generator's step line to the step's figure
}

// Readings returns the points as the fit's input.
func Readings(ps []Point) []stats.ConnReading {
	out := make([]stats.ConnReading, len(ps))
	for i, p := range ps {
		out[i] = stats.ConnReading{Conns: p.Conns, Bytes: p.Bytes}
	}
	return out
}

// Ladder steps one bus's generators through their idle steps.
type Ladder struct {
	Docker client.APIClient
	// Generators are the generator containers (each started with the same number of IdleSteps).
	Generators []string
	Steps      int // idle steps per generator
	Read       Reader
	Settle     Settle
}

// Run waits for each step of every generator, reads the bus until it settles, records the step and sends the
// go-ahead; it returns after the last step's go-ahead (the generators go on with their run). On error the points
// so far are returned.
func (l Ladder) Run(ctx context.Context) ([]Point, error) {
	if l.Steps == 0 {
		return nil, nil
	}
	set := l.Settle.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type event struct {
		gen  int
		step loadgen.Step
		err  error
	}
	events := make(chan event)
	for i, id := range l.Generators {
		go func() {
			err := follow(ctx, l.Docker, id, func(s loadgen.Step) bool {
				select {
				case events <- event{gen: i, step: s}:
					return true
				case <-ctx.Done():
					return false
				}
			})
			select {
			case events <- event{gen: i, err: err}:
			case <-ctx.Done():
			}
		}()
	}
	reached := make([]map[int]loadgen.Step, l.Steps)
	var out []Point
	for k := 0; k < l.Steps; k++ {
		for len(reached[k]) < len(l.Generators) {
			select {
			case ev := <-events:
				if ev.err != nil || ev.step.Steps == 0 {
					return out, fmt.Errorf("generator %d at idle step %d: %w", ev.gen, k, errors.Join(ErrGeneratorEnded, ev.err))
				}
				if ev.step.Index < 0 || ev.step.Index >= l.Steps {
					return out, fmt.Errorf("generator %d: idle step %d of %d, want %d steps", ev.gen, ev.step.Index, ev.step.Steps, l.Steps)
				}
				if reached[ev.step.Index] == nil {
					reached[ev.step.Index] = map[int]loadgen.Step{}
				}
				reached[ev.step.Index][ev.gen] = ev.step
			case <-ctx.Done():
				return out, ctx.Err()
			}
		}
		p := Point{Step: k}
		for _, s := range reached[k] {
			p.Target += s.Target
			p.Conns += s.Registered
		}
		if err := settle(ctx, l.Read, set, &p); err != nil {
			return out, fmt.Errorf("idle step %d (%d connections): %w", k, p.Conns, err)
		}
		out = append(out, p)
		for _, id := range l.Generators {
			if _, err := l.Docker.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "SIGUSR1"}); err != nil {
				return out, fmt.Errorf("idle step %d: go-ahead to generator %.12s: %w", k, id, err)
			}
		}
	}
	return out, nil
}

// settle reads until the latest readings agree (or Timeout) and fills p.
func settle(ctx context.Context, read Reader, s Settle, p *Point) error {
	start := time.Now()
	deadline := start.Add(s.Timeout)
	type reading struct {
		at time.Time
		b  float64
	}
	var win []reading
	tick := time.NewTicker(s.Interval)
	defer tick.Stop()
	failures := 0
	values := func(rs []reading) []float64 {
		out := make([]float64, len(rs))
		for i, r := range rs {
			out[i] = r.b
		}
		return out
	}
	for {
		b, at, err := read(ctx)
		switch {
		case err != nil:
			failures++
			if failures >= 3 && len(win) == 0 {
				return fmt.Errorf("read memory: %w", err)
			}
		case len(win) == 0 || at.After(win[len(win)-1].at): // a cached source repeats a reading: count it once
			win = append(win, reading{at, b})
			p.Readings++
			if len(win) > s.Window {
				win = win[1:]
			}
		}
		// The shortest suffix of at least MinReadings readings spanning MinSpan; a full window when none does.
		k := 0
		for j := s.MinReadings; j <= len(win); j++ {
			if win[len(win)-1].at.Sub(win[len(win)-j].at) >= s.MinSpan || j == s.Window {
				k = j
				break
			}
		}
		if k > 0 {
			vs := values(win[len(win)-k:])
			lo, hi, med := slices.Min(vs), slices.Max(vs), stats.Median(vs)
			p.Bytes, p.Spread = med, hi-lo
			if hi-lo <= math.Max(s.TolBytes, s.TolFrac*med) {
				p.Settled = true
				p.SettleS = time.Since(start).Seconds()
				return nil
			}
		}
		if time.Now().After(deadline) {
			if len(win) == 0 {
				return fmt.Errorf("no memory reading within %v", s.Timeout)
			}
			vs := values(win)
			p.Bytes, p.Spread = stats.Median(vs), slices.Max(vs)-slices.Min(vs)
			p.SettleS = time.Since(start).Seconds()
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// follow reads a container's stderr through the Engine API (from its start, so no line is missed) and calls step
// for every step line until the log ends, ctx ends or step returns false.
func follow(ctx context.Context, cli client.APIClient, id string, step func(loadgen.Step) bool) error {
	logs, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStderr: true, Follow: true})
	if err != nil {
		return fmt.Errorf("logs of %.12s: %w", id, err)
	}
	defer logs.Close()
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(io.Discard, pw, logs)
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if s, ok := loadgen.ParseStepLine(sc.Bytes()); ok && !step(s) {
			return ctx.Err()
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("logs of %.12s: %w", id, err)
	}
	return ctx.Err()
}
