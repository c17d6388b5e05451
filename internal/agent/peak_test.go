package agent

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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

func mb(b int64) float64 { return float64(b) / (1 << 20) }
