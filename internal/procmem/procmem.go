// Package procmem reads process and host memory from /proc.
package procmem

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
)

// RSS returns the resident set size of pid in bytes (source: /proc/<pid>/status VmRSS).
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return field(b, "VmRSS:")
}

// Memory is one process's memory from /proc/<pid>/smaps_rollup, in bytes.
type Memory struct {
	// RSS counts every resident page the process maps, shared ones in full (summed over N processes that share a
	// binary's text, it counts that text N times).
	RSS int64 `json:"rss_bytes"`
	// PSS divides each resident page among the processes mapping it: summed over processes it is what they
	// cost together.
	PSS int64 `json:"pss_bytes"`
	// Private is private clean + dirty: what ending the process would free.
	Private int64 `json:"private_bytes"`
}

// Rollup reads pid's /proc/<pid>/smaps_rollup (procfs sums /proc/<pid>/smaps on kernels before 4.15).
func Rollup(pid int) (Memory, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return Memory{}, err
	}
	r, err := p.ProcSMapsRollup()
	if err != nil {
		return Memory{}, fmt.Errorf("pid %d smaps_rollup: %w", pid, err)
	}
	return Memory{RSS: int64(r.Rss), PSS: int64(r.Pss), Private: int64(r.PrivateClean + r.PrivateDirty)}, nil
}

// PSS returns pid's proportional set size in bytes (source: /proc/<pid>/smaps_rollup Pss).
func PSS(pid int) (int64, error) {
	m, err := Rollup(pid)
	return m.PSS, err
}

// SelfPeak returns this process's own peak RSS in bytes (source: /proc/self/status VmHWM). Unlike getrusage's
// ru_maxrss as seen by a parent, it belongs to this process's mm: a child started with CLONE_VM|CLONE_VFORK (Go's
// os/exec) inherits its parent's high-water mark into ru_maxrss at exec, not into VmHWM.
func SelfPeak() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	return field(b, "VmHWM:")
}

// OwnCgroupPeak returns the peak memory of the memory cgroup mounted at /sys/fs/cgroup as a container sees it
// (v2 memory.peak, kernel ≥ 5.19; v1 memory/memory.max_usage_in_bytes) and names the file. It is the caller's own
// cgroup only inside a container, where the runtime mounts the container's cgroup there: call it from a
// container's init process (pid 1), never on a host, where it would be the root cgroup's.
func OwnCgroupPeak() (int64, string, error) {
	for _, f := range []string{"/sys/fs/cgroup/memory.peak", "/sys/fs/cgroup/memory/memory.max_usage_in_bytes"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
		if err != nil {
			return 0, "", fmt.Errorf("%s: %w", f, err)
		}
		return v, "cgroup " + f[strings.LastIndexByte(f, '/')+1:], nil
	}
	return 0, "", errors.New("no memory.peak or memory.max_usage_in_bytes under /sys/fs/cgroup")
}

// HostUsed returns MemTotal − MemAvailable in bytes (source: /proc/meminfo): what the host has committed.
func HostUsed() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	total, err := field(b, "MemTotal:")
	if err != nil {
		return 0, err
	}
	avail, err := field(b, "MemAvailable:")
	if err != nil {
		return 0, err
	}
	return total - avail, nil
}

// field finds "Name:   123 kB" in a /proc file and returns it in bytes.
func field(b []byte, name string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte(name)) {
			continue
		}
		f := bytes.Fields(line[len(name):])
		if len(f) == 0 {
			break
		}
		v, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		if len(f) > 1 && string(f[1]) == "kB" {
			v *= 1024
		}
		return v, nil
	}
	return 0, fmt.Errorf("%s not found", name)
}
