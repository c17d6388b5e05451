package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Down removes the cluster named by opts, whatever state it is in: stops every node's dockerd (SIGTERM, which
// stops its containers, then SIGKILL), kills whatever still runs in a node's namespace (shims, containers),
// unmounts what is mounted under the cluster's directories, deletes the namespaces (links go with them), removes
// the nodes' cgroups and the directories. Idempotent: a missing piece is skipped. It returns what it could not
// remove.
func Down(ctx context.Context, opts Options) error {
	c := Layout(opts)
	if err := preflight(); err != nil {
		return err
	}
	t0 := time.Now()
	var errs []error
	// Stop the daemons together: each stops its own containers first.
	done := make(chan error, len(c.Nodes))
	for _, n := range c.Nodes {
		go func() {
			if pid, ok := c.daemonPID(n); ok {
				done <- stopPID(ctx, pid, 20*time.Second)
				return
			}
			if pid, ok := daemonByCmdline(n); ok { // its pidfile or namespace is gone
				done <- stopPID(ctx, pid, 20*time.Second)
				return
			}
			done <- nil
		}()
	}
	for range c.Nodes {
		if err := <-done; err != nil {
			errs = append(errs, err)
		}
	}
	for _, n := range c.Nodes {
		if err := killNamespace(ctx, n.Name); err != nil {
			errs = append(errs, err)
		}
	}
	if err := unmountUnder(c.StateDir, c.DataDir); err != nil {
		errs = append(errs, err)
	}
	for _, ns := range append(c.nodeNames(), c.BridgeNS()) {
		if netnsExists(ns) {
			if err := run(ctx, "ip", "netns", "del", ns); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, n := range c.Nodes {
		if err := removeCgroups(c.cgroupParent(n)); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range []string{c.StateDir, c.DataDir} {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	fmt.Fprintf(c.Log, "cluster %s: down after %v\n", c.Name, time.Since(t0).Round(time.Millisecond))
	return errors.Join(errs...)
}

func (c *Cluster) nodeNames() []string {
	var s []string
	for _, n := range c.Nodes {
		s = append(s, n.Name)
	}
	return s
}

// Leftovers lists what of the cluster is still there (namespaces, processes in them, mounts, cgroups, directories):
// empty after Down.
func Leftovers(opts Options) []string {
	c := Layout(opts)
	var left []string
	for _, ns := range append(c.nodeNames(), c.BridgeNS()) {
		if netnsExists(ns) {
			left = append(left, "netns "+ns)
			for _, pid := range pidsIn(ns) {
				left = append(left, fmt.Sprintf("process %d in %s", pid, ns))
			}
		}
	}
	for _, m := range mountsUnder(c.StateDir, c.DataDir) {
		left = append(left, "mount "+m)
	}
	for _, n := range c.Nodes {
		for _, d := range cgroupDirs(c.cgroupParent(n)) {
			left = append(left, "cgroup "+d)
		}
	}
	for _, d := range []string{c.StateDir, c.DataDir} {
		if _, err := os.Stat(d); err == nil {
			left = append(left, "dir "+d)
		}
	}
	for _, n := range c.Nodes {
		if pid, ok := daemonByCmdline(n); ok {
			left = append(left, fmt.Sprintf("dockerd %d of %s", pid, n.Name))
		}
	}
	return left
}

// pidsIn lists the processes in network namespace ns.
func pidsIn(ns string) []int {
	id, ok := netnsID(ns)
	if !ok {
		return nil
	}
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && l == id {
			pids = append(pids, pid)
		}
	}
	return pids
}

// daemonByCmdline finds a dockerd of node n by its socket on the command line (a daemon whose namespace is gone).
func daemonByCmdline(n Node) (int, bool) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 0 && filepath.Base(args[0]) == "dockerd" && slices.Contains(args, n.Host()) {
			return pid, true
		}
	}
	return 0, false
}

// killNamespace SIGKILLs every process left in namespace ns (a node's containers and shims after its daemon
// went) and a daemon of the node still running outside it, and waits for them to go.
func killNamespace(ctx context.Context, ns string) error {
	pids := pidsIn(ns)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, pid := range pids {
		if !waitGone(ctx, pid, 10*time.Second) {
			return fmt.Errorf("process %d in %s survived SIGKILL", pid, ns)
		}
	}
	return nil
}

// mountsUnder lists mount points under the given directories, deepest first.
func mountsUnder(dirs ...string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var ms []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 {
			continue
		}
		mp := unescape(fs[4])
		for _, d := range dirs {
			if mp == d || strings.HasPrefix(mp, d+"/") {
				ms = append(ms, mp)
			}
		}
	}
	slices.SortFunc(ms, func(a, b string) int { return len(b) - len(a) })
	return ms
}

func unescape(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

func unmountUnder(dirs ...string) error {
	var errs []error
	for _, m := range mountsUnder(dirs...) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// cgroupDirs are the directories of cgroup parent p in every mounted v1 hierarchy (or the v2 tree).
func cgroupDirs(p string) []string {
	var ds []string
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range ents {
		d := filepath.Join("/sys/fs/cgroup", e.Name(), p)
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			ds = append(ds, d)
		}
	}
	if d := filepath.Join("/sys/fs/cgroup", p); isDir(d) && isFile("/sys/fs/cgroup/cgroup.controllers") {
		ds = append(ds, d)
	}
	return ds
}

func isDir(p string) bool  { fi, err := os.Stat(p); return err == nil && fi.IsDir() }
func isFile(p string) bool { fi, err := os.Stat(p); return err == nil && !fi.IsDir() }

// removeCgroups removes parent p's cgroup directories, children first (cgroup directories are removed with
// rmdir, empty of processes).
func removeCgroups(p string) error {
	var errs []error
	for _, root := range cgroupDirs(p) {
		var dirs []string
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}
