package loadgen

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// cpuTime is this process's user and system CPU seconds so far (getrusage RUSAGE_SELF).
func cpuTime() (user, sys float64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return tv(ru.Utime), tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// ioSyscalls is this process's read and write syscalls so far (syscr and syscw of /proc/self/io: every read- and
// write-family call, sockets included); ok is false where the file cannot be read.
func ioSyscalls() (reads, writes int64, ok bool) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, 0, false
	}
	var nr, nw bool
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, found := bytes.Cut(line, []byte(": "))
		if !found {
			continue
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		if err != nil {
			continue
		}
		switch string(k) {
		case "syscr":
			reads, nr = n, true
		case "syscw":
			writes, nw = n, true
		}
	}
	return reads, writes, nr && nw
}
