package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A parent holding a large ballast must not change the spawned agent's reported peak: VmHWM belongs to the child's
// own mm, whereas the ru_maxrss a Go parent gets for the child carries the parent's high-water mark (CLONE_VFORK).
func TestSpawnedPeakIgnoresParentBallast(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent binary (skipped with -short)")
	}
	bin := filepath.Join(t.TempDir(), "agent")
	build := exec.Command("go", "build", "-o", bin, "github.com/agentlab/agentlab/cmd/agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := func() (Result, int64) {
		t.Helper()
		cmd := exec.Command(bin, "once", "--task", `{"id":1,"kib":64,"seed":7}`)
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		var r Result
		if err := json.Unmarshal(out.Bytes(), &r); err != nil || Check(Task{ID: 1, KiB: 64, Seed: 7}, r) != nil {
			t.Fatalf("reply %q: %v", out.String(), err)
		}
		return r, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
	}
	before, ruBefore := run()

	const ballast = 200 << 20
	buf := make([]byte, ballast)
	for i := 0; i < len(buf); i += os.Getpagesize() {
		buf[i] = 1
	}
	after, ruAfter := run()
	runtime.KeepAlive(buf)

	t.Logf("agent VmHWM %.1f MiB without ballast, %.1f MiB with %d MiB ballast in the parent; ru_maxrss %.1f → %.1f MiB",
		mb(before.PeakRSSBytes), mb(after.PeakRSSBytes), ballast>>20, mb(ruBefore), mb(ruAfter))
	if before.PeakRSSBytes <= 0 || after.PeakRSSBytes <= 0 {
		t.Fatalf("no peak_rss_bytes: %+v %+v", before, after)
	}
	// The agent needs a few MiB; a figure near the ballast is the parent's.
	if after.PeakRSSBytes > ballast/4 || after.PeakRSSBytes > 2*before.PeakRSSBytes+(4<<20) {
		t.Errorf("peak with ballast %.1f MiB vs %.1f without: the parent leaked into it", mb(after.PeakRSSBytes), mb(before.PeakRSSBytes))
	}
	if after.CgroupPeakBytes != 0 {
		t.Errorf("a host process reported a cgroup peak (%d): only a container's init may", after.CgroupPeakBytes)
	}
}

// The agent's reported peak agrees with what GNU time (which forks, so nothing of the caller leaks into it) reports
// for the same binary and task: within 20 %, issue 16's bar.
func TestSpawnedPeakMatchesGNUTime(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent binary (skipped with -short)")
	}
	gnuTime, err := exec.LookPath("/usr/bin/time")
	if err != nil {
		t.Skip("GNU time not installed (apt-get install -y time)")
	}
	bin := filepath.Join(t.TempDir(), "agent")
	// The flags internal/images builds the lab's agent with.
	build := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", bin, "github.com/agentlab/agentlab/cmd/agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := filepath.Join(t.TempDir(), "time.out")
	var vmhwm, maxrss []float64
	for i := 1; i <= 6; i++ {
		task := fmt.Sprintf(`{"id":%d,"kib":64,"seed":%d}`, i, i)
		cmd := exec.Command(gnuTime, "-f", "%M", "-o", out, bin, "once", "--task", task)
		reply, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		var r Result
		if err := json.Unmarshal(reply, &r); err != nil || r.PeakRSSBytes <= 0 {
			t.Fatalf("reply %q: %v", reply, err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		fs := strings.Fields(string(b))
		kib, err := strconv.ParseFloat(fs[len(fs)-1], 64)
		if err != nil {
			t.Fatalf("GNU time output %q: %v", b, err)
		}
		vmhwm, maxrss = append(vmhwm, float64(r.PeakRSSBytes)), append(maxrss, kib*1024)
	}
	slices.Sort(vmhwm)
	slices.Sort(maxrss)
	a, g := (vmhwm[2]+vmhwm[3])/2, (maxrss[2]+maxrss[3])/2 // medians of 6
	t.Logf("agent VmHWM median %.2f MiB, GNU time %%M median %.2f MiB (6 runs each): ratio %.3f", a/(1<<20), g/(1<<20), a/g)
	if a < 0.8*g || a > 1.2*g {
		t.Errorf("VmHWM %.2f MiB is not within 20 %% of GNU time's %.2f MiB", a/(1<<20), g/(1<<20))
	}
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
