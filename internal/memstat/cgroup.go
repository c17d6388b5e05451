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
	"time"
)

// Cgroup reads the containers' cgroup files directly: instant, but only where the daemon's cgroup tree is visible
// (the lab runs on the Docker host). It knows the cgroupfs layouts of both versions — v1
// <root>/memory/docker/<id>/ + <root>/cpuacct/docker/<id>/, v2 <root>/docker/<id>/ — and systemd's
// system.slice/docker-<id>.scope; a container found in none of them is an error (e.g. a remote daemon).
type Cgroup struct {
	root string
	now  func() time.Time
}

// NewCgroup returns a source reading the hierarchy mounted at root ("" = /sys/fs/cgroup), timestamping samples
// with now (nil = time.Now).
func NewCgroup(root string, now func() time.Time) *Cgroup {
	if root == "" {
		root = "/sys/fs/cgroup"
	}
	if now == nil {
		now = time.Now
	}
	return &Cgroup{root: root, now: now}
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
		s, err := c.one(id)
		if err != nil {
			errs = append(errs, fmt.Errorf("cgroup %.12s: %w", id, err))
			continue
		}
		s.ContainerID = id
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

func (c *Cgroup) one(id string) (Sample, error) {
	for _, d := range []string{filepath.Join(c.root, "docker", id), filepath.Join(c.root, "system.slice", "docker-"+id+".scope")} {
		if _, err := os.Stat(filepath.Join(d, "memory.current")); err == nil {
			return readCgroupV2(d, c.now)
		}
	}
	for _, rel := range []string{filepath.Join("docker", id), filepath.Join("system.slice", "docker-"+id+".scope")} {
		mem := filepath.Join(c.root, "memory", rel)
		if _, err := os.Stat(filepath.Join(mem, "memory.usage_in_bytes")); err == nil {
			cpu := filepath.Join(c.root, "cpuacct", rel)
			if _, err := os.Stat(cpu); err != nil {
				cpu = filepath.Join(c.root, "cpu,cpuacct", rel)
			}
			return readCgroupV1(mem, cpu, c.now)
		}
	}
	return Sample{}, fmt.Errorf("no cgroup directory under %s (not a local daemon, or the container is gone)", c.root)
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
	b, err := os.ReadFile(path)
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
	b, err := os.ReadFile(path)
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
