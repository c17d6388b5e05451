package images_test

import (
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/agentlab/agentlab/internal/containers"
	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/labtest"
)

// TestBuildRustbus builds agentlab/rustbus through the lab's builder (rust-message-bus/build.sh: Debian-vendored
// crates, offline cargo, crt-static) and checks the image is a non-root FROM scratch image around a static binary.
func TestBuildRustbus(t *testing.T) {
	if _, err := exec.LookPath("cargo"); err != nil {
		t.Skip("needs the Rust toolchain (cargo on PATH)")
	}
	r := labtest.Docker(t)
	ctx := t.Context()
	ref := r.Image(t, "rustbus")
	if !strings.HasPrefix(ref, "agentlab/rustbus:") || strings.HasSuffix(ref, ":latest") {
		t.Fatalf("ref %q is not hash-tagged", ref)
	}
	img, err := r.Client.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if u := img.Config.User; u == "" || u == "0" || strings.HasPrefix(u, "0:") || u == "root" {
		t.Errorf("image runs as %q, want a non-root user", u)
	}
	if !slices.Equal(img.Config.Entrypoint, []string{"/rustbus"}) {
		t.Errorf("entrypoint %q, want [/rustbus]", img.Config.Entrypoint)
	}
	if _, ok := img.Config.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("exposed ports %v, want 8080/tcp", img.Config.ExposedPorts)
	}
	if len(img.RootFS.Layers) != 1 {
		t.Errorf("want one layer (FROM scratch + the binary), got %d", len(img.RootFS.Layers))
	}

	// FROM scratch has no libc: the binary must have no ELF interpreter and need no shared library.
	b := images.NewBuilder(r.Client, r.Root, nil)
	defer b.Close()
	bin, err := b.Binary(ctx, "rustbus")
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has an ELF interpreter: not static", bin)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v (%v)", bin, libs, err)
	}

	// The image runs as the lab runs it — hardened: read-only root filesystem, no capability — and serves.
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	bus, err := containers.RunBus(rctx, ref, testcontainers.WithLabels(r.Labels("bus")))
	testcontainers.CleanupContainer(t, bus)
	if err != nil {
		t.Fatal(err)
	}
	m, err := bus.Scrape(rctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Types["bus_connections"] != "gauge" || m.Get("process_resident_memory_bytes") <= 0 {
		t.Errorf("/metrics of the hardened rustbus: types %v, rss %v", m.Types, m.Get("process_resident_memory_bytes"))
	}
}

// TestRustbusBuildScriptConcurrent runs build.sh twice at once, as two test binaries building images could: both
// succeed (the vendoring is serialised by a lock) and print only the binary's absolute path on stdout.
func TestRustbusBuildScriptConcurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs cargo (skipped with -short)")
	}
	if _, err := exec.LookPath("cargo"); err != nil {
		t.Skip("needs the Rust toolchain (cargo on PATH)")
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := images.FindRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	outs := make([]string, 2)
	var wg sync.WaitGroup
	for i := range outs {
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, "bash", "rust-message-bus/build.sh")
			cmd.Dir = root
			out, err := cmd.Output()
			if err != nil {
				t.Errorf("build %d: %v", i, err)
			}
			outs[i] = string(out)
		})
	}
	wg.Wait()
	want := filepath.Join(root, "rust-message-bus/target", images.RustTarget(runtime.GOARCH), "release/rust-message-bus") + "\n"
	for i, out := range outs {
		if out != want {
			t.Errorf("build %d stdout %q, want exactly the binary path %q", i, out, want)
		}
	}
}
