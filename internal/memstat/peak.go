package memstat

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/prometheus/procfs"
)

// ContainerPeak returns a running container's peak memory in bytes since it started and names the source: for a
// local daemon its own cgroup's high-water mark (v1 memory.max_usage_in_bytes, v2 memory.peak) — one inspect for
// the init pid, then two small file reads; for a remote daemon the Engine API's stats memory_stats.max_usage
// (cgroup v1 daemons only). An exited container has no figure (ErrNotMeasurable): runc removes its cgroup when it
// exits — the directory is gone by the time ContainerWait returns — and the stats API answers a stopped
// container with an empty record; a one-shot container's peak must come from inside it (the agent reports its
// cgroup's peak in its reply).
func ContainerPeak(ctx context.Context, loc Locality, cli client.APIClient, id string) (int64, string, error) {
	if loc.Local {
		c, err := NewCgroupFor(loc, cli, nil)
		if err != nil {
			return 0, "", err
		}
		v, src, err := c.peak(ctx, id)
		if err != nil {
			return 0, "", fmt.Errorf("peak of %s: %w: %v", short(id), ErrNotMeasurable, err)
		}
		return int64(v), src, nil
	}
	res, err := cli.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: false})
	if err != nil {
		return 0, "", fmt.Errorf("peak of %s: docker stats: %w", short(id), err)
	}
	defer res.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return 0, "", fmt.Errorf("peak of %s: docker stats: decode: %w", short(id), err)
	}
	if st.Read.Year() < 2000 || st.MemoryStats.MaxUsage == 0 {
		return 0, "", fmt.Errorf("peak of %s: %w: docker stats has no memory_stats.max_usage (stopped container, or a cgroup v2 daemon)",
			short(id), ErrNotMeasurable)
	}
	return int64(st.MemoryStats.MaxUsage), "docker stats memory_stats.max_usage", nil
}

// ShimMemory is the host memory of one container's containerd-shim, from /proc/<pid>/smaps_rollup, in bytes.
// PSS shares each page among the processes mapping it (so N shims' PSS add up to what they cost together);
// Private (clean + dirty) is the pages only this shim maps now; RSS counts shared text in full. PrivateDirty is
// what this shim alone holds whatever else runs (heap, stacks): Private_Clean is mostly the shim binary's text,
// private only while no other shim maps it (here 0 with other shims up, 9.3 MiB for the same shim alone), and
// page cache a next shim shares — so the marginal cost of one more container counts PrivateDirty.
type ShimMemory struct {
	PID               int   `json:"pid"`
	PSSBytes          int64 `json:"pss_bytes"`
	PrivateBytes      int64 `json:"private_bytes"`
	PrivateDirtyBytes int64 `json:"private_dirty_bytes"`
	RSSBytes          int64 `json:"rss_bytes"`
}

// ShimOverhead finds container id's containerd-shim — the parent of its init process, checked by its command
// line naming the container ("-id <id>"), else any process here whose command line does — and reads its memory.
// A remote daemon's shim is not measurable from here (ErrNotLocal).
func ShimOverhead(ctx context.Context, loc Locality, cli client.APIClient, id string) (ShimMemory, error) {
	if !loc.Local {
		return ShimMemory{}, fmt.Errorf("shim of %s: %w (%s)", short(id), ErrNotLocal, loc.Reason)
	}
	full, pid, err := initPID(ctx, cli, id)
	if err != nil {
		return ShimMemory{}, fmt.Errorf("shim of %s: %w", short(id), err)
	}
	fs, err := procfs.NewFS(loc.procRoot())
	if err != nil {
		return ShimMemory{}, err
	}
	shim, err := findShim(fs, pid, full)
	if err != nil {
		return ShimMemory{}, fmt.Errorf("shim of %s: %w", short(id), err)
	}
	r, err := shim.ProcSMapsRollup()
	if err != nil {
		return ShimMemory{}, fmt.Errorf("shim of %s: pid %d smaps_rollup: %w", short(id), shim.PID, err)
	}
	return ShimMemory{PID: shim.PID, PSSBytes: int64(r.Pss), PrivateBytes: int64(r.PrivateClean + r.PrivateDirty),
		PrivateDirtyBytes: int64(r.PrivateDirty),
		RSSBytes:          int64(r.Rss)}, nil
}

func findShim(fs procfs.FS, initPID int, id string) (procfs.Proc, error) {
	if p, err := fs.Proc(initPID); err == nil {
		if st, err := p.Stat(); err == nil {
			if parent, err := fs.Proc(st.PPID); err == nil && isShimOf(parent, id) {
				return parent, nil
			}
		}
	}
	procs, err := fs.AllProcs()
	if err != nil {
		return procfs.Proc{}, err
	}
	for _, p := range procs {
		if isShimOf(p, id) {
			return p, nil
		}
	}
	return procfs.Proc{}, fmt.Errorf("no containerd-shim with -id %s here", short(id))
}

func isShimOf(p procfs.Proc, id string) bool {
	args, err := p.CmdLine()
	if err != nil || len(args) == 0 || !strings.Contains(args[0], "containerd-shim") {
		return false
	}
	i := slices.Index(args, "-id")
	return i >= 0 && i+1 < len(args) && args[i+1] == id
}

// ProcessPSS returns the summed PSS of this host's processes whose command name (comm) is one of names, whichever
// daemon they belong to (DaemonPSS reads one daemon's). A process that exits mid-read is left out. Local only.
func ProcessPSS(loc Locality, names ...string) (int64, error) {
	if !loc.Local {
		return 0, ErrNotLocal
	}
	fs, err := procfs.NewFS(loc.procRoot())
	if err != nil {
		return 0, err
	}
	procs, err := fs.AllProcs()
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, p := range procs {
		comm, err := p.Comm()
		if err != nil || !slices.Contains(names, comm) {
			continue
		}
		pss, err := procPSS(fs, p.PID)
		if err != nil {
			return 0, err
		}
		sum += pss
	}
	return sum, nil
}
