// Package labtest gives integration tests a Docker client, a labelled run and the lab's images, with cleanup
// registered before anything can fail.
package labtest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/images"
)

// Run is one test's slice of the daemon: everything it creates carries Labels(role).
type Run struct {
	Client *client.Client
	ID     string
	Root   string
	build  *images.Builder
}

// Labels returns the labels a container or network of this run must carry.
func (r *Run) Labels(role string) map[string]string { return dockerx.Labels(r.ID, role) }

// Image builds (or finds) the lab image name and returns its reference.
func (r *Run) Image(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute) // agentlab/lab compiles every image's binary
	defer cancel()
	ref, err := r.build.Ensure(ctx, name)
	if err != nil {
		t.Fatalf("image %s: %v", name, err)
	}
	return ref
}

// Docker skips the test under -short, else connects, locks a fresh run id and removes the run's objects when the
// test ends.
func Docker(t testing.TB) *Run {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Docker (skipped with -short)")
	}
	ctx := context.Background()
	cli, err := dockerx.Connect(ctx)
	if err != nil {
		t.Fatalf("docker: %v", err)
	}
	id := dockerx.NewRunID(time.Now())
	lock, err := dockerx.AcquireRunLock(id)
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	root, err := images.FindRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	run := &Run{Client: cli, ID: id, Root: root, build: images.NewBuilder(cli, root, testWriter{t})}
	t.Cleanup(func() {
		run.build.Close()
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := dockerx.RemoveRun(cctx, cli, id); err != nil {
			t.Errorf("cleanup run %s: %v", id, err)
		}
		lock.Release()
		cli.Close()
	})
	return run
}

// Builder is an image builder of the run's daemon for a scenario under test, logging into t, closed when the
// test ends.
func (r *Run) Builder(t testing.TB) *images.Builder {
	b := images.NewBuilder(r.Client, r.Root, Log(t))
	t.Cleanup(func() { b.Close() })
	return b
}

// NothingLeft fails the test when a container or network of the run is still on the daemon: a scenario removes
// its own (the cleanup Docker registers would hide a leak).
func (r *Run) NothingLeft(ctx context.Context, t testing.TB) {
	t.Helper()
	f := client.Filters{}.Add("label", dockerx.LabelRunID+"="+r.ID)
	cs, err := r.Client.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := r.Client.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Items)+len(ns.Items) != 0 {
		t.Errorf("left behind: %d containers, %d networks", len(cs.Items), len(ns.Items))
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// TCPDaemon exposes the run's daemon over TCP on 127.0.0.1 (socat in front of its unix socket, stopped when the
// test ends) and returns a client on it: to the lab, a remote daemon whose containers it must not read through
// this host's files. It skips the test when socat is not installed.
func (r *Run) TCPDaemon(t testing.TB) *client.Client {
	t.Helper()
	socat, err := exec.LookPath("socat")
	if err != nil {
		t.Skip("socat not installed: cannot expose the daemon over TCP (apt-get install -y socat)")
	}
	sock, ok := strings.CutPrefix(r.Client.DaemonHost(), "unix://")
	if !ok {
		t.Skipf("daemon at %s is not a unix socket", r.Client.DaemonHost())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port for socat
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	proxy := exec.Command(socat, "TCP-LISTEN:"+addr[strings.LastIndexByte(addr, ':')+1:]+",bind=127.0.0.1,reuseaddr,fork",
		"UNIX-CONNECT:"+sock)
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Process.Kill(); proxy.Wait() })
	cli, err := client.New(client.WithHost("tcp://"+addr), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for { // socat takes a moment to listen
		if _, err := cli.Ping(ctx, client.PingOptions{}); err == nil {
			return cli
		}
		select {
		case <-ctx.Done():
			t.Fatal("socat never answered")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
