package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/agentlab/agentlab/gobus"
	"github.com/agentlab/agentlab/gobus/gobustest"
	"github.com/agentlab/agentlab/internal/conformance"
	"github.com/agentlab/agentlab/internal/containers"
	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/labtest"
)

// TestConformance runs the protocol suite against the Go bus in this process (fast, no Docker, runs under -short)
// and against the gobus, rustbus and rustepoll images.
func TestConformance(t *testing.T) {
	for _, tr := range []string{gobus.TransportGorilla, gobus.TransportNetpoll} {
		t.Run("bus=go-inprocess/transport="+tr, func(t *testing.T) {
			conformance.Run(t, conformance.Target{Name: "go-inprocess-" + tr, Start: startInProcess(tr)})
		})
	}
	t.Run("bus=go", func(t *testing.T) { conformance.Run(t, containerTarget(t, "gobus", nil)) })
	// The same image on its netpoll transport, chosen by environment so the cases' flags and environment apply
	// on top.
	t.Run("bus=go-netpoll", func(t *testing.T) {
		conformance.Run(t, containerTarget(t, "gobus", map[string]string{gobusTransportEnv: gobus.TransportNetpoll}))
	})
	t.Run("bus=rust", func(t *testing.T) { conformance.Run(t, containerTarget(t, "rustbus", nil)) })
	t.Run("bus=rust-epoll", func(t *testing.T) { conformance.Run(t, containerTarget(t, "rustepoll", nil)) })
}

// startInProcess serves a gobus.Server with the given transport on a loopback port. Env is the command's
// business, not the package's: cases that set it are skipped here (the container targets cover them).
func startInProcess(transport string) func(t *testing.T, o conformance.Options) conformance.Bus {
	return func(t *testing.T, o conformance.Options) conformance.Bus {
		if len(o.Env) > 0 {
			t.Skip("environment variables are read by cmd/gobus; covered by bus=go")
		}
		opts, err := gobusOptions(o.Flags)
		if err != nil {
			t.Fatal(err)
		}
		opts.Transport = transport
		return &procBus{gobustest.Start(t, opts)}
	}
}

// gobusOptions maps the protocol's flags onto gobus.Options.
func gobusOptions(flags []string) (gobus.Options, error) {
	var o gobus.Options
	for _, f := range flags {
		name, v, ok := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			return o, fmt.Errorf("flag %q: want --name=integer", f)
		}
		switch name {
		case "max-message-bytes":
			o.MaxMessageBytes = n
		case "queue-len":
			o.QueueLen = n
		case "max-connections":
			o.MaxConnections = n
		default:
			return o, fmt.Errorf("flag %q: unknown", f)
		}
	}
	return o, nil
}

type procBus struct{ *gobustest.Bus }

func (b *procBus) HTTPURL() string { return "http://" + b.Addr }

// Stop is the in-process SIGTERM: Shutdown, then wait for Serve to return.
func (b *procBus) Stop(ctx context.Context) (conformance.StopResult, error) {
	start := time.Now()
	err := b.Server.Shutdown(ctx)
	if werr := b.Wait(ctx); ctx.Err() != nil {
		return conformance.StopResult{}, ctx.Err()
	} else if err == nil {
		err = werr
	}
	res := conformance.StopResult{Elapsed: time.Since(start)}
	if err != nil {
		res.ExitCode = 1
	}
	return res, nil
}

// containerTarget builds image (once per target) and starts one container per bus, with env (nil for none) under
// each case's own environment. A missing Rust toolchain skips the target; any other build failure fails it.
func containerTarget(t *testing.T, image string, env map[string]string) conformance.Target {
	target, err := containerTargetE(t, image, env)
	if errors.Is(err, images.ErrNoCargo) {
		t.Skipf("image %s needs the Rust toolchain: %v (install rustup/cargo to run this target)", image, err)
	}
	if errors.Is(err, images.ErrNoRuntime) {
		t.Skipf("image %s: %v", image, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// containerTargetE is containerTarget returning the image build's error (images.ErrNoCargo when the Rust toolchain
// is missing) instead of skipping.
func containerTargetE(t *testing.T, image string, env map[string]string) (conformance.Target, error) {
	r := labtest.Docker(t)
	b := images.NewBuilder(r.Client, r.Root, logWriter{t})
	t.Cleanup(func() { _ = b.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	ref, err := b.Ensure(ctx, image)
	if err != nil {
		return conformance.Target{}, fmt.Errorf("image %s: %w", image, err)
	}
	start := func(t *testing.T, o conformance.Options) conformance.Bus {
		ctx := t.Context()
		// RunBus's defaults (port, /health wait, hardening: read-only rootfs, cap-drop ALL, no-new-privileges,
		// memory and pids limits), then the case's flags and environment.
		opts := []testcontainers.ContainerCustomizer{
			testcontainers.WithLogger(tclog.TestLogger(t)),
			testcontainers.WithLabels(r.Labels("bus")),
		}
		if len(o.Flags) > 0 {
			opts = append(opts, testcontainers.WithCmd(o.Flags...))
		}
		if len(env) > 0 {
			opts = append(opts, containers.WithBusEnv(env))
		}
		if len(o.Env) > 0 {
			opts = append(opts, containers.WithBusEnv(o.Env))
		}
		b, err := containers.RunBus(ctx, ref, opts...)
		testcontainers.CleanupContainer(t, b)
		if err != nil {
			t.Fatalf("start %s %v: %v", ref, o, err)
		}
		t.Cleanup(func() { dumpLogsIfFailed(t, b) })
		base, err := b.HTTPURL(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ws, err := b.WSURL(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return &containerBus{b: b, http: base, ws: ws}
	}
	name := image
	if env[gobusTransportEnv] != "" {
		name += "-" + env[gobusTransportEnv]
	}
	return conformance.Target{Name: name, Start: start}, nil
}

// gobusTransportEnv is cmd/gobus's transport variable.
const gobusTransportEnv = "BUS_TRANSPORT"

type containerBus struct {
	b        *containers.Bus
	http, ws string
}

func (b *containerBus) WSURL() string   { return b.ws }
func (b *containerBus) HTTPURL() string { return b.http }

// Stop sends SIGTERM (docker stop) with a 10 s grace, longer than the protocol's 5 s so that a late exit is
// measured rather than cut short by SIGKILL.
func (b *containerBus) Stop(ctx context.Context) (conformance.StopResult, error) {
	grace := 10 * time.Second
	start := time.Now()
	if err := b.b.Stop(ctx, &grace); err != nil {
		return conformance.StopResult{}, fmt.Errorf("docker stop: %w", err)
	}
	elapsed := time.Since(start)
	st, err := b.b.State(ctx)
	if err != nil {
		return conformance.StopResult{}, fmt.Errorf("container state: %w", err)
	}
	return conformance.StopResult{ExitCode: st.ExitCode, Elapsed: elapsed}, nil
}

// dumpLogsIfFailed logs the tail of the bus's output when the case failed, for routing the fix.
func dumpLogsIfFailed(t *testing.T, c *containers.Bus) {
	if !t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc, err := c.Logs(ctx)
	if err != nil {
		t.Logf("bus logs: %v", err)
		return
	}
	defer rc.Close()
	out, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
	if len(out) > 4000 {
		out = out[len(out)-4000:]
	}
	t.Logf("bus logs (tail):\n%s", out)
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
