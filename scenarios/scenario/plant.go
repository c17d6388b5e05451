package scenario

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Plant is the lab's --plant KEY=VALUE,... flag: planted faults passed to the lab's own components so a user (and
// the calibration tests) can rehearse a decision on purpose. They are test knobs, never tuning; a run with any of
// them is recorded as planted in every results file and the report says so in red.
//
//	leak-kib=N    agent: N KiB retained per task (persistent agents; kept reachable)      → Test 3 memory
//	startup-ms=N  agent: N ms slept at start (a runtime that starts like Node.js's)       → Test 3 savings
//	delay-ms=N    the lab's buses: every msg delivery held N ms                         → Test 2 P95
//	drop-every=N  the lab's buses: every Nth msg delivery dropped (100 = 1 %)            → Tests 2 and 5 delivery
//	burn-us=N     streaming clients: N µs of CPU burned per token                        → Test 4 band
//
// The lab's buses are go, go-netpoll, rust, rust-epoll and node (buses.Planted); a run with a bus fault planted on
// any other bus (NATS, a --bus-image) is refused (buses.CheckPlant), never run with that bus clean.
type Plant struct {
	LeakKiB   int `json:"leak_kib,omitempty"`
	StartupMS int `json:"startup_ms,omitempty"`
	DelayMS   int `json:"delay_ms,omitempty"`
	DropEvery int `json:"drop_every,omitempty"`
	BurnUS    int `json:"burn_us,omitempty"`
}

// ErrPlant is a bad --plant value.
var ErrPlant = errors.New("bad --plant")

// plantKeys maps each key to its field and its largest value.
func (p *Plant) keys() map[string]struct {
	v   *int
	max int
} {
	return map[string]struct {
		v   *int
		max int
	}{
		"leak-kib":   {&p.LeakKiB, 1 << 20},
		"startup-ms": {&p.StartupMS, 60_000},
		"delay-ms":   {&p.DelayMS, 60_000},
		"drop-every": {&p.DropEvery, 1 << 30},
		"burn-us":    {&p.BurnUS, 1_000_000},
	}
}

// On reports whether any fault is planted.
func (p Plant) On() bool { return p != Plant{} }

// String is the flag's form, keys sorted ("" when nothing is planted).
func (p Plant) String() string {
	var parts []string
	for k, f := range (&p).keys() {
		if *f.v != 0 {
			parts = append(parts, k+"="+strconv.Itoa(*f.v))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// Set parses KEY=VALUE,... (repeatable: later keys win).
func (p *Plant) Set(s string) error {
	keys := p.keys()
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		f, known := keys[k]
		if !ok || !known {
			names := make([]string, 0, len(keys))
			for n := range keys {
				names = append(names, n)
			}
			sort.Strings(names)
			return fmt.Errorf("%w %q: want KEY=VALUE,... with KEY one of %s", ErrPlant, kv, strings.Join(names, ", "))
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > f.max {
			return fmt.Errorf("%w %s=%q: want an integer 0..%d", ErrPlant, k, v, f.max)
		}
		*f.v = n
	}
	return nil
}

// AgentArgs are the agent's command-line flags for the planted agent faults.
func (p Plant) AgentArgs() []string {
	var a []string
	if p.LeakKiB > 0 {
		a = append(a, "--plant-leak-kib", strconv.Itoa(p.LeakKiB))
	}
	if p.StartupMS > 0 {
		a = append(a, "--plant-startup-ms", strconv.Itoa(p.StartupMS))
	}
	return a
}

// BusEnv is the planted bus faults as the buses' BUS_PLANT_* variables (every lab bus reads the same), nil when none.
func (p Plant) BusEnv() map[string]string {
	if p.DelayMS == 0 && p.DropEvery == 0 {
		return nil
	}
	return map[string]string{"BUS_PLANT_DELAY_MS": strconv.Itoa(p.DelayMS), "BUS_PLANT_DROP_EVERY": strconv.Itoa(p.DropEvery)}
}

// Banner is the one line every report and progress log shows for a planted run.
func (p Plant) Banner() string {
	if !p.On() {
		return ""
	}
	return "PLANTED RUN (--plant " + p.String() + "): faults were planted on purpose; these verdicts describe the planted input, not the components"
}
