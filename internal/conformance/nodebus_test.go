package conformance_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/agentlab/agentlab/internal/conformance"
	"github.com/agentlab/agentlab/internal/images"
)

// TestConformanceNode runs the suite against the Node.js bus (nodebus/node-message-bus.js): as a host process on a
// loopback port (no Docker; runs under -short) and as the agentlab/nodebus image. A host without node, or without
// ws (Debian's node-ws), skips with one line.
func TestConformanceNode(t *testing.T) {
	t.Run("bus=node-process", func(t *testing.T) { conformance.Run(t, nodeProcessTarget(t)) })
	t.Run("bus=node", func(t *testing.T) { conformance.Run(t, containerTarget(t, "nodebus", nil)) })
}

func nodeProcessTarget(t *testing.T) conformance.Target {
	node, err := images.Runtimes["node"].Program()
	if err != nil {
		t.Skipf("%v", err)
	}
	if _, err := os.Stat("/usr/share/nodejs/ws"); err != nil {
		t.Skip("the Node.js bus needs ws: apt-get install node-ws")
	}
	wd, _ := os.Getwd()
	root, err := images.FindRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "nodebus", "node-message-bus.js")
	return conformance.Target{Name: "node-process", Start: func(t *testing.T, o conformance.Options) conformance.Bus {
		if len(o.Env) > 0 {
			t.Skip("environment and --addr cases need the container's fixed port; covered by bus=node")
		}
		args := append([]string{script, "--addr=127.0.0.1:0"}, o.Flags...)
		cmd := exec.Command(node, args...)
		cmd.Env = append(os.Environ(), "NODE_PATH=/usr/share/nodejs")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		b := &procNode{cmd: cmd, done: make(chan struct{})}
		cmd.Stderr = &b.stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			b.err = cmd.Wait()
			close(b.done)
		}()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-b.done
			if t.Failed() {
				t.Logf("node bus stderr:\n%s", b.stderr.String())
			}
		})
		line, err := bufio.NewReader(stdout).ReadString('\n')
		mm := listenRE.FindStringSubmatch(line)
		if err != nil || mm == nil {
			t.Fatalf("node bus first line %q, %v; stderr %s", line, err, b.stderr.String())
		}
		go func() { _, _ = bufio.NewReader(stdout).WriteTo(discard{}) }()
		b.addr = "127.0.0.1:" + mm[1]
		return b
	}}
}

var listenRE = regexp.MustCompile(`listening on \S+:(\d+)`)

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

type procNode struct {
	cmd    *exec.Cmd
	addr   string
	done   chan struct{}
	err    error
	stderr bytes.Buffer
}

func (b *procNode) WSURL() string   { return "ws://" + b.addr + "/ws" }
func (b *procNode) HTTPURL() string { return "http://" + b.addr }

// Stop is SIGTERM to the process, then its exit.
func (b *procNode) Stop(ctx context.Context) (conformance.StopResult, error) {
	start := time.Now()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return conformance.StopResult{}, err
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		return conformance.StopResult{}, ctx.Err()
	}
	res := conformance.StopResult{Elapsed: time.Since(start)}
	var ee *exec.ExitError
	if errors.As(b.err, &ee) {
		res.ExitCode = ee.ExitCode()
	} else if b.err != nil {
		return res, b.err
	}
	return res, nil
}
