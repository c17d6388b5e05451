package images

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// A runtime image travels in the lab image's bundle: its Dockerfile, its sources under prebuilt/<name>.files/ and
// the runtime's rootfs once; a prebuilt Builder over that bundle makes the very same build context (so the same
// hash tag) with no node or python3 of its own.
func TestRuntimeImageInBundle(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the host's python3 runtime (skipped with -short)")
	}
	if _, err := Runtimes["python"].Program(); errors.Is(err, ErrNoRuntime) {
		t.Skipf("%v", err)
	}
	wd, _ := os.Getwd()
	root, err := FindRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b := NewBuilder(nil, root, nil)
	b.arch = runtime.GOARCH
	files, err := b.bundleRuntime(ctx, Specs["pyagent"], nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"images/pyagent.Dockerfile", "prebuilt/rootfs-python.tar", "prebuilt/pyagent.files/agent.py"} {
		if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
			t.Errorf("bundle lacks %s", want)
		}
	}
	// A second runtime image of the same runtime adds no second rootfs.
	more, err := b.bundleRuntime(ctx, Spec{Name: "pyagent2", Runtime: "python", Files: []string{"agents/python/agent.py"}}, files)
	if err == nil {
		n := 0
		for _, f := range more {
			if f.name == "prebuilt/rootfs-python.tar" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("rootfs-python.tar %d times in the bundle", n)
		}
	}
	direct, v1, err := b.runtimeFiles(ctx, Specs["pyagent"])
	if err != nil {
		t.Fatal(err)
	}
	pb := NewPrebuiltBuilder(nil, dir, nil)
	fromBundle, v2, err := pb.runtimeFiles(ctx, Specs["pyagent"])
	if err != nil {
		t.Fatal(err)
	}
	if len(direct) != len(fromBundle) || v1 != v2 || v1 == "" {
		t.Fatalf("contexts differ: %d vs %d files, versions %q %q", len(direct), len(fromBundle), v1, v2)
	}
	for i := range direct {
		if direct[i].name != fromBundle[i].name || !bytes.Equal(direct[i].data, fromBundle[i].data) {
			t.Errorf("context file %s differs from the bundle's", direct[i].name)
		}
	}
	if p := pb.SourcePath("pyagent", "agents/python/agent.py"); p != filepath.Join(dir, "prebuilt/pyagent.files/agent.py") {
		t.Errorf("SourcePath in a bundle = %s", p)
	}
}
