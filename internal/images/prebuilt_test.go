package images_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentlab/agentlab/internal/images"
)

// A lab image's bundle: binaries come from prebuilt/, nothing is compiled, a missing Rust binary is ErrNoCargo
// (as a missing cargo is), and the lab image cannot be made from inside itself.
func TestPrebuiltBundle(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"images/agent.Dockerfile":     "FROM scratch\n",
		"images/rustbus.Dockerfile":   "FROM scratch\n",
		"images/nodeagent.Dockerfile": "FROM scratch\n",
		"prebuilt/agent":              "\x7fELF",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(images.PrebuiltEnv, dir)
	root, prebuilt, err := images.Locate(t.TempDir())
	if err != nil || root != dir || !prebuilt {
		t.Fatalf("Locate = %q, %v, %v; want the bundle", root, prebuilt, err)
	}
	b := images.NewPrebuiltBuilder(nil, root, nil)
	ctx := context.Background()
	if p, err := b.Binary(ctx, "agent"); err != nil || p != filepath.Join(dir, "prebuilt", "agent") {
		t.Errorf("Binary(agent) = %q, %v", p, err)
	}
	if _, err := b.Binary(ctx, "rustbus"); !errors.Is(err, images.ErrNoCargo) {
		t.Errorf("Binary(rustbus) with no prebuilt rustbus: %v, want ErrNoCargo", err)
	}
	if _, err := b.Binary(ctx, "gobus"); err == nil || !strings.Contains(err.Error(), "not in this lab image") {
		t.Errorf("Binary(gobus) missing: %v", err)
	}
	// A runtime image whose rootfs the bundle lacks (built where node was missing) is ErrNoRuntime.
	if _, err := b.Ensure(ctx, "nodeagent"); !errors.Is(err, images.ErrNoRuntime) {
		t.Errorf("Ensure(nodeagent) with no prebuilt rootfs: %v, want ErrNoRuntime", err)
	}
	if _, err := b.Ensure(ctx, "lab"); err == nil || !strings.Contains(err.Error(), "make images") {
		t.Errorf("Ensure(lab) from a bundle: %v", err)
	}

	t.Setenv(images.PrebuiltEnv, filepath.Join(dir, "nope"))
	if _, _, err := images.Locate(dir); err == nil || !strings.Contains(err.Error(), "not a lab image bundle") {
		t.Errorf("Locate with a bad %s: %v", images.PrebuiltEnv, err)
	}
}
