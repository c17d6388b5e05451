package memstat

import (
	"fmt"
	"slices"

	"github.com/prometheus/procfs"
)

// CPUTimes are cumulative times of a set of CPUs, in seconds: Busy is user+nice+system+irq+softirq+steal (irq and
// softirq included: the kernel's network processing is charged to no process), Total adds idle and iowait.
type CPUTimes struct{ Busy, Total float64 }

// BusyFraction is how busy the CPUs were between readings a and b (0 when no time passed).
func BusyFraction(a, b CPUTimes) float64 {
	if b.Total <= a.Total {
		return 0
	}
	return (b.Busy - a.Busy) / (b.Total - a.Total)
}

// CPUSetBusy reads how busy a set of the daemon host's CPUs (a cpuset) has been. Only a local daemon's CPUs are
// this host's /proc/stat; the Engine API has no host-wide per-CPU figure (cpu_stats.cpu_usage.percpu_usage is the
// container's own time, and cgroup v2 daemons omit it), so for a remote daemon the reader says "not measurable
// remotely" and Read returns ok=false.
type CPUSetBusy struct {
	cpus []int
	fs   procfs.FS
	err  error // why not measurable
}

// NewCPUSetBusy returns a reader of cpus on the daemon's host.
func NewCPUSetBusy(loc Locality, cpus []int) *CPUSetBusy {
	c := &CPUSetBusy{cpus: slices.Clone(cpus)}
	if !loc.Local {
		c.err = fmt.Errorf("per-CPU busy time not measurable remotely (%s): %w", loc.Reason, ErrNotLocal)
		return c
	}
	c.fs, c.err = procfs.NewFS(loc.procRoot())
	return c
}

// Source names the figure, or says why there is none.
func (c *CPUSetBusy) Source() string {
	if c.err != nil {
		return c.err.Error()
	}
	return "host /proc/stat per-CPU times (user+nice+system+irq+softirq+steal of total)"
}

// Read returns the CPUs' cumulative times; ok is false when they are not measurable or a CPU of the set is missing.
func (c *CPUSetBusy) Read() (CPUTimes, bool) {
	if c.err != nil || len(c.cpus) == 0 {
		return CPUTimes{}, false
	}
	localReads.Add(1)
	st, err := c.fs.Stat()
	if err != nil {
		return CPUTimes{}, false
	}
	return cpuTimes(st.CPU, c.cpus)
}

func cpuTimes(per map[int64]procfs.CPUStat, cpus []int) (CPUTimes, bool) {
	var ct CPUTimes
	for _, n := range cpus {
		v, ok := per[int64(n)]
		if !ok {
			return CPUTimes{}, false
		}
		busy := v.User + v.Nice + v.System + v.IRQ + v.SoftIRQ + v.Steal
		ct.Busy += busy
		ct.Total += busy + v.Idle + v.Iowait
	}
	return ct, true
}
