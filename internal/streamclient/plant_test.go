package streamclient

import (
	"io"
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/agentlab/agentlab/internal/mockllm"
)

func threadRusage(t *testing.T) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Burn is CPU work, not sleep: getrusage charges the thread at least what was planted.
func TestBurnCostsCPUTime(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadRusage(t)
	for range 5 {
		Burn(20 * time.Millisecond)
	}
	// getrusage ticks coarser than the thread clock Burn reads: allow one tick (≤ 4 ms) of rounding per call.
	if got := threadRusage(t) - before; got < 80*time.Millisecond {
		t.Errorf("5 × Burn(20ms) cost %v of thread CPU (getrusage), want ≥ 100ms less rounding", got)
	}
	before = threadRusage(t)
	Burn(0)
	if got := threadRusage(t) - before; got > 5*time.Millisecond {
		t.Errorf("Burn(0) cost %v", got)
	}
}

// The planted burn reaches the figure Test 4 decides on: the client's own per-token CPU.
func TestPlantBurnRaisesPerTokenCPU(t *testing.T) {
	srv, _ := mock(t, mockllm.Config{})
	cfg := Config{URL: srv.URL, Mode: ModeLean, Concurrent: 1, Rounds: 1, Tokens: 20, TokenBytes: 4, Timeout: time.Minute,
		Model: "mock-model", PlantBurn: 2 * time.Millisecond}
	parsed, err := ParseArgs(cfg.Args(), io.Discard)
	if err != nil || parsed.PlantBurn != cfg.PlantBurn || !slices.Contains(cfg.Args(), "--plant-burn-us") {
		t.Fatalf("Args/ParseArgs round trip: %+v, %v", parsed, err)
	}
	for _, mode := range []string{ModeLean, ModeSDK} {
		cfg.Mode = mode
		res := run(t, cfg)
		if res.Tokens != 20 || len(res.PerTokenCPUMS) != 1 || res.PerTokenCPUMS[0] < 1.9 {
			t.Errorf("%s with 2 ms burned per token: tokens %d, per-token CPU %v ms; want ≥ 2 (less clock rounding)", mode,
				res.Tokens, res.PerTokenCPUMS)
		}
	}
	t.Setenv(EnvPlantBurnUS, "6000")
	if c, err := ParseArgs(nil, io.Discard); err != nil || c.PlantBurn != 6*time.Millisecond {
		t.Errorf("%s=6000: %v %v", EnvPlantBurnUS, c.PlantBurn, err)
	}
	if _, err := ParseArgs([]string{"--plant-burn-us", "-5"}, io.Discard); err == nil {
		t.Error("negative --plant-burn-us accepted")
	}
}
