package memstat

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/prometheus/procfs"
)

// ErrNoDaemon is returned when no process here listens on the daemon's socket (the socket is bridged from
// elsewhere, or the daemon is gone).
var ErrNoDaemon = errors.New("no dockerd here listens on the daemon's socket")

// DaemonPIDs returns the processes of the daemon that serves loc's socket: the dockerd listening on it, its
// descendants named in DaemonProcesses (the containerd it started), and the containerd it was pointed at with
// --containerd. Other daemons on the host (a test cluster's nodes, another session's daemon) are not in it. Each
// dockerd's own /proc/<pid>/net/unix is read, so a daemon in another network namespace is found too. Local only.
func DaemonPIDs(loc Locality) ([]int, error) {
	if !loc.Local {
		return nil, ErrNotLocal
	}
	if loc.socket == "" {
		return nil, fmt.Errorf("daemon processes: %w (no unix socket known for this daemon)", ErrNoDaemon)
	}
	pfs, err := procfs.NewFS(loc.procRoot())
	if err != nil {
		return nil, err
	}
	procs, err := pfs.AllProcs()
	if err != nil {
		return nil, fmt.Errorf("daemon processes: list %s: %w", loc.procRoot(), err)
	}
	dockerd, err := listener(loc.procRoot(), procs, "dockerd", loc.socket)
	if err != nil {
		return nil, err
	}
	roots := []int{dockerd.PID}
	if sock := containerdFlag(dockerd); sock != "" {
		// A daemon on a containerd of its own (a system service): that containerd is the daemon's too.
		if c, err := listener(loc.procRoot(), procs, "containerd", sock); err == nil {
			roots = append(roots, c.PID)
		}
	}
	children := map[int][]int{}
	comms := map[int]string{}
	for _, p := range procs {
		st, err := p.Stat()
		if err != nil {
			continue // exited while listing
		}
		children[st.PPID] = append(children[st.PPID], p.PID)
		comms[p.PID] = st.Comm
	}
	var pids []int
	seen := map[int]bool{}
	for len(roots) > 0 {
		pid := roots[0]
		roots = roots[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		if slices.Contains(DaemonProcesses, comms[pid]) {
			pids = append(pids, pid)
		}
		roots = append(roots, children[pid]...)
	}
	slices.Sort(pids)
	return pids, nil
}

// listener finds the process named comm that holds the listening unix socket bound at path.
func listener(procRoot string, procs procfs.Procs, comm, path string) (procfs.Proc, error) {
	want := canonical(path)
	var found []procfs.Proc
	for _, p := range procs {
		c, err := p.Comm()
		if err != nil || c != comm {
			continue
		}
		// The process's own network namespace's table: a unix socket bound to a path is reachable from any
		// namespace, but listed only in its own.
		own, err := procfs.NewFS(filepath.Join(procRoot, strconv.Itoa(p.PID)))
		if err != nil {
			continue
		}
		tab, err := own.NetUNIX()
		if err != nil {
			continue
		}
		inodes := map[string]bool{}
		for _, l := range tab.Rows {
			if l.Path != "" && l.Flags&(1<<16) != 0 /* __SO_ACCEPTCON: listening */ && canonical(l.Path) == want {
				inodes[fmt.Sprintf("socket:[%d]", l.Inode)] = true
			}
		}
		if len(inodes) == 0 {
			continue
		}
		fds, err := p.FileDescriptorTargets()
		if err != nil {
			continue
		}
		if slices.ContainsFunc(fds, func(t string) bool { return inodes[t] }) {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return procfs.Proc{}, fmt.Errorf("daemon processes: %w: no %s holds a listening socket at %s", ErrNoDaemon, comm, path)
	case 1:
		return found[0], nil
	}
	return procfs.Proc{}, fmt.Errorf("daemon processes: %d %s processes listen at %s", len(found), comm, path)
}

// canonical resolves symlinks in a socket's directory (/var/run → /run), so the client's path and the path the
// daemon bound compare equal.
func canonical(path string) string {
	path = filepath.Clean(path)
	if dir, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil {
		return filepath.Join(dir, filepath.Base(path))
	}
	return path
}

// containerdFlag is dockerd's --containerd socket, if it was given one.
func containerdFlag(p procfs.Proc) string {
	args, err := p.CmdLine()
	if err != nil {
		return ""
	}
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--containerd="); ok {
			return v
		}
		if a == "--containerd" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// procPSS is one process's PSS in bytes; a process that exited (its /proc entry gone, or going: ESRCH) counts 0,
// since a daemon's helper ending mid-read is not an error of the reading.
func procPSS(pfs procfs.FS, pid int) (int64, error) {
	p, err := pfs.Proc(pid)
	if err == nil {
		var r procfs.ProcSMapsRollup
		if r, err = p.ProcSMapsRollup(); err == nil {
			return int64(r.Pss), nil
		}
	}
	if gone(err) {
		return 0, nil
	}
	return 0, fmt.Errorf("pid %d: %w", pid, err)
}

func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}
