package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

// startDaemon starts node n's dockerd unless it already answers. The daemon runs in the node's network namespace
// and a UTS namespace of its own (its hostname is the node's name); `ip netns exec` is not used: it remounts /sys
// and dockerd then fails with "Devices cgroup isn't mounted". Everything of the daemon is its own: config file
// (the host's daemon.json would conflict), data-root, exec-root, socket, pidfile, cgroup parent.
func (c *Cluster) startDaemon(ctx context.Context, n Node) error {
	if pingOK(ctx, n) {
		return nil
	}
	if pid, ok := c.daemonPID(n); ok {
		// A daemon of ours that does not answer (still starting, or wedged): stop it and start again.
		if err := stopPID(ctx, pid, 20*time.Second); err != nil {
			return err
		}
	}
	for _, d := range []string{n.StateDir, n.DataRoot} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	cfg := filepath.Join(n.StateDir, "daemon.json")
	if err := os.WriteFile(cfg, []byte("{}\n"), 0o600); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(n.StateDir, "dockerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"--net=/run/netns/" + n.Name, "--", "unshare", "--uts", "--",
		"sh", "-c", `hostname "$0" && exec "$@"`, n.Name,
		"dockerd", "--config-file", cfg, "--data-root", n.DataRoot, "--exec-root", filepath.Join(n.StateDir, "x"),
		"-H", n.Host(), "--pidfile", n.PIDFile(), "--cgroup-parent", c.cgroupParent(n),
		"--storage-driver", c.StorageDriver, "--label", LabelNode + "=" + n.Name,
	}
	cmd := exec.Command("nsenter", args...)
	cmd.Env = append(os.Environ(), "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	// A session of its own: the daemon outlives `lab cluster up` and a Ctrl-C of the terminal does not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start dockerd: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // reaps it if it ends while we run; else init inherits it
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(90 * time.Second)
	for !pingOK(ctx, n) {
		select {
		case err := <-exited:
			return fmt.Errorf("dockerd exited (%v): %s", err, tail(filepath.Join(n.StateDir, "dockerd.log"), 600))
		case <-deadline:
			return fmt.Errorf("dockerd not answering on %s after 90 s: %s", n.Socket, tail(filepath.Join(n.StateDir, "dockerd.log"), 600))
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// cgroupParent is where the node's containers' cgroups go (cgroupfs driver: /<name>-n<i> in every controller).
func (c *Cluster) cgroupParent(n Node) string { return "/" + n.Name }

func pingOK(ctx context.Context, n Node) bool {
	if _, err := os.Stat(n.Socket); err != nil {
		return false
	}
	cli, err := n.Client()
	if err != nil {
		return false
	}
	defer cli.Close()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = cli.Ping(pctx, client.PingOptions{})
	return err == nil
}

// daemonPID is node n's dockerd from its pidfile, if that process is alive, is a dockerd, and is in the node's
// network namespace — a stale pidfile never makes us signal someone else's process.
func (c *Cluster) daemonPID(n Node) (int, bool) {
	b, err := os.ReadFile(n.PIDFile())
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, false
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "dockerd" {
		return 0, false
	}
	ns, ok := netnsID(n.Name)
	if !ok {
		return 0, false
	}
	if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err != nil || l != ns {
		return 0, false
	}
	return pid, true
}

// DaemonPID is node n's dockerd process id, if it runs.
func (c *Cluster) DaemonPID(n Node) (int, bool) { return c.daemonPID(n) }

// netnsID is the "net:[inode]" a process in namespace name shows in /proc/<pid>/ns/net.
func netnsID(name string) (string, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join("/run/netns", name), &st); err != nil {
		return "", false
	}
	return fmt.Sprintf("net:[%d]", st.Ino), true
}

// stopPID sends SIGTERM, waits up to grace for the process to end, then SIGKILL and waits again.
func stopPID(ctx context.Context, pid int, grace time.Duration) error {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if waitGone(ctx, pid, grace) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if waitGone(ctx, pid, 10*time.Second) {
		return nil
	}
	return fmt.Errorf("pid %d still running after SIGKILL", pid)
}

// waitGone polls until pid is gone (or a zombie: its parent, not us, reaps it).
func waitGone(ctx context.Context, pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || zombie(b) {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func zombie(stat []byte) bool {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
