//go:build !linux

package loadgen

// cpuTime is not measured off Linux (the generator runs in Linux containers).
func cpuTime() (user, sys float64) { return 0, 0 }

// ioSyscalls is not measured off Linux.
func ioSyscalls() (reads, writes int64, ok bool) { return 0, 0, false }
