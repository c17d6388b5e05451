package agent

import (
	"flag"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Planted faults are test knobs for the lab's calibration (issue 23; README "How we know the verdicts are right"),
// never tuning: they make the agent measurably worse on purpose so a decision can be shown to flip on a known
// input. Off by default. Each flag falls back to its AGENT_PLANT_* variable (containers get them as env), and a
// flag given on the command line wins.
const (
	EnvPlantLeakKiB        = "AGENT_PLANT_LEAK_KIB"
	EnvPlantStartupMS      = "AGENT_PLANT_STARTUP_MS"
	maxPlantLeakKiB        = 1 << 20 // 1 GiB per task: beyond that the knob is a typo
	maxPlantStartupMS      = 60_000
	pageBytes              = 4096
	leakFill          byte = 0xA5 // non-zero, so every page is really written and resident
)

// Plant is the agent's planted faults.
type Plant struct {
	LeakKiB   int           // retained per task (persistent modes: serve, converse; once exits anyway)
	StartupMS int           // slept before the agent does anything, like a runtime that starts slowly (Node.js ~100 ms)
	leak      *Leak         // built from LeakKiB
	startup   time.Duration // built from StartupMS
}

func plantFlags(fs *flag.FlagSet) *Plant {
	p := &Plant{}
	fs.IntVar(&p.LeakKiB, "plant-leak-kib", 0, "PLANTED FAULT for calibration, not tuning: retain N KiB per task (env "+EnvPlantLeakKiB+")")
	fs.IntVar(&p.StartupMS, "plant-startup-ms", 0, "PLANTED FAULT for calibration, not tuning: sleep N ms at start (env "+EnvPlantStartupMS+")")
	return p
}

// resolve applies the environment to flags not given on the command line and validates the result.
func (p *Plant) resolve(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, e := range []struct {
		flag, env string
		v         *int
		max       int
	}{{"plant-leak-kib", EnvPlantLeakKiB, &p.LeakKiB, maxPlantLeakKiB}, {"plant-startup-ms", EnvPlantStartupMS, &p.StartupMS, maxPlantStartupMS}} {
		if s := getenv(e.env); s != "" && !given[e.flag] {
			n, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("%s=%q: not an integer", e.env, s)
			}
			*e.v = n
		}
		if *e.v < 0 || *e.v > e.max {
			return fmt.Errorf("--%s %d out of range 0..%d", e.flag, *e.v, e.max)
		}
	}
	p.leak = NewLeak(p.LeakKiB)
	p.startup = time.Duration(p.StartupMS) * time.Millisecond
	return nil
}

// Leak is a planted memory leak: Task retains KiB more, written page by page so it is resident, and keeps it
// reachable from the Leak so no garbage collection frees it. A nil *Leak leaks nothing.
type Leak struct {
	kib  int
	mu   sync.Mutex
	held [][]byte
}

// NewLeak returns a leak of kib KiB per task, or nil for 0.
func NewLeak(kib int) *Leak {
	if kib <= 0 {
		return nil
	}
	return &Leak{kib: kib}
}

// Task leaks one task's worth.
func (l *Leak) Task() {
	if l == nil {
		return
	}
	b := make([]byte, l.kib*1024)
	for i := 0; i < len(b); i += pageBytes {
		b[i] = leakFill
	}
	l.mu.Lock()
	l.held = append(l.held, b)
	l.mu.Unlock()
}

// Bytes is what the leak holds.
func (l *Leak) Bytes() int64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, b := range l.held {
		n += int64(len(b))
	}
	return n
}
