package dockerx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

// RunLock marks a run as alive for as long as its process lives: the kernel drops the flock when the process dies,
// even by kill -9, so the next run can tell a dead run's leftovers from a concurrent run's live containers.
type RunLock struct{ f *os.File }

// LockDir is where run locks live. Tests point it elsewhere through AGENTLAB_LOCK_DIR.
func LockDir() string {
	if d := os.Getenv("AGENTLAB_LOCK_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "agentlab-runs")
}

// AcquireRunLock takes the lock of runID.
func AcquireRunLock(runID string) (*RunLock, error) {
	if err := os.MkdirAll(LockDir(), 0o755); err != nil {
		return nil, fmt.Errorf("run lock dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(LockDir(), runID+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("run lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("run lock %s: %w", runID, err)
	}
	return &RunLock{f: f}, nil
}

// Release drops the lock and deletes its file.
func (l *RunLock) Release() {
	if l == nil || l.f == nil {
		return
	}
	os.Remove(l.f.Name())
	l.f.Close()
	l.f = nil
}

// runAlive reports whether the run that created runID still holds its lock on this host.
func runAlive(runID string) bool {
	f, err := os.OpenFile(filepath.Join(LockDir(), runID+".lock"), os.O_RDWR, 0)
	if err != nil {
		return false // no lock file: the run is gone (or never locked)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	os.Remove(f.Name())
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// RemoveRun force-removes every container and network labelled with runID. Force removal kills at once: no stop
// grace period, so cleanup after a signal finishes within seconds. It returns how many objects it removed.
func RemoveRun(ctx context.Context, cli client.APIClient, runID string) (int, error) {
	return remove(ctx, cli, client.Filters{}.Add("label", LabelRunID+"="+runID))
}

// RemoveAll removes every object of every lab run, alive or not (`lab --scenario clean --all`).
func RemoveAll(ctx context.Context, cli client.APIClient) (int, error) {
	return remove(ctx, cli, client.Filters{}.Add("label", LabelRunID))
}

func remove(ctx context.Context, cli client.APIClient, f client.Filters) (int, error) {
	var errs []error
	n := 0
	// Swarm services of a run on a swarm manager (internal/swarmx): removing one removes its tasks' containers on
	// every node. A daemon that is no swarm manager answers the list with an error: nothing to do.
	services := 0
	if ss, err := cli.ServiceList(ctx, client.ServiceListOptions{Filters: f}); err == nil {
		for _, s := range ss.Items {
			if _, err := cli.ServiceRemove(ctx, s.ID, client.ServiceRemoveOptions{}); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("remove service %s: %w", s.Spec.Name, err))
				continue
			}
			n++
			services++
		}
	}
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs.Items {
		_, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %.12s: %w", c.ID, err))
			continue
		}
		n++
	}
	// An overlay network is in use until the removed services' tasks have left every node: retry a while.
	deadline := time.Now()
	if services > 0 {
		deadline = deadline.Add(20 * time.Second)
	}
	for {
		ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
		if err != nil {
			return n, errors.Join(append(errs, fmt.Errorf("list networks: %w", err))...)
		}
		var nerrs []error
		for _, nw := range ns.Items {
			if _, err := cli.NetworkRemove(ctx, nw.ID, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
				nerrs = append(nerrs, fmt.Errorf("remove network %s: %w", nw.Name, err))
				continue
			}
			n++
		}
		if len(nerrs) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return n, errors.Join(append(errs, nerrs...)...)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ReapDead removes what dead runs left behind: runs of a lab that ran in a container (LabelLabContainer) whose
// container no longer runs, and, when this lab runs on a host, runs from this host whose lock is free. Runs from
// other hosts (another client of a shared daemon) are left alone, and so, from inside a container, are host runs
// (their locks are not visible here) — `--clean` removes those on purpose.
func ReapDead(ctx context.Context, cli client.APIClient, self string) (int, error) {
	host, _ := os.Hostname()
	inContainer := SelfContainer() != ""
	f := client.Filters{}.Add("label", LabelRunID)
	runs := map[string]string{} // run id → its lab container ("" = judged by lock)
	note := func(labels map[string]string) {
		switch id, cid := labels[LabelRunID], labels[LabelLabContainer]; {
		case cid != "":
			runs[id] = cid
		case !inContainer && labels[LabelHost] == host:
			runs[id] = ""
		}
	}
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs.Items {
		note(c.Labels)
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return 0, fmt.Errorf("list networks: %w", err)
	}
	for _, nw := range ns.Items {
		note(nw.Labels)
	}
	total := 0
	var errs []error
	for id, cid := range runs {
		if id == self {
			continue
		}
		if cid != "" && containerRuns(ctx, cli, cid) || cid == "" && runAlive(id) {
			continue
		}
		n, err := RemoveRun(ctx, cli, id)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}
