// Package rundir writes a run's files: results/<run-id>/*.json, each stamped with the run id and the
// environment, and the results/latest link to the newest run.
package rundir

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/internal/dockerx"
)

// Environment describes where a run happened, so figures from different machines are never mixed unknowingly.
type Environment struct {
	GoVersion     string `json:"go_version"`
	OS            string `json:"os"`
	Arch          string `json:"arch"`
	CPUs          int    `json:"cpus"`
	MemTotalBytes int64  `json:"mem_total_bytes,omitempty"`
	Kernel        string `json:"kernel"`
	Hostname      string `json:"hostname"`
	GitCommit     string `json:"git_commit"`
	GitDirty      bool   `json:"git_dirty"`
	// LabContainer is the id of the container the lab ran in (the agentlab/lab image), empty on a host: the
	// process patterns (spawn-process, persistent-process) then ran inside that container.
	LabContainer string     `json:"lab_container,omitempty"`
	Docker       *DockerEnv `json:"docker,omitempty"`
}

// DockerEnv is the daemon's side.
type DockerEnv struct {
	Host          string `json:"host"`
	ServerVersion string `json:"server_version"`
	APIVersion    string `json:"api_version"`
	CgroupVersion string `json:"cgroup_version"`
	CgroupDriver  string `json:"cgroup_driver"`
	StorageDriver string `json:"storage_driver"`
	NCPU          int    `json:"ncpu"`
	MemTotalBytes int64  `json:"mem_total_bytes"`
}

// Collect reads the environment; cli may be nil when the scenario needs no daemon. root is the repository.
func Collect(ctx context.Context, cli *client.Client, root string) Environment {
	e := Environment{GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU()}
	e.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.Kernel = strings.TrimSpace(string(b))
	}
	e.LabContainer = dockerx.SelfContainer()
	e.GitCommit = "unknown"
	if out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "HEAD").Output(); err == nil {
		e.GitCommit = strings.TrimSpace(string(out))
		st, _ := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
		e.GitDirty = len(strings.TrimSpace(string(st))) > 0
	}
	if cli != nil {
		d := &DockerEnv{Host: cli.DaemonHost(), APIVersion: cli.ClientVersion()}
		if info, err := cli.Info(ctx, client.InfoOptions{}); err == nil {
			d.ServerVersion = info.Info.ServerVersion
			d.CgroupVersion = info.Info.CgroupVersion
			d.CgroupDriver = info.Info.CgroupDriver
			d.StorageDriver = info.Info.Driver
			d.NCPU = info.Info.NCPU
			d.MemTotalBytes = info.Info.MemTotal
			e.MemTotalBytes = info.Info.MemTotal
		}
		e.Docker = d
	}
	return e
}

// Run is one run's output folder.
type Run struct {
	Dir   string
	ID    string
	Env   Environment
	Files []string
	// Planted, when not nil, is the run's planted faults (--plant): every file then carries them as "planted", so
	// no figure of a planted run can be read as a measurement of the components.
	Planted any
}

// Create makes out/<id>.
func Create(out, id string, env Environment) (*Run, error) {
	dir := filepath.Join(out, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("results dir: %w", err)
	}
	return &Run{Dir: dir, ID: id, Env: env}, nil
}

// Write stores v as name, with run_id, generated_at and environment added at the top level.
func (r *Run) Write(name string, v any, now time.Time) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: not a JSON object: %w", name, err)
	}
	add := func(k string, v any) {
		if _, taken := m[k]; !taken {
			m[k], _ = json.Marshal(v)
		}
	}
	add("run_id", r.ID)
	add("generated_at", now.UTC().Format(time.RFC3339))
	add("environment", r.Env)
	if r.Planted != nil {
		add("planted", r.Planted)
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(r.Dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, append(out, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(r.Dir, name)); err != nil {
		return err
	}
	r.Files = append(r.Files, name)
	return nil
}

// LinkLatest points out/latest at this run (a relative symlink, replaced atomically).
func (r *Run) LinkLatest() error {
	out := filepath.Dir(r.Dir)
	tmp := filepath.Join(out, ".latest."+r.ID)
	os.Remove(tmp)
	if err := os.Symlink(r.ID, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(out, "latest"))
}
