package containers_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/agentlab/agentlab/internal/agent"
	"github.com/agentlab/agentlab/internal/containers"
	"github.com/agentlab/agentlab/internal/labtest"
	"github.com/agentlab/agentlab/internal/loadgen"
)

func TestHardenHostConfig(t *testing.T) {
	hc := &container.HostConfig{CapDrop: []string{"ALL"}}
	hc.Memory = 64 << 20
	containers.HardenHostConfig(hc, 1<<30, 100)
	containers.HardenHostConfig(hc, 1<<30, 200) // idempotent, and an existing limit is kept
	if !hc.ReadonlyRootfs || !slices.Equal(hc.CapDrop, []string{"ALL"}) ||
		!slices.Equal(hc.SecurityOpt, []string{containers.NoNewPrivileges}) {
		t.Errorf("not hardened: %+v", hc)
	}
	if hc.Memory != 64<<20 || hc.PidsLimit == nil || *hc.PidsLimit != 100 {
		t.Errorf("limits: memory %d pids %v, want the caller's 64 MiB and the first 100", hc.Memory, hc.PidsLimit)
	}
}

// checkHardened inspects a running container for every hardening field.
func checkHardened(t *testing.T, cli *client.Client, id string, mem, pids int64) {
	t.Helper()
	ins, err := cli.ContainerInspect(t.Context(), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hc := ins.Container.HostConfig
	if !hc.ReadonlyRootfs || !slices.Contains(hc.CapDrop, "ALL") || !slices.Contains(hc.SecurityOpt, "no-new-privileges") {
		t.Errorf("not hardened: read-only %v cap-drop %v security-opt %v", hc.ReadonlyRootfs, hc.CapDrop, hc.SecurityOpt)
	}
	if hc.Memory != mem || hc.PidsLimit == nil || *hc.PidsLimit != pids {
		t.Errorf("limits: memory %d pids %v, want %d and %d", hc.Memory, hc.PidsLimit, mem, pids)
	}
}

// TestRunBus runs each bus image hardened, with a caller's memory limit that must win over the default: it
// answers over WebSocket at WSURL, Scrape sees the ping, and Terminate does not wait a stop grace.
func TestRunBus(t *testing.T) {
	r := labtest.Docker(t)
	for _, name := range []string{"gobus", "rustbus"} {
		t.Run("bus="+name, func(t *testing.T) {
			if _, err := exec.LookPath("cargo"); err != nil && name == "rustbus" {
				t.Skip("needs the Rust toolchain (cargo on PATH)")
			}
			ref := r.Image(t, name)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			b, err := containers.RunBus(ctx, ref,
				testcontainers.WithLabels(r.Labels("bus")),
				containers.WithMaxConnections(5),
				testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.Memory = 256 << 20 }))
			testcontainers.CleanupContainer(t, b)
			if err != nil {
				t.Fatal(err)
			}
			checkHardened(t, r.Client, b.GetContainerID(), 256<<20, containers.BusPids)

			u, err := b.WSURL(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(u, "ws://") || !strings.HasSuffix(u, "/ws") {
				t.Errorf("WSURL %q", u)
			}
			ws, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).DialContext(ctx, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","seq":1}`)); err != nil {
				t.Fatal(err)
			}
			var pong map[string]any
			if err := ws.ReadJSON(&pong); err != nil || pong["type"] != "pong" {
				t.Fatalf("got %v (%v), want pong", pong, err)
			}
			// The counter is updated by the bus after the pong may have left: poll briefly.
			deadline := time.Now().Add(3 * time.Second)
			for {
				m, err := b.Scrape(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if m.Types["bus_connections"] != "gauge" || m.Get("process_resident_memory_bytes") <= 0 {
					t.Fatalf("scrape: types %v, rss %v", m.Types, m.Get("process_resident_memory_bytes"))
				}
				if m.Get("bus_messages_in_total", "type", "ping") == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("bus_messages_in_total{type=ping} = %v after 3 s, want 1", m.Get("bus_messages_in_total", "type", "ping"))
				}
				time.Sleep(20 * time.Millisecond) // polling the bus's counters
			}
			ws.Close()

			start := time.Now()
			if err := b.Terminate(ctx); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Terminate took %v: it waited a stop grace", d)
			}
		})
	}
}

// TestRunBusGrace: a caller's StopTimeout wins over the module's 0, so a SIGTERM test gets its grace, and the
// bus exits 0 by itself.
func TestRunBusGrace(t *testing.T) {
	r := labtest.Docker(t)
	ref := r.Image(t, "gobus")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	b, err := containers.RunBus(ctx, ref, testcontainers.WithLabels(r.Labels("bus")))
	testcontainers.CleanupContainer(t, b)
	if err != nil {
		t.Fatal(err)
	}
	grace := 10 * time.Second
	if err := b.Stop(ctx, &grace); err != nil {
		t.Fatal(err)
	}
	st, err := b.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 0 {
		t.Errorf("exit %d after SIGTERM with a grace, want 0 (137 = killed: the grace was not given)", st.ExitCode)
	}
}

// TestRunAgent runs a persistent agent hardened and has it do one task.
func TestRunAgent(t *testing.T) {
	r := labtest.Docker(t)
	ref := r.Image(t, "agent")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	a, err := containers.RunAgent(ctx, ref, testcontainers.WithLabels(r.Labels("agent")))
	testcontainers.CleanupContainer(t, a)
	if err != nil {
		t.Fatal(err)
	}
	checkHardened(t, r.Client, a.GetContainerID(), containers.AgentMemory, containers.AgentPids)
	addr, err := a.Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := agent.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	task := agent.Task{ID: 7, KiB: 64, Seed: 3}
	res, err := c.Do(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Check(task, res); err != nil {
		t.Error(err)
	}
}

// TestRunGenerator runs a hardened generator against a hardened bus on a lab network, by the bus's alias, for a
// short targeted run: it exits 0 by itself (RunGenerator does not wait) with a decodable result on stdout.
func TestRunGenerator(t *testing.T) {
	r := labtest.Docker(t)
	busRef, genRef := r.Image(t, "gobus"), r.Image(t, "loadgen")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	nw, err := network.New(ctx, network.WithLabels(r.Labels("network")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nw.Remove(context.WithoutCancel(ctx)) })
	b, err := containers.RunBus(ctx, busRef, testcontainers.WithLabels(r.Labels("bus")),
		containers.WithNetworkAlias(nw, "bus"))
	testcontainers.CleanupContainer(t, b)
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadgen.DefaultConfig()
	cfg.URL, cfg.MetricsURL = "ws://bus:8080/ws", "http://bus:8080/metrics"
	cfg.Agents, cfg.TotalAgents = 4, 4
	cfg.Pattern, cfg.Model, cfg.Window = loadgen.PatternTargeted, loadgen.ModelClosed, 2
	cfg.Hold, cfg.Warmup, cfg.Duration, cfg.Drain = 0, 100*time.Millisecond, 300*time.Millisecond, 200*time.Millisecond
	g, err := containers.RunGenerator(ctx, genRef, testcontainers.WithLabels(r.Labels("loadgen")),
		network.WithNetwork(nil, nw), testcontainers.WithCmd(cfg.Args()...))
	testcontainers.CleanupContainer(t, g)
	if err != nil {
		t.Fatal(err)
	}
	checkHardened(t, r.Client, g.GetContainerID(), containers.GeneratorMemory, containers.GeneratorPids)
	w := r.Client.ContainerWait(ctx, g.GetContainerID(), client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	var code int64
	select {
	case res := <-w.Result:
		code = res.StatusCode
	case err := <-w.Error:
		t.Fatal(err)
	}
	logs, err := r.Client.ContainerLogs(ctx, g.GetContainerID(), client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	var out, errb bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errb, logs); err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Fatalf("generator exit %d: %s", code, errb.String())
	}
	res, err := loadgen.DecodeResult(out.Bytes())
	if err != nil {
		t.Fatalf("result: %v\nstderr: %s", err, errb.String())
	}
	if res.Sessions.Registered != 4 || res.Received == 0 {
		t.Errorf("registered %d, received %d: want 4 agents and traffic", res.Sessions.Registered, res.Received)
	}
}

func TestRunBusBadImage(t *testing.T) {
	r := labtest.Docker(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	b, err := containers.RunBus(ctx, "agentlab/does-not-exist:nope", testcontainers.WithLabels(r.Labels("bus")))
	testcontainers.CleanupContainer(t, b)
	if err == nil || !strings.Contains(err.Error(), "run bus agentlab/does-not-exist:nope") {
		t.Errorf("err = %v", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Error("a missing image must fail fast, not time out")
	}
}

// TestRunNATS: agentlab/nats starts hardened, the generator's NATS adapter drives it, and /varz counts the
// deliveries (out_msgs) the generator received.
func TestRunNATS(t *testing.T) {
	r := labtest.Docker(t)
	ref := r.Image(t, "nats")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	n, err := containers.RunNATS(ctx, ref, testcontainers.WithLabels(r.Labels("bus")), containers.WithNATSMaxConnections(50))
	testcontainers.CleanupContainer(t, n)
	if err != nil {
		t.Fatal(err)
	}
	checkHardened(t, r.Client, n.GetContainerID(), containers.BusMemory, containers.BusPids)
	u, err := n.ClientURL(ctx)
	if err != nil || !strings.HasPrefix(u, "nats://") {
		t.Fatalf("ClientURL %q, %v", u, err)
	}
	cfg := loadgen.DefaultConfig()
	cfg.URL, cfg.Agents, cfg.Rate = u, 10, 500
	cfg.Hold, cfg.Warmup, cfg.Duration, cfg.Drain = 0, 100*time.Millisecond, 400*time.Millisecond, time.Second
	res, err := loadgen.Run(ctx, cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	v, err := n.Varz(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.ReceivedTotal == 0 || v.OutMsgs != res.ReceivedTotal || v.InMsgs != res.SentTotal || v.Mem <= 0 {
		t.Fatalf("varz %+v; generator sent %d, received %d", v, res.SentTotal, res.ReceivedTotal)
	}
}
