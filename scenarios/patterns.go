package scenarios

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/agentlab/agentlab/internal/agent"
	"github.com/agentlab/agentlab/internal/procmem"
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
	Name    string `json:"name"`
	Kind    string `json:"kind"`          // spawn | persistent
	Runtime string `json:"runtime"`       // process | docker
	Via     string `json:"via,omitempty"` // testcontainers | engine-api (docker spawn)
}

const hostMemSource = "host /proc/meminfo MemTotal−MemAvailable (spawned agents live too briefly to sample)"

func hostMemory(context.Context) (float64, string, error) {
	v, err := procmem.HostUsed()
	return float64(v), hostMemSource, err
}

// --- spawn-process: fork/exec the agent per task --------------------------------------------------------------

type spawnProcess struct {
	bin     string
	mu      sync.Mutex
	peakRSS []float64 // child max RSS per task, bytes (getrusage ru_maxrss)
}

func (p *spawnProcess) info() patternInfo {
	return patternInfo{Name: "spawn-process", Kind: "spawn", Runtime: "process"}
}
func (p *spawnProcess) start(context.Context) error { return nil }
func (p *spawnProcess) stop(context.Context) error  { return nil }
func (p *spawnProcess) memory(ctx context.Context) (float64, string, error) {
	return hostMemory(ctx)
}

func (p *spawnProcess) do(ctx context.Context, t agent.Task) (agent.Result, error) {
	js, _ := json.Marshal(t)
	cmd := exec.CommandContext(ctx, p.bin, "once", "--task", string(js))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return agent.Result{}, fmt.Errorf("agent once: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		p.mu.Lock()
		p.peakRSS = append(p.peakRSS, float64(ru.Maxrss)*1024)
		p.mu.Unlock()
	}
	return decodeResult(out.Bytes())
}

func decodeResult(b []byte) (agent.Result, error) {
	var r agent.Result
	if err := json.Unmarshal(bytes.TrimSpace(b), &r); err != nil {
		return r, fmt.Errorf("agent output %q: %w", truncate(b, 200), err)
	}
	return r, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// --- persistent-process: long-running agent processes, tasks over TCP on loopback --------------------------------

type persistentProcess struct {
	bin    string
	agents int
	procs  []*exec.Cmd
	pool   *clientPool
}

func (p *persistentProcess) info() patternInfo {
	return patternInfo{Name: "persistent-process", Kind: "persistent", Runtime: "process"}
}

func (p *persistentProcess) start(ctx context.Context) error {
	addrs := make([]string, 0, p.agents)
	for i := 0; i < p.agents; i++ {
		// Not CommandContext: the agents must outlive start's context; stop ends them.
		cmd := exec.Command(p.bin, "serve", "--addr", "127.0.0.1:0")
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
	var sum int64
	for _, c := range p.procs {
		v, err := procmem.RSS(c.Process.Pid)
		if err != nil {
			return 0, "", err
		}
		sum += v
	}
	return float64(sum), "/proc/<pid>/status VmRSS, summed over agents", nil
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
	labels map[string]string
	viaTC  bool
}

func (p *spawnDocker) info() patternInfo {
	if p.viaTC {
		return patternInfo{Name: "spawn-docker", Kind: "spawn", Runtime: "docker", Via: "testcontainers"}
	}
	return patternInfo{Name: "spawn-docker-raw", Kind: "spawn", Runtime: "docker", Via: "engine-api"}
}
func (p *spawnDocker) start(context.Context) error { return nil }
func (p *spawnDocker) stop(context.Context) error  { return nil }
func (p *spawnDocker) memory(ctx context.Context) (float64, string, error) {
	return hostMemory(ctx)
}

// oneShotHostConfig: a one-shot agent needs no network; "none" spares the daemon a veth pair per task.
func oneShotHostConfig(hc *container.HostConfig) { hc.NetworkMode = "none" }

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
	return waitAndRead(ctx, p.cli, id)
}

// waitAndRead waits for a one-shot container to exit and decodes its result from its stdout.
func waitAndRead(ctx context.Context, cli *client.Client, id string) (agent.Result, error) {
	w := cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case r := <-w.Result:
		if r.StatusCode != 0 {
			return agent.Result{}, fmt.Errorf("agent container exited %d", r.StatusCode)
		}
	case err := <-w.Error:
		return agent.Result{}, fmt.Errorf("wait: %w", err)
	}
	logs, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return agent.Result{}, fmt.Errorf("logs: %w", err)
	}
	defer logs.Close()
	var out, errb bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errb, logs); err != nil {
		return agent.Result{}, fmt.Errorf("logs: %w", err)
	}
	return decodeResult(out.Bytes())
}

// --- persistent-docker: long-running agent containers, tasks over the mapped port -------------------------------

type persistentDocker struct {
	cli    *client.Client
	image  string
	labels map[string]string
	agents int
	mem    *containerSampler
	ctrs   []*testcontainers.DockerContainer
	pool   *clientPool
}

func (p *persistentDocker) info() patternInfo {
	return patternInfo{Name: "persistent-docker", Kind: "persistent", Runtime: "docker", Via: "testcontainers"}
}

func (p *persistentDocker) start(ctx context.Context) error {
	addrs := make([]string, 0, p.agents)
	for i := 0; i < p.agents; i++ {
		c, err := testcontainers.Run(ctx, p.image,
			testcontainers.WithCmd("serve", "--addr", ":9000"),
			testcontainers.WithExposedPorts("9000/tcp"),
			testcontainers.WithLabels(p.labels),
			testcontainers.WithLogger(tclog.NewNoopLogger()),
			testcontainers.WithWaitStrategy(wait.ForLog("listening").WithStartupTimeout(30*time.Second)),
		)
		if c != nil {
			p.ctrs = append(p.ctrs, c)
		}
		if err != nil {
			return fmt.Errorf("start agent %d: %w", i, err)
		}
		if err := p.mem.add(ctx, c.GetContainerID(), "agent"); err != nil {
			return fmt.Errorf("sample agent %d: %w", i, err)
		}
		host, err := c.Host(ctx)
		if err != nil {
			return fmt.Errorf("agent %d host: %w", i, err)
		}
		port, err := c.MappedPort(ctx, "9000/tcp")
		if err != nil {
			return fmt.Errorf("agent %d port: %w", i, err)
		}
		addrs = append(addrs, net.JoinHostPort(host, port.Port()))
	}
	pool, err := dialPool(ctx, addrs)
	p.pool = pool
	return err
}

func (p *persistentDocker) do(ctx context.Context, t agent.Task) (agent.Result, error) {
	return p.pool.do(ctx, t)
}

func (p *persistentDocker) memory(ctx context.Context) (float64, string, error) {
	ids := make([]string, len(p.ctrs))
	for i, c := range p.ctrs {
		ids[i] = c.GetContainerID()
	}
	return p.mem.Memory(ctx, ids)
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
