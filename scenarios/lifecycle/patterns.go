package lifecycle

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/agentlab/agentlab/internal/agent"
	"github.com/agentlab/agentlab/internal/containers"
	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/memstat"
	"github.com/agentlab/agentlab/internal/procmem"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// A pattern is one agent lifecycle: how a task reaches an agent and how the agent lives.
type pattern interface {
	info() patternInfo
	// start brings persistent agents up (nothing for spawn patterns).
	start(ctx context.Context) error
	// do runs one task end to end; this is what is timed.
	do(ctx context.Context, t agent.Task) (agent.Result, error)
	// memory reads the memory the pattern's agents hold now, in bytes, and names its source.
	memory(ctx context.Context) (float64, string, error)
	stop(ctx context.Context) error
}

type patternInfo struct {
	Name string `json:"name"`
	// Language is the agent's runtime (internal/runtimes: go, node, python; or a --agent-image name). Omitted for
	// go, so a Go-only run's file is what it always was.
	Language string `json:"language,omitempty"`
	Kind     string `json:"kind"`          // spawn | persistent
	Runtime  string `json:"runtime"`       // process | docker
	Via      string `json:"via,omitempty"` // testcontainers | engine-api (docker spawn)
}

const hostMemSource = "host /proc/meminfo MemTotal−MemAvailable (spawned agents live too briefly to sample)"

func hostMemory(context.Context) (float64, string, error) {
	v, err := procmem.HostUsed()
	return float64(v), hostMemSource, err
}

// --- spawn-process: fork/exec the agent per task --------------------------------------------------------------

type spawnProcess struct {
	// argv runs the agent: its binary (go) or interpreter and script (node, python), or npx and the local package.
	argv []string
	lang string
	// npx: the seed's exact path, `npx --no-install <local package>`. npx starts the agent through `sh -c`, so the
	// task runs in a process group of its own and the group is killed after it: otherwise a cancelled npx orphans
	// the agent.
	npx bool
	mu  sync.Mutex
	// peakRSS is getrusage ru_maxrss per task, bytes. It is NOT the agent's: Go's os/exec starts children with
	// CLONE_VM|CLONE_VFORK and the kernel folds the parent's (the lab's) high-water mark into it at exec. Kept
	// only to show the difference; report peakSelf.
	peakRSS []float64
	// peakSelf is the agent's own peak RSS per task, bytes: VmHWM of /proc/self/status, which the agent reads
	// after the work and reports in its reply (peak_rss_bytes).
	peakSelf []float64
}

func (p *spawnProcess) info() patternInfo {
	if p.npx {
		return patternInfo{Name: "spawn-npx", Language: p.lang, Kind: "spawn", Runtime: "process", Via: "npx"}
	}
	return patternInfo{Name: "spawn-process" + langSuffix(p.lang), Language: langField(p.lang), Kind: "spawn", Runtime: "process"}
}

// langSuffix names a language's patterns: go's keep their names, the others' get "-<language>".
func langSuffix(lang string) string {
	if lang == "" || lang == "go" {
		return ""
	}
	return "-" + lang
}

func langField(lang string) string {
	if lang == "go" {
		return ""
	}
	return lang
}
func (p *spawnProcess) start(context.Context) error { return nil }
func (p *spawnProcess) stop(context.Context) error  { return nil }
func (p *spawnProcess) memory(ctx context.Context) (float64, string, error) {
	v, _, err := hostMemory(ctx)
	return v, hostContextSource, err
}

// hostContextSource labels the host-wide figure spawn patterns report: context only. It is shared by every
// interleaved pattern and moved by everything on the host (page cache, the daemon, builds), so a before/after
// difference of it is never a pattern's memory; the spawned agents' own figures are peakSelf (processes) and the
// containers' cgroup peaks (spawnDocker.peaks).
const hostContextSource = "host /proc/meminfo MemTotal−MemAvailable: host-wide context, not this pattern's memory"

func (p *spawnProcess) do(ctx context.Context, t agent.Task) (agent.Result, error) {
	js, _ := json.Marshal(t)
	cmd := exec.CommandContext(ctx, p.argv[0], append(p.argv[1:len(p.argv):len(p.argv)], "once", "--task", string(js))...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if p.npx {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	}
	err := cmd.Run()
	if p.npx && cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // whatever npx's shell left in the group (ESRCH: nothing)
	}
	if err != nil {
		return agent.Result{}, fmt.Errorf("agent once: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	r, err := decodeResult(out.Bytes())
	p.mu.Lock()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		p.peakRSS = append(p.peakRSS, float64(ru.Maxrss)*1024)
	}
	if err == nil && r.PeakRSSBytes > 0 {
		p.peakSelf = append(p.peakSelf, float64(r.PeakRSSBytes))
	}
	p.mu.Unlock()
	return r, err
}

func decodeResult(b []byte) (agent.Result, error) {
	var r agent.Result
	if err := json.Unmarshal(bytes.TrimSpace(b), &r); err != nil {
		return r, fmt.Errorf("agent output %q: %w", scenario.Truncate(b, 200), err)
	}
	return r, nil
}

// --- persistent-process: long-running agent processes, tasks over TCP on loopback --------------------------------

type persistentProcess struct {
	argv   []string // the agent's binary, or interpreter and script
	lang   string
	agents int
	procs  []*exec.Cmd
	pool   *clientPool
	// pss holds, for every memory() reading, the agents' summed PSS (/proc/<pid>/smaps_rollup), bytes: shared
	// text pages divided among the agents instead of counted once per agent as summed VmRSS does.
	pss []float64
}

func (p *persistentProcess) info() patternInfo {
	return patternInfo{Name: "persistent-process" + langSuffix(p.lang), Language: langField(p.lang), Kind: "persistent", Runtime: "process"}
}

func (p *persistentProcess) start(ctx context.Context) error {
	addrs := make([]string, 0, p.agents)
	for i := 0; i < p.agents; i++ {
		// Not CommandContext: the agents must outlive start's context; stop ends them.
		cmd := exec.Command(p.argv[0], append(p.argv[1:len(p.argv):len(p.argv)], "serve", "--addr", "127.0.0.1:0")...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start agent %d: %w", i, err)
		}
		p.procs = append(p.procs, cmd)
		addr, err := readListening(ctx, out)
		if err != nil {
			return fmt.Errorf("start agent %d: %w", i, err)
		}
		addrs = append(addrs, addr)
	}
	pool, err := dialPool(ctx, addrs)
	p.pool = pool
	return err
}

// readListening reads the agent's "listening ADDR" line.
func readListening(ctx context.Context, r io.Reader) (string, error) {
	type res struct {
		addr string
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
		if err == nil && !ok {
			err = fmt.Errorf("unexpected first line %q", line)
		}
		ch <- res{addr, err}
	}()
	select {
	case r := <-ch:
		return r.addr, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (p *persistentProcess) do(ctx context.Context, t agent.Task) (agent.Result, error) {
	return p.pool.do(ctx, t)
}

func (p *persistentProcess) memory(context.Context) (float64, string, error) {
	var rss, pss int64
	for _, c := range p.procs {
		v, err := procmem.RSS(c.Process.Pid)
		if err != nil {
			return 0, "", err
		}
		rss += v
		m, err := procmem.Rollup(c.Process.Pid)
		if err != nil {
			return 0, "", err
		}
		pss += m.PSS
	}
	p.pss = append(p.pss, float64(pss))
	return float64(rss), "/proc/<pid>/status VmRSS, summed over agents", nil
}

func (p *persistentProcess) stop(context.Context) error {
	p.pool.close()
	for _, c := range p.procs {
		c.Process.Signal(syscall.SIGTERM)
	}
	var errs []error
	for _, c := range p.procs {
		if err := c.Wait(); err != nil {
			errs = append(errs, err)
		}
	}
	p.procs = nil
	return errors.Join(errs...)
}

// clientPool spreads tasks over persistent agents: task i goes to agent i mod n, one connection per agent.
type clientPool struct {
	mu      []sync.Mutex
	clients []*agent.Client
}

func dialPool(ctx context.Context, addrs []string) (*clientPool, error) {
	p := &clientPool{mu: make([]sync.Mutex, len(addrs))}
	for i, a := range addrs {
		c, err := agent.Dial(ctx, a)
		if err != nil {
			return p, fmt.Errorf("dial agent %d at %s: %w", i, a, err)
		}
		p.clients = append(p.clients, c)
	}
	return p, nil
}

func (p *clientPool) do(ctx context.Context, t agent.Task) (agent.Result, error) {
	i := int(t.ID % uint64(len(p.clients)))
	p.mu[i].Lock()
	defer p.mu[i].Unlock()
	return p.clients[i].Do(ctx, t)
}

func (p *clientPool) close() {
	if p == nil {
		return
	}
	for _, c := range p.clients {
		c.Close()
	}
}

// --- spawn-docker: a container per task -------------------------------------------------------------------------

// spawnDocker runs each task in a fresh container: create, start, wait, read logs, remove. via selects who does
// create/start/remove: testcontainers-go or the raw Engine API. Waiting and log reading use the Engine API in
// both, because testcontainers' wait.ForExit polls every 100 ms and its Logs adds an inspect: neither is what a
// lab that owns the container would pay, so neither belongs in the comparison.
type spawnDocker struct {
	cli    *client.Client
	image  string
	lang   string
	labels map[string]string
	viaTC  bool
	// remoteDaemon: the daemon is not on this kernel (a TCP DOCKER_HOST), so this machine's /proc/meminfo says
	// nothing about the host the containers run on and is not read.
	remoteDaemon bool

	mu sync.Mutex
	// peaks is each task container's peak memory, bytes: its own cgroup's high-water mark (v1
	// memory.max_usage_in_bytes, v2 memory.peak; peakSource names it), read by the agent — the container's init —
	// just before it replies, because runc removes the cgroup when the container exits and the stats API answers
	// an exited container with an empty record. Works with a remote daemon too. Tasks whose agent could not read
	// it are left out.
	peaks      []float64
	peakSource string
	// peakSelf is the agent process's own peak RSS (VmHWM) per task container, bytes.
	peakSelf []float64
}

// read waits for a task container, reads its reply and records its peaks. The container's whole life is the
// timed task, so the peak costs no call: the figures come in the agent's reply.
func (p *spawnDocker) read(ctx context.Context, id string) (agent.Result, error) {
	r, err := waitAndRead(ctx, p.cli, id)
	if err == nil {
		p.mu.Lock()
		if r.CgroupPeakBytes > 0 {
			p.peaks = append(p.peaks, float64(r.CgroupPeakBytes))
			p.peakSource = r.CgroupPeakSource
		}
		if r.PeakRSSBytes > 0 {
			p.peakSelf = append(p.peakSelf, float64(r.PeakRSSBytes))
		}
		p.mu.Unlock()
	}
	return r, err
}

func (p *spawnDocker) info() patternInfo {
	if p.viaTC {
		return patternInfo{Name: "spawn-docker" + langSuffix(p.lang), Language: langField(p.lang), Kind: "spawn", Runtime: "docker", Via: "testcontainers"}
	}
	return patternInfo{Name: "spawn-docker-raw" + langSuffix(p.lang), Language: langField(p.lang), Kind: "spawn", Runtime: "docker", Via: "engine-api"}
}
func (p *spawnDocker) start(context.Context) error { return nil }
func (p *spawnDocker) stop(context.Context) error  { return nil }
func (p *spawnDocker) memory(ctx context.Context) (float64, string, error) {
	if p.remoteDaemon {
		return 0, "", fmt.Errorf("host memory: %w (docker host %s)", memstat.ErrNotLocal, p.cli.DaemonHost())
	}
	v, _, err := hostMemory(ctx)
	return v, hostContextSource, err
}

// oneShotHostConfig: a one-shot agent needs no network; "none" spares the daemon a veth pair per task. Both
// paths (testcontainers and raw Engine API) get the same hardening as every lab container (read-only rootfs,
// cap-drop ALL, no-new-privileges, memory and pids limits): the same HostConfig, so the comparison stays fair.
func oneShotHostConfig(hc *container.HostConfig) {
	hc.NetworkMode = "none"
	containers.HardenHostConfig(hc, containers.AgentMemory, containers.AgentPids)
}

func (p *spawnDocker) do(ctx context.Context, t agent.Task) (agent.Result, error) {
	js, _ := json.Marshal(t)
	cmd := []string{"once", "--task", string(js)}
	var id string
	if p.viaTC {
		c, err := testcontainers.Run(ctx, p.image,
			testcontainers.WithCmd(cmd...),
			testcontainers.WithLabels(p.labels),
			testcontainers.WithHostConfigModifier(oneShotHostConfig),
			testcontainers.WithLogger(tclog.NewNoopLogger()),
			testcontainers.WithWaitStrategy(wait.ForNop(func(context.Context, wait.StrategyTarget) error { return nil })),
		)
		// Terminate without the default 10 s stop grace: the agent has exited (or is killed on error paths).
		defer func() {
			if c != nil {
				c.Terminate(context.WithoutCancel(ctx), testcontainers.StopTimeout(0))
			}
		}()
		if err != nil {
			return agent.Result{}, fmt.Errorf("run container: %w", err)
		}
		id = c.GetContainerID()
	} else {
		hc := &container.HostConfig{}
		oneShotHostConfig(hc)
		cr, err := p.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config:     &container.Config{Image: p.image, Cmd: cmd, Labels: p.labels},
			HostConfig: hc,
		})
		if err != nil {
			return agent.Result{}, fmt.Errorf("create container: %w", err)
		}
		id = cr.ID
		defer p.cli.ContainerRemove(context.WithoutCancel(ctx), id, client.ContainerRemoveOptions{Force: true})
		if _, err := p.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
			return agent.Result{}, fmt.Errorf("start container: %w", err)
		}
	}
	return p.read(ctx, id)
}

// waitAndRead waits for a one-shot container to exit and decodes its result from its stdout.
func waitAndRead(ctx context.Context, cli *client.Client, id string) (agent.Result, error) {
	out, _, code, err := dockerx.WaitOutput(ctx, cli, id)
	if err != nil {
		return agent.Result{}, err
	}
	if code != 0 {
		return agent.Result{}, fmt.Errorf("agent container exited %d", code)
	}
	return decodeResult(out)
}

// --- persistent-docker: long-running agent containers, tasks over the mapped port -------------------------------

type persistentDocker struct {
	cli    *client.Client
	image  string
	lang   string
	labels map[string]string
	agents int
	mem    *scenario.Sampler
	ctrs   []*testcontainers.DockerContainer
	pool   *clientPool
	daemon daemonGrowth // the daemon's memory before and after the agents started
}

func (p *persistentDocker) info() patternInfo {
	return patternInfo{Name: "persistent-docker" + langSuffix(p.lang), Language: langField(p.lang), Kind: "persistent", Runtime: "docker", Via: "testcontainers"}
}

func (p *persistentDocker) start(ctx context.Context) error {
	addrs := make([]string, 0, p.agents)
	p.daemon.begin(p.cli)
	for i := 0; i < p.agents; i++ {
		// RunAgent: serve --addr :9000, mapped port, wait for "listening", hardened.
		c, err := containers.RunAgent(ctx, p.image, testcontainers.WithLabels(p.labels))
		if c != nil {
			p.ctrs = append(p.ctrs, c.DockerContainer)
		}
		if err != nil {
			return fmt.Errorf("start agent %d: %w", i, err)
		}
		if err := p.mem.Add(ctx, c.GetContainerID(), "agent"); err != nil {
			return fmt.Errorf("sample agent %d: %w", i, err)
		}
		addr, err := c.Addr(ctx)
		if err != nil {
			return fmt.Errorf("agent %d: %w", i, err)
		}
		addrs = append(addrs, addr)
	}
	p.daemon.end(p.locality(ctx), len(p.ctrs))
	pool, err := dialPool(ctx, addrs)
	p.pool = pool
	return err
}

func (p *persistentDocker) do(ctx context.Context, t agent.Task) (agent.Result, error) {
	return p.pool.do(ctx, t)
}

func (p *persistentDocker) memory(ctx context.Context) (float64, string, error) {
	return p.mem.Memory(ctx, p.ids())
}

func (p *persistentDocker) ids() []string {
	ids := make([]string, len(p.ctrs))
	for i, c := range p.ctrs {
		ids[i] = c.GetContainerID()
	}
	return ids
}

// locality is whether the agents' daemon is visible here (the sampler's, found with the first container added).
func (p *persistentDocker) locality(ctx context.Context) memstat.Locality {
	if loc, ok := p.mem.S.Locality(); ok {
		return loc
	}
	if len(p.ctrs) == 0 {
		return memstat.Locality{Reason: "no container to probe"}
	}
	return memstat.DetectLocality(ctx, p.cli, p.ctrs[0].GetContainerID())
}

// peaks reads every agent container's peak memory since it started (its cgroup's high-water mark when local,
// Docker stats max_usage when remote on cgroup v1), bytes, in container order, and names the source.
func (p *persistentDocker) peaks(ctx context.Context) ([]float64, string, error) {
	loc := p.locality(ctx)
	var out []float64
	src := ""
	for _, id := range p.ids() {
		v, s, err := memstat.ContainerPeak(ctx, loc, p.cli, id)
		if err != nil {
			return out, "", err
		}
		out, src = append(out, float64(v)), s
	}
	return out, src, nil
}

func (p *persistentDocker) stop(ctx context.Context) error {
	p.pool.close()
	var errs []error
	for _, c := range p.ctrs {
		// StopTimeout(0): the agents hold no state worth a grace period, and a 10 s wait per container would
		// dominate the run.
		if err := c.Terminate(ctx, testcontainers.StopTimeout(0)); err != nil {
			errs = append(errs, err)
		}
	}
	p.ctrs = nil
	return errors.Join(errs...)
}
