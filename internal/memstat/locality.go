package memstat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/moby/moby/client"
	"github.com/prometheus/procfs"
)

// ErrNotLocal is returned by readers of this host's /proc and cgroup files when the daemon's containers are not
// visible here: their figures are not measurable from here.
var ErrNotLocal = errors.New("not measurable from here: the daemon's containers are not visible on this host")

// localReads counts this host's cgroup and /proc files read for containers (cgroup files, per-CPU times, a
// container's /proc/<pid>/cgroup): with a remote daemon it must stay where it was, and tests hold callers to that.
var localReads atomic.Int64

// LocalReads is how many of this host's cgroup or /proc files memstat has read so far (all callers together).
func LocalReads() int64 { return localReads.Load() }

// readLocal reads one of this host's cgroup or /proc files, counted by LocalReads.
func readLocal(path string) ([]byte, error) {
	localReads.Add(1)
	return os.ReadFile(path)
}

// ErrNotMeasurable is returned when a figure cannot be had from any source (e.g. the peak of a container that has
// exited: runc removes its cgroup at exit and the stats API answers a stopped container with an empty record).
var ErrNotMeasurable = errors.New("not measurable")

// Default roots of this host's process and cgroup filesystems.
const (
	DefaultProcRoot   = "/proc"
	DefaultCgroupRoot = "/sys/fs/cgroup"
)

// Locality says whether the daemon's containers are visible from here — their init processes in this host's /proc
// and their cgroup directories under this host's cgroup mount — and why. Only a local daemon may be measured
// with local files; the zero value is remote.
type Locality struct {
	Local  bool   `json:"local"`
	Reason string `json:"reason"`

	proc, cgroup string // roots used (tests inject fakes)
	socket       string // the daemon's unix socket path: DaemonPSS reads the daemon listening on it
}

// Sources says in one line which sources this locality allows.
func (l Locality) Sources() string {
	if l.Local {
		return "daemon local (" + l.Reason + "): cgroup files and /proc of this host, Docker stats API"
	}
	return "daemon remote (" + l.Reason + "): through the daemon only — Docker Engine API stats, and cAdvisor where it starts on the " +
		"daemon's host; this host's /proc, cgroup files, per-CPU busy time and shim memory not measurable from here"
}

func (l Locality) procRoot() string {
	if l.proc == "" {
		return DefaultProcRoot
	}
	return l.proc
}

func (l Locality) cgroupRoot() string {
	if l.cgroup == "" {
		return DefaultCgroupRoot
	}
	return l.cgroup
}

// DetectLocality probes the daemon cli talks to with a running container the caller names (e.g. the first one
// it samples, so no extra container is started). Local means the daemon is reached over a unix socket AND the
// probe's init PID (ContainerInspect State.Pid) is in this host's /proc with cgroup lines naming the container AND
// that cgroup's directory is visible here. A TCP DOCKER_HOST, a docker context to elsewhere, or the lab inside a
// container with only the socket (another PID namespace) all come out remote. It never fails: a probe it cannot
// check is remote, with the reason.
func DetectLocality(ctx context.Context, cli client.APIClient, probe string) Locality {
	return detectLocality(ctx, cli, probe, DefaultProcRoot, DefaultCgroupRoot)
}

func detectLocality(ctx context.Context, cli client.APIClient, probe, procRoot, cgroupRoot string) Locality {
	remote := func(format string, args ...any) Locality {
		return Locality{Reason: fmt.Sprintf(format, args...), proc: procRoot, cgroup: cgroupRoot}
	}
	host := cli.DaemonHost()
	if !isLocalDaemon(host) {
		return remote("docker host %s is not a unix socket", host)
	}
	id, pid, err := initPID(ctx, cli, probe)
	if err != nil {
		return remote("cannot check probe container %s: %v", short(probe), err)
	}
	dirs, err := cgroupDirsOf(procRoot, cgroupRoot, pid, id)
	if err != nil {
		return remote("%v", err)
	}
	return Locality{Local: true, proc: procRoot, cgroup: cgroupRoot, socket: strings.TrimPrefix(host, "unix://"),
		Reason: fmt.Sprintf("unix socket %s; container %s's init pid %d is visible here in %s",
			strings.TrimPrefix(host, "unix://"), short(id), pid, dirs.mem)}
}

// initPID inspects a container and returns its full id and init PID as the daemon's PID namespace sees it.
func initPID(ctx context.Context, cli client.APIClient, id string) (string, int, error) {
	res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return id, 0, fmt.Errorf("inspect: %w", err)
	}
	c := res.Container
	if c.State == nil || c.State.Pid <= 0 {
		return c.ID, 0, fmt.Errorf("container %s is not running (no init pid)", short(c.ID))
	}
	return c.ID, c.State.Pid, nil
}

// cgroupDirs are one container's cgroup directories on this host.
type cgroupDirs struct {
	v2       bool
	mem, cpu string // v2: both the unified directory
}

// cgroupDirsOf finds container id's cgroup directories from /proc/<pid>/cgroup of its init process: cgroup v1's
// memory and cpuacct controllers' paths under <cgroupRoot>/<controller>, or v2's unified path — whatever layout
// the daemon chose (cgroupfs, systemd, a --cgroup-parent). The lines must name the container id, or the pid here
// is some other process (another PID namespace) and nothing is returned.
func cgroupDirsOf(procRoot, cgroupRoot string, pid int, id string) (cgroupDirs, error) {
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return cgroupDirs{}, fmt.Errorf("proc at %s: %w", procRoot, err)
	}
	localReads.Add(1)
	p, err := fs.Proc(pid)
	if err != nil {
		return cgroupDirs{}, fmt.Errorf("container %s's init pid %d is not in %s here (another PID namespace?)",
			short(id), pid, procRoot)
	}
	cgs, err := p.Cgroups()
	if err != nil {
		return cgroupDirs{}, fmt.Errorf("pid %d: cgroups: %w", pid, err)
	}
	return cgroupDirsFrom(cgs, cgroupRoot, pid, id)
}

func cgroupDirsFrom(cgs []procfs.Cgroup, cgroupRoot string, pid int, id string) (cgroupDirs, error) {
	var mem, cpu, unified string
	named := false
	for _, cg := range cgs {
		if id != "" && strings.Contains(cg.Path, id) {
			named = true
		}
		switch {
		case cg.HierarchyID == 0 && len(cg.Controllers) == 0:
			unified = cg.Path
		case has(cg.Controllers, "memory"):
			mem = controllerDir(cgroupRoot, cg)
		case has(cg.Controllers, "cpuacct"):
			cpu = controllerDir(cgroupRoot, cg)
		}
	}
	if !named {
		return cgroupDirs{}, fmt.Errorf("pid %d here is not container %s (its cgroup lines do not name it): "+
			"another PID namespace", pid, short(id))
	}
	if mem != "" { // v1 (or hybrid: the unified hierarchy then carries no memory controller)
		if !exists(filepath.Join(mem, "memory.usage_in_bytes")) {
			return cgroupDirs{}, fmt.Errorf("cgroup directory %s not visible here", mem)
		}
		if cpu == "" || !exists(filepath.Join(cpu, "cpuacct.usage")) {
			return cgroupDirs{}, fmt.Errorf("container %s: no cpuacct cgroup visible here", short(id))
		}
		return cgroupDirs{mem: mem, cpu: cpu}, nil
	}
	if unified != "" {
		d := filepath.Join(cgroupRoot, unified)
		if !exists(filepath.Join(d, "memory.current")) {
			return cgroupDirs{}, fmt.Errorf("cgroup directory %s not visible here", d)
		}
		return cgroupDirs{v2: true, mem: d, cpu: d}, nil
	}
	return cgroupDirs{}, fmt.Errorf("pid %d: no memory cgroup", pid)
}

// controllerDir is a v1 controller's directory: mounted under its controller list ("cpu,cpuacct") or, where
// the distribution links them, under one name.
func controllerDir(root string, cg procfs.Cgroup) string {
	cands := []string{strings.Join(cg.Controllers, ",")}
	cands = append(cands, cg.Controllers...)
	for _, c := range cands {
		if d := filepath.Join(root, c); exists(d) {
			return filepath.Join(d, cg.Path)
		}
	}
	return filepath.Join(root, cands[0], cg.Path)
}

func has(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
