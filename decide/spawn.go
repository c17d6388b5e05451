package decide

import (
	"fmt"
	"strings"

	"github.com/agentlab/agentlab/internal/stats"
)

// Seed Test 3, "Spawn Patterns":
//
//	├─ Persistent saves >50% time vs spawn-kill?
//	│  ├─ YES → Move to persistent architecture
//	│  └─ NO → Keep current spawn-kill
//	└─ Persistent memory stable over time?
//	   ├─ YES → Safe to use persistent agents
//	   └─ NO → Memory leak detected, fix before migrating
//
// "If persistent saves >50% time AND memory is stable → architectural shift justified".
const (
	// PersistentSavesPct: "Persistent saves >50% time vs spawn-kill?" — 100·(1 − persistent/spawn) of the mean
	// time per task, per interleaved round.
	PersistentSavesPct = 50.0
	// MaxMemoryGrowthKiBPerMin: "Persistent memory stable over time?" — a growth above 256 KiB/min (360 MiB a
	// day) is a leak (the 95 % interval of the fitted growth wholly above it → NO). YES needs the interval wholly
	// below it AND the window's detection limit at most this: a window that could not have seen such a leak
	// answers "not shown (window too short)", never "safe" (internal/stats' rule; results/README.md).
	MaxMemoryGrowthKiBPerMin = stats.GrowthThresholdBytesPerMin / 1024
)

// RuntimeSavings is one runtime's spawn-kill vs persistent comparison: the saving of every interleaved round
// (100·(1 − persistent mean / spawn mean) of that round's blocks), so rounds pair the two patterns in time.
type RuntimeSavings struct {
	Runtime  string    `json:"runtime"` // process | docker
	PerRound []float64 `json:"per_round_pct"`
}

// MemoryVerdict is one persistent pattern's stability verdict (internal/stats' rule).
type MemoryVerdict struct {
	Pattern string       `json:"pattern"`
	Trend   *stats.Trend `json:"trend"`
}

// SpawnInput is what Test 3 is decided on.
type SpawnInput struct {
	Savings []RuntimeSavings
	Memory  []MemoryVerdict
	// HostMemory is each container pattern's host memory per container (no threshold reads it): the figure a
	// Docker cost analysis ("containers per GiB") must use, MarginalHostBytesPerContainer, not the cgroup alone.
	HostMemory []ContainerHostMemory
}

// MarginalHostDefinition says how ContainerHostMemory.MarginalHostBytesPerContainer is made (results/README.md
// says the same). Private dirty pages (heap, stacks) are what one more container adds; the shim's and proxy's
// binary text is page cache shared by all of them (in PSS; in Private_Clean only while no other shim maps it), paid
// once per host.
const MarginalHostDefinition = "cgroup memory (usage − inactive_file; for a spawned container its cgroup peak) " +
	"+ containerd-shim Private_Dirty (/proc/<shim pid>/smaps_rollup) + docker-proxy Private_Dirty (published ports only) " +
	"+ max(0, daemon growth per container: dockerd + containerd PSS after − before starting N containers, ÷ N; an estimate, omitted when not measured)"

// ContainerHostMemory is what one container of a pattern costs the host, bytes, each a median over the pattern's
// Containers containers. With a remote daemon only the cgroup figure is measurable: the rest is null and
// NotMeasurable says why.
type ContainerHostMemory struct {
	Pattern    string `json:"pattern"`
	Containers int    `json:"containers"`
	// CgroupBytes is the container's own cgroup figure (what docker stats shows; a spawned container's peak).
	CgroupBytes  float64 `json:"cgroup_bytes"`
	CgroupSource string  `json:"cgroup_source"`
	// Shim*: the container's containerd-shim. PSS includes its share of pages shared with the other shims;
	// private dirty is what it alone holds (memstat.ShimMemory says why not Private_Clean). Null when not
	// measurable from here.
	ShimPSSBytes          *float64 `json:"shim_pss_bytes"`
	ShimPrivateDirtyBytes *float64 `json:"shim_private_dirty_bytes"`
	// Proxy*: the docker-proxy processes forwarding the container's published ports (0 without any). Null when not
	// measurable from here.
	ProxyPSSBytes          *float64 `json:"proxy_pss_bytes"`
	ProxyPrivateDirtyBytes *float64 `json:"proxy_private_dirty_bytes"`
	// DaemonGrowthBytes is (dockerd + containerd PSS after − before starting DaemonN containers) ÷ DaemonN: an
	// estimate (the daemon is shared; whatever else it did in between is in it); null when not measured.
	DaemonGrowthBytes *float64 `json:"daemon_growth_bytes_per_container"`
	DaemonN           int      `json:"daemon_growth_n"`
	// MarginalHostBytesPerContainer is MarginalHostDefinition's sum; null when the daemon's processes are not
	// visible from here.
	MarginalHostBytesPerContainer *float64 `json:"marginal_host_bytes_per_container"`
	Source                        string   `json:"source"`
	NotMeasurable                 string   `json:"not_measurable,omitempty"`
}

// MarginalHost is MarginalHostDefinition's sum. A negative daemon growth (its heap shrank meanwhile) counts 0.
func MarginalHost(cgroup, shimPrivateDirty, proxyPrivateDirty float64, daemonGrowth *float64) float64 {
	m := cgroup + shimPrivateDirty + proxyPrivateDirty
	if daemonGrowth != nil && *daemonGrowth > 0 {
		m += *daemonGrowth
	}
	return m
}

// SpawnDecision is Test 3 with its inputs.
type SpawnDecision struct {
	Question string `json:"question"`
	// Savings: one check per runtime measured; PersistentSaves50 combines them (every runtime must save > 50 %).
	Savings           []Check         `json:"savings"`
	PersistentSaves50 Answer          `json:"persistent_saves_over_50pct"`
	TimeAnswer        string          `json:"time_answer"`
	Memory            []MemoryVerdict `json:"memory_verdicts"`
	MemoryStable      Answer          `json:"memory_stable"`
	MemoryAnswer      string          `json:"memory_answer"`
	ShiftJustified    Answer          `json:"architectural_shift_justified"`
	Rule              string          `json:"rule"`
	// HostMemory passes SpawnInput.HostMemory on for the cost analysis (no answer depends on it).
	HostMemory []ContainerHostMemory `json:"host_memory_per_container"`
}

// Spawn answers Test 3.
func Spawn(in SpawnInput) SpawnDecision {
	d := SpawnDecision{
		Question: "Persistent saves >50% time vs spawn-kill? Persistent memory stable over time?",
		Rule: fmt.Sprintf("architectural shift justified ⇔ in every runtime measured the median per-round saving of persistent over spawn-kill is > %.0f %% (its 95 %% CI wholly above) AND every persistent pattern's memory is stable (%s)",
			PersistentSavesPct, stats.RuleText),
		Memory:     in.Memory,
		HostMemory: in.HostMemory,
	}
	var time []Answer
	for _, s := range in.Savings {
		c := threshold(fmt.Sprintf("Persistent saves >50%% time vs spawn-kill (%s)?", s.Runtime), s.PerRound,
			PersistentSavesPct, YesAbove, "%", "%.1f",
			map[Answer]string{Yes: "Move to persistent architecture", No: "Keep current spawn-kill"})
		d.Savings = append(d.Savings, c)
		time = append(time, c.Answer)
	}
	d.PersistentSaves50 = all(time...)
	switch d.PersistentSaves50 {
	case Yes:
		d.TimeAnswer = "YES → Move to persistent architecture"
	case No:
		d.TimeAnswer = "NO → Keep current spawn-kill"
	case Inconclusive:
		d.TimeAnswer = "INCONCLUSIVE (see the savings' intervals; more --rounds narrow them)"
	default:
		d.TimeAnswer = "not evaluated: needs a spawn and a persistent pattern of the same runtime"
	}

	var mem []Answer
	var growing, short, notShown, undecided []string
	for _, m := range in.Memory {
		tr := m.Trend
		switch {
		case tr == nil || tr.Verdict == stats.Insufficient:
			mem = append(mem, Inconclusive)
			short = append(short, m.Pattern)
		case tr.Verdict == stats.Stable:
			mem = append(mem, Yes)
		case tr.Verdict == stats.Growing:
			mem = append(mem, No)
			growing = append(growing, fmt.Sprintf("%s: %+.0f KiB/min, 95 %% CI %.0f–%.0f, over %.0f s", m.Pattern,
				tr.SlopeBytesMin/1024, tr.SlopeCI95[0]/1024, tr.SlopeCI95[1]/1024, tr.WindowSeconds))
		case tr.Verdict == stats.NotShown:
			mem = append(mem, Inconclusive)
			notShown = append(notShown, m.Pattern+": "+NoGrowthAbove(tr))
		default:
			mem = append(mem, Inconclusive)
			undecided = append(undecided, fmt.Sprintf("%s: %+.0f KiB/min, 95 %% CI %.0f–%.0f straddles %d", m.Pattern,
				tr.SlopeBytesMin/1024, tr.SlopeCI95[0]/1024, tr.SlopeCI95[1]/1024, MaxMemoryGrowthKiBPerMin))
		}
	}
	d.MemoryStable = all(mem...)
	switch {
	case d.MemoryStable == Yes:
		d.MemoryAnswer = fmt.Sprintf("YES → Safe to use persistent agents (no growth above %d KiB/min, and every window could have seen it)",
			MaxMemoryGrowthKiBPerMin)
	case d.MemoryStable == No:
		d.MemoryAnswer = "NO → not stable: Memory leak detected, fix before migrating (" + strings.Join(growing, "; ") + ")"
	case len(short) > 0:
		d.MemoryAnswer = "INCONCLUSIVE: too few memory samples after warm-up (" + strings.Join(short, ", ") + "; raise --iterations)"
	case len(notShown) > 0:
		d.MemoryAnswer = fmt.Sprintf("NOT SHOWN (window too short): %s; safe needs a detection limit ≤ %d KiB/min (a longer window: --soak 10m)",
			strings.Join(notShown, "; "), MaxMemoryGrowthKiBPerMin)
	case d.MemoryStable == Inconclusive:
		d.MemoryAnswer = "INCONCLUSIVE: " + strings.Join(undecided, "; ")
	default:
		d.MemoryAnswer = "not evaluated: no persistent pattern measured"
	}
	d.ShiftJustified = all(d.PersistentSaves50, d.MemoryStable)
	return d
}

// NoGrowthAbove is what a window that did not see a leak can say: "no growth above L KiB/min within N s".
func NoGrowthAbove(tr *stats.Trend) string {
	if tr.DetectionLimitMin < 0 {
		return fmt.Sprintf("no detection limit (too few independent samples in %.1f s)", tr.WindowSeconds)
	}
	return fmt.Sprintf("no growth above %.0f KiB/min within %.1f s (fitted %+.0f KiB/min)", tr.DetectionLimitMin/1024,
		tr.WindowSeconds, tr.SlopeBytesMin/1024)
}
