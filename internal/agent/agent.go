// Package agent is the unit of agent work every lifecycle scenario runs, the persistent agent's server, and the
// lab's client for it. A task is parsed from JSON, hashes KiB kibibytes of deterministic data with SHA-256 and is
// answered in JSON, so the lab can verify every reply.
package agent

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MaxKiB bounds a task's size so a bad task cannot exhaust an agent's memory.
const MaxKiB = 1 << 20

// ErrBadTask is returned for a task that does not parse or is out of range.
var ErrBadTask = errors.New("bad task")

// Task is one fixed unit of agent work.
type Task struct {
	ID   uint64 `json:"id"`
	KiB  int    `json:"kib"`  // data to hash, KiB
	Seed uint64 `json:"seed"` // selects the data, so replies can't be cached
}

// Result is an agent's reply to a Task.
type Result struct {
	ID     uint64 `json:"id"`
	SHA256 string `json:"sha256"`  // hex digest of the task's data
	Bytes  int    `json:"bytes"`   // bytes hashed
	WorkNS int64  `json:"work_ns"` // time spent on the task inside the agent, ns
	Error  string `json:"error,omitempty"`

	// PeakRSSBytes is the agent process's own peak RSS (/proc/self/status VmHWM), reported by `agent once` only:
	// unlike a parent's getrusage ru_maxrss it cannot include the parent's memory (Go's os/exec starts children
	// with CLONE_VFORK, and the kernel folds the parent's high-water mark into the child's ru_maxrss at exec).
	PeakRSSBytes int64 `json:"peak_rss_bytes,omitempty"`
	// CgroupPeakBytes is the peak of the agent's own memory cgroup (v1 memory.max_usage_in_bytes, v2
	// memory.peak, named by CgroupPeakSource), reported by `agent once` when it is a container's init process
	// (pid 1): read just before replying, because runc removes the cgroup when the container exits.
	CgroupPeakBytes  int64  `json:"cgroup_peak_bytes,omitempty"`
	CgroupPeakSource string `json:"cgroup_peak_source,omitempty"`
}

// ParseTask decodes and validates a JSON task; defKiB applies when the task names no size.
func ParseTask(b []byte, defKiB int) (Task, error) {
	var t Task
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("%w: %v", ErrBadTask, err)
	}
	if t.KiB == 0 {
		t.KiB = defKiB
	}
	if t.KiB < 0 || t.KiB > MaxKiB {
		return t, fmt.Errorf("%w: kib %d out of range 0..%d", ErrBadTask, t.KiB, MaxKiB)
	}
	return t, nil
}

// Do performs the task.
func Do(t Task) Result {
	start := time.Now()
	sum := Digest(t)
	return Result{ID: t.ID, SHA256: sum, Bytes: t.KiB * 1024, WorkNS: time.Since(start).Nanoseconds()}
}

// Digest is the expected SHA-256 of the task's data: data is a xorshift64 stream seeded by Seed, generated 1 KiB
// at a time so the agent's memory does not grow with the task size.
func Digest(t Task) string {
	h := sha256.New()
	var block [1024]byte
	x := t.Seed*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019 // xorshift must not start at 0; distinct seeds stay distinct
	if x == 0 {
		x = 1
	}
	for i := 0; i < t.KiB; i++ {
		for j := 0; j < len(block); j += 8 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			binary.LittleEndian.PutUint64(block[j:], x)
		}
		h.Write(block[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Check verifies r answers t.
func Check(t Task, r Result) error {
	if r.Error != "" {
		return fmt.Errorf("agent error: %s", r.Error)
	}
	if r.ID != t.ID || r.Bytes != t.KiB*1024 || r.SHA256 != Digest(t) {
		return fmt.Errorf("wrong result for task %d: %+v", t.ID, r)
	}
	return nil
}
