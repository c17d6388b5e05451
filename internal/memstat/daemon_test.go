package memstat

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeProc writes a /proc with two daemons, each a dockerd listening on its own socket with a containerd child,
// plus a containerd of the first daemon that exits mid-read (no smaps_rollup left) and an unrelated process.
func fakeProc(t *testing.T) string {
	root := t.TempDir()
	type proc struct {
		pid, ppid int
		comm      string
		listen    string // socket path this process listens on
		pssKiB    int    // 0: the process is gone by the time its smaps_rollup is read
	}
	procs := []proc{
		{10, 1, "dockerd", "/run/a/docker.sock", 1000},
		{11, 10, "containerd", "", 200},
		{12, 10, "containerd", "", 0},
		{13, 11, "containerd-shim", "", 50},
		{20, 1, "dockerd", "/run/b/docker.sock", 3000},
		{21, 20, "containerd", "", 400},
		{30, 1, "sleep", "", 5},
	}
	for _, p := range procs {
		dir := filepath.Join(root, fmt.Sprint(p.pid))
		must(t, os.MkdirAll(filepath.Join(dir, "fd"), 0o755))
		must(t, os.MkdirAll(filepath.Join(dir, "net"), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "comm"), []byte(p.comm+"\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "cmdline"), []byte(p.comm+"\x00"), 0o644))
		stat := fmt.Sprintf("%d (%s) S %d %s\n", p.pid, p.comm, p.ppid, strings.Repeat("0 ", 48))
		must(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644))
		unix := "Num       RefCount Protocol Flags    Type St Inode Path\n"
		if p.listen != "" {
			inode := 1000 + p.pid
			unix += fmt.Sprintf("0000000000000000: 00000002 00000000 00010000 0001 01 %d %s\n", inode, p.listen)
			// a connected socket on the same path: not the listener
			unix += fmt.Sprintf("0000000000000000: 00000003 00000000 00000000 0001 03 %d %s\n", inode+1, p.listen)
			must(t, os.Symlink(fmt.Sprintf("socket:[%d]", inode), filepath.Join(dir, "fd", "3")))
		}
		must(t, os.WriteFile(filepath.Join(dir, "net", "unix"), []byte(unix), 0o644))
		if p.pssKiB > 0 {
			rollup := fmt.Sprintf("00400000-7fff [rollup]\nRss: %d kB\nPss: %d kB\n", p.pssKiB, p.pssKiB)
			must(t, os.WriteFile(filepath.Join(dir, "smaps_rollup"), []byte(rollup), 0o644))
		}
	}
	return root
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// DaemonPSS reads the daemon on the lab's socket only: dockerd a and its containerds, not daemon b, not the shim;
// the containerd that exited mid-read counts 0 instead of failing the reading (the CI failure of issue 27).
func TestDaemonPSSReadsTheSocketsDaemon(t *testing.T) {
	root := fakeProc(t)
	for _, tc := range []struct {
		socket  string
		pids    []int
		pssKiB  int64
		wantErr bool
	}{
		{"/run/a/docker.sock", []int{10, 11, 12}, 1200, false},
		{"/run/b/docker.sock", []int{20, 21}, 3400, false},
		{"/run/c/docker.sock", nil, 0, true},
	} {
		loc := Locality{Local: true, proc: root, socket: tc.socket}
		pids, err := DaemonPIDs(loc)
		if (err != nil) != tc.wantErr || !slices.Equal(pids, tc.pids) {
			t.Errorf("%s: DaemonPIDs = %v, %v; want %v", tc.socket, pids, err, tc.pids)
		}
		pss, err := DaemonPSS(loc)
		if (err != nil) != tc.wantErr || pss != tc.pssKiB*1024 {
			t.Errorf("%s: DaemonPSS = %d, %v; want %d KiB", tc.socket, pss, err, tc.pssKiB)
		}
	}
	if _, err := DaemonPSS(Locality{proc: root, socket: "/run/a/docker.sock"}); err != ErrNotLocal {
		t.Errorf("remote: %v", err)
	}
	// every dockerd and containerd on the host, the old reading, still skips the vanished process
	if pss, err := ProcessPSS(Locality{Local: true, proc: root}, DaemonProcesses...); err != nil || pss != 4600*1024 {
		t.Errorf("ProcessPSS = %d, %v", pss, err)
	}
}
