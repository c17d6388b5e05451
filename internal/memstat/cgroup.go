package memstat

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/prometheus/procfs"
)

// Cgroup reads the containers' cgroup files directly: instant, but only where the daemon's containers are
// visible (see Locality). Each container's directories come from /proc/<pid>/cgroup of its init process (v1: the
// memory and cpuacct controllers' paths, v2: the unified path), not from an assumed layout, and are remembered;
// a pid whose cgroup lines do not name the container (another PID namespace) is an error, never a reading.
type Cgroup struct {
	proc, root string
	now        func() time.Time
	pidOf      func(ctx context.Context, id string) (int, error)

	mu      sync.Mutex
	dirs    map[string]cgroupDirs
	missing map[string]error // scanPID: containers not found here
}

// NewCgroupFor returns the cgroup source for a local daemon; for a remote one it returns ErrNotLocal, so a remote
// daemon is never measured with this host's files. Init PIDs come from ContainerInspect on cli.
func NewCgroupFor(loc Locality, cli client.APIClient, now func() time.Time) (*Cgroup, error) {
	if !loc.Local {
		return nil, fmt.Errorf("cgroup source: %w (%s)", ErrNotLocal, loc.Reason)
	}
	return newCgroup(loc.procRoot(), loc.cgroupRoot(), now, inspectPID(cli)), nil
}

// NewCgroup returns a cgroup source on this host's hierarchy mounted at root ("" = /sys/fs/cgroup) that finds a
// container's init process by scanning /proc for a process whose cgroup lines name the container (once per
// container). Deprecated: it cannot tell a remote daemon from a missing container without reading this host's
// /proc; use NewCgroupFor with a Locality.
func NewCgroup(root string, now func() time.Time) *Cgroup {
	c := newCgroup(DefaultProcRoot, root, now, nil)
	if h := os.Getenv("DOCKER_HOST"); h != "" && !isLocalDaemon(h) {
		// The one remote case it can tell without a client: read nothing of this host.
		c.pidOf = func(context.Context, string) (int, error) {
			return 0, fmt.Errorf("%w (DOCKER_HOST=%s)", ErrNotLocal, h)
		}
	}
	return c
}

func newCgroup(proc, root string, now func() time.Time, pidOf func(context.Context, string) (int, error)) *Cgroup {
	if root == "" {
		root = DefaultCgroupRoot
	}
	if proc == "" {
		proc = DefaultProcRoot
	}
	if now == nil {
		now = time.Now
	}
	c := &Cgroup{proc: proc, root: root, now: now, pidOf: pidOf, dirs: map[string]cgroupDirs{}}
	if c.pidOf == nil {
		c.pidOf = c.scanPID
	}
	return c
}

func inspectPID(cli client.APIClient) func(context.Context, string) (int, error) {
	return func(ctx context.Context, id string) (int, error) {
		_, pid, err := initPID(ctx, cli, id)
		return pid, err
	}
}

// scanPID finds a process here whose cgroup lines name container id. A container not found is remembered, so
// each is scanned for once.
func (c *Cgroup) scanPID(ctx context.Context, id string) (int, error) {
	c.mu.Lock()
	if c.missing == nil {
		c.missing = map[string]error{}
	}
	err, ok := c.missing[id]
	c.mu.Unlock()
	if ok {
		return 0, err
	}
	pid, err := c.scan(id)
	if err != nil {
		c.mu.Lock()
		c.missing[id] = err
		c.mu.Unlock()
	}
	return pid, err
}

func (c *Cgroup) scan(id string) (int, error) {
	localReads.Add(1)
	fs, err := procfs.NewFS(c.proc)
	if err != nil {
		return 0, err
	}
	procs, err := fs.AllProcs()
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		cgs, err := p.Cgroups()
		if err != nil {
			continue
		}
		for _, cg := range cgs {
			if strings.Contains(cg.Path, id) {
				return p.PID, nil
			}
		}
	}
	return 0, fmt.Errorf("no process in %s is in a cgroup naming %s (not a local daemon, or the container is gone)", c.proc, short(id))
}

// Name implements Source.
func (c *Cgroup) Name() string { return SourceCgroup }

// Sample implements Source.
func (c *Cgroup) Sample(ctx context.Context, ids []string) ([]Sample, error) {
	var out []Sample
	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		s, err := c.one(ctx, id)
		if err != nil {
			errs = append(errs, fmt.Errorf("cgroup %.12s: %w", id, err))
			continue
		}
		s.ContainerID = id
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

// dirsOf returns (and remembers) container id's cgroup directories.
func (c *Cgroup) dirsOf(ctx context.Context, id string) (cgroupDirs, error) {
	c.mu.Lock()
	d, ok := c.dirs[id]
	c.mu.Unlock()
	if ok {
		return d, nil
	}
	pid, err := c.pidOf(ctx, id)
	if err != nil {
		return cgroupDirs{}, err
	}
	if d, err = cgroupDirsOf(c.proc, c.root, pid, id); err != nil {
		return cgroupDirs{}, err
	}
	c.mu.Lock()
	c.dirs[id] = d
	c.mu.Unlock()
	return d, nil
}

// forget drops a container's remembered directories (it is gone).
func (c *Cgroup) forget(id string) {
	c.mu.Lock()
	delete(c.dirs, id)
	c.mu.Unlock()
}

func (c *Cgroup) one(ctx context.Context, id string) (Sample, error) {
	d, err := c.dirsOf(ctx, id)
	if err != nil {
		return Sample{}, err
	}
	var s Sample
	if d.v2 {
		s, err = readCgroupV2(d.mem, c.now)
	} else {
		s, err = readCgroupV1(d.mem, d.cpu, c.now)
	}
	if errors.Is(err, os.ErrNotExist) {
		c.forget(id)
		return Sample{}, fmt.Errorf("cgroup directory %s gone (the container exited): %w", d.mem, err)
	}
	return s, err
}

// peak reads the cgroup's high-water mark: v1 memory.max_usage_in_bytes, v2 memory.peak (kernel ≥ 5.19).
func (c *Cgroup) peak(ctx context.Context, id string) (uint64, string, error) {
	d, err := c.dirsOf(ctx, id)
	if err != nil {
		return 0, "", err
	}
	f := filepath.Join(d.mem, "memory.max_usage_in_bytes")
	if d.v2 {
		f = filepath.Join(d.mem, "memory.peak")
	}
	v, err := readUint(f)
	if err != nil {
		c.forget(id)
		return 0, "", err
	}
	return v, "cgroup " + filepath.Base(f), nil
}

// readCgroupV1 reads memory.usage_in_bytes + memory.stat from mem and cpuacct.usage from cpu.
func readCgroupV1(mem, cpu string, now func() time.Time) (Sample, error) {
	s := Sample{Source: SourceCgroup, Time: now()}
	var err error
	if s.UsageBytes, err = readUint(filepath.Join(mem, "memory.usage_in_bytes")); err != nil {
		return Sample{}, err
	}
	stat, err := readStatFile(filepath.Join(mem, "memory.stat"))
	if err != nil {
		return Sample{}, err
	}
	s.memoryFromStat(stat)
	s.memoryFigures()
	if s.CPUUsageNs, err = readUint(filepath.Join(cpu, "cpuacct.usage")); err != nil {
		return Sample{}, err
	}
	return s, nil
}

// readCgroupV2 reads memory.current, memory.stat and cpu.stat (usage_usec) from dir.
func readCgroupV2(dir string, now func() time.Time) (Sample, error) {
	s := Sample{Source: SourceCgroup, Time: now()}
	var err error
	if s.UsageBytes, err = readUint(filepath.Join(dir, "memory.current")); err != nil {
		return Sample{}, err
	}
	stat, err := readStatFile(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return Sample{}, err
	}
	s.memoryFromStat(stat)
	s.memoryFigures()
	cpu, err := readStatFile(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return Sample{}, err
	}
	s.CPUUsageNs = cpu["usage_usec"] * 1000
	return s, nil
}

func readUint(path string) (uint64, error) {
	b, err := readLocal(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

func readStatFile(path string) (map[string]uint64, error) {
	b, err := readLocal(path)
	if err != nil {
		return nil, err
	}
	m, err := parseStat(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// parseStat parses "key value" lines (memory.stat, cpu.stat).
func parseStat(b []byte) (map[string]uint64, error) {
	m := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not \"key value\"", n, line)
		}
		u, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		m[k] = u
	}
	return m, sc.Err()
}
