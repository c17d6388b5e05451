package images_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/agentlab/agentlab/internal/agent"
	"github.com/agentlab/agentlab/internal/containers"
	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/labtest"
)

func needRuntime(t *testing.T, rt string) images.RuntimeFS {
	t.Helper()
	r := images.Runtimes[rt]
	if _, err := r.Program(); errors.Is(err, images.ErrNoRuntime) {
		t.Skipf("%v", err)
	}
	return r
}

// A runtime's root filesystem is the same bytes every time it is made from the same host (so the image's hash tag
// is stable), owned by root with mtime 0, and holds the program, its ELF interpreter and its version.
func TestRuntimeRootfsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("reads ~150 MB of host files (skipped with -short)")
	}
	for _, rt := range []string{"node", "python"} {
		t.Run(rt, func(t *testing.T) {
			r := needRuntime(t, rt)
			ctx := context.Background()
			a, err := r.Rootfs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			b, err := r.Rootfs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Fatal("two builds of the rootfs differ")
			}
			v, _ := r.Version(ctx)
			if got := images.TarVersion(a); got != v || !strings.HasPrefix(got, rt+" ") {
				t.Errorf("version file %q, program says %q", got, v)
			}
			names := map[string]bool{}
			tr := tar.NewReader(bytes.NewReader(a))
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				names[h.Name] = true
				if h.Uid != 0 || h.Gid != 0 {
					t.Errorf("%s owned by %d:%d", h.Name, h.Uid, h.Gid)
				}
				if !h.ModTime.Equal(time.Unix(0, 0)) && !strings.HasSuffix(h.Name, ".py") {
					t.Errorf("%s has mtime %v", h.Name, h.ModTime)
				}
			}
			want := map[string][]string{
				"node":   {"usr/bin/node", "lib64/ld-linux-x86-64.so.2", "usr/share/nodejs/ws/index.js"},
				"python": {"usr/bin/python3", "lib64/ld-linux-x86-64.so.2"},
			}[rt]
			for _, w := range want {
				if !names[w] && (w != "lib64/ld-linux-x86-64.so.2" || strings.Contains(string(a), "x86-64")) {
					t.Errorf("rootfs lacks %s", w)
				}
			}
			if rt == "python" {
				for n := range names {
					if strings.Contains(n, "/test/") || strings.Contains(n, "/config-3") {
						t.Errorf("trimmed stdlib still has %s", n)
						break
					}
				}
			}
		})
	}
}

// The Node.js and Python agent images: hash-tagged, non-root, labelled with their runtime's version; as a
// hardened container (read-only, every capability dropped) the agent serves the Go client with the right digests,
// and `docker stop` ends it at once (PID 1 handles SIGTERM) rather than after the stop grace.
func TestRuntimeAgentImages(t *testing.T) {
	r := labtest.Docker(t)
	for _, c := range []struct{ image, rt string }{{"nodeagent", "node"}, {"pyagent", "python"}} {
		t.Run(c.image, func(t *testing.T) {
			rt := needRuntime(t, c.rt)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			ref := r.Image(t, c.image)
			img, err := r.Client.ImageInspect(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := rt.Version(ctx)
			if got := img.Config.Labels[images.RuntimeLabel]; got != v {
				t.Errorf("label %s = %q, want %q", images.RuntimeLabel, got, v)
			}
			if u := img.Config.User; u == "" || u == "0" || strings.HasPrefix(u, "0:") {
				t.Errorf("image runs as %q", u)
			}
			a, err := containers.RunAgent(ctx, ref, testcontainers.WithLabels(r.Labels("agent")))
			defer a.Terminate(context.WithoutCancel(ctx))
			if err != nil {
				t.Fatal(err)
			}
			addr, err := a.Addr(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cl, err := agent.Dial(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			for _, tk := range []agent.Task{{ID: 1, KiB: 64, Seed: 5}, {ID: math.MaxUint64, KiB: 2, Seed: math.MaxUint64 - 1}} {
				res, err := cl.Do(ctx, tk)
				if err != nil {
					t.Fatal(err)
				}
				if err := agent.Check(tk, res); err != nil {
					t.Error(err)
				}
			}
			grace := 10 * time.Second
			start := time.Now()
			if err := a.Stop(ctx, &grace); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("docker stop took %v: the agent ignores SIGTERM as PID 1", d)
			}
		})
	}
}
