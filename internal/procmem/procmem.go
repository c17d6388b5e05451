// Package procmem reads process and host memory from /proc.
package procmem

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// RSS returns the resident set size of pid in bytes (source: /proc/<pid>/status VmRSS).
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return field(b, "VmRSS:")
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
