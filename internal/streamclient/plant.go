package streamclient

import (
	"crypto/sha256"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Planted fault (Config.PlantBurn, --plant-burn-us): a test knob for the lab's calibration, never tuning. Every text
// delta then costs the client that much more CPU, so Test 4's answer can be shown to move band (README "How we know
// the verdicts are right"). Off by default.

// Burn spends d of the calling thread's CPU time on real work (SHA-256 over a small block), not sleep: the cost
// shows in getrusage like any decoding work would, and on a busy machine it takes longer in wall time, as real
// work does. It returns a byte of the result so the work cannot be optimised away.
func Burn(d time.Duration) byte {
	if d <= 0 {
		return 0
	}
	// The thread's CPU clock is the measure, so the goroutine must stay on one thread while it burns.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var block [64]byte
	start, ok := threadCPU()
	if !ok {
		// No thread CPU clock: burn by wall time (the same CPU on an idle core, less on a busy one).
		return burnWall(d, block)
	}
	for {
		for range 16 { // a few µs of hashing between clock reads
			s := sha256.Sum256(block[:])
			copy(block[:], s[:])
		}
		if now, _ := threadCPU(); time.Duration(now-start) >= d {
			return block[0]
		}
	}
}

func burnWall(d time.Duration, block [64]byte) byte {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		s := sha256.Sum256(block[:])
		copy(block[:], s[:])
	}
	return block[0]
}

// threadCPU is the calling thread's CPU time (user + system), ns.
func threadCPU() (int64, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return ts.Nano(), true
}
