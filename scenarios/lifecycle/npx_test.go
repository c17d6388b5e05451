package lifecycle

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentlab/agentlab/internal/agent"
	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/runtimes"
)

// spawn-npx runs the Node.js agent through `npx --no-install <local package>` (offline) and checks its digest; a
// task cancelled mid-way leaves no process behind: npx starts the agent through `sh -c`, so the pattern kills the
// whole process group (killing npx alone would orphan the agent, which would hash on for seconds).
func TestSpawnNpx(t *testing.T) {
	if testing.Short() {
		t.Skip("starts npx and node (skipped with -short)")
	}
	npx, err := exec.LookPath("npx")
	if err != nil {
		t.Skip("npx not on PATH (Debian package npm)")
	}
	node, _ := runtimes.ByName("node")
	if _, err := node.Interpreter(); errors.Is(err, runtimes.ErrMissing) {
		t.Skipf("%v", err)
	}
	wd, _ := os.Getwd()
	root, err := images.FindRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	p := &spawnProcess{argv: []string{npx, "--no-install", filepath.Join(root, "agents", "node")}, lang: "node", npx: true}
	if p.info().Name != "spawn-npx" || p.info().Via != "npx" {
		t.Errorf("info %+v", p.info())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tk := agent.Task{ID: 1<<60 + 7, KiB: 16, Seed: 1<<63 + 5}
	res, err := p.do(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Check(tk, res); err != nil {
		t.Fatal(err)
	}

	// A task of 1 GiB (tens of seconds of hashing) cancelled after its agent started.
	marker := uint64(time.Now().UnixNano())
	big := agent.Task{ID: marker, KiB: agent.MaxKiB, Seed: 3}
	cctx, ccancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := p.do(cctx, big)
		done <- err
	}()
	deadline := time.Now().Add(90 * time.Second)
	for len(withMarker(marker)) == 0 || !agentRunning(marker) {
		if time.Now().After(deadline) {
			ccancel()
			t.Fatal("the agent never started")
		}
		time.Sleep(50 * time.Millisecond) // polling /proc for the agent
	}
	ccancel()
	cancelled := time.Now()
	if err := <-done; err == nil {
		t.Fatal("a cancelled task succeeded")
	}
	// An orphaned agent would hold the task's stdout open: the task would end only when it finished hashing.
	if d := time.Since(cancelled); d > 5*time.Second {
		t.Errorf("the cancelled task took %v to return: its agent outlived npx", d)
	}
	deadline = time.Now().Add(5 * time.Second)
	for len(withMarker(marker)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("processes left after cancelling: %v", withMarker(marker))
		}
		time.Sleep(20 * time.Millisecond) // a killed process leaves /proc when reaped
	}
}

// withMarker lists the live (not zombie) processes whose command line holds marker.
func withMarker(marker uint64) []string {
	var out []string
	ds, _ := os.ReadDir("/proc")
	m := strconv.FormatUint(marker, 10)
	for _, d := range ds {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(b), m) {
			continue
		}
		st, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if f := strings.Fields(string(st)); len(f) > 2 && f[2] == "Z" {
			continue
		}
		out = append(out, d.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
	}
	return out
}

// agentRunning: the node agent itself (not only npx) holds the marker.
func agentRunning(marker uint64) bool {
	for _, p := range withMarker(marker) {
		if strings.Contains(p, "agent.js") || strings.Contains(p, "agentlab-agent") {
			return true
		}
	}
	return false
}
