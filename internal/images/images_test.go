package images_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/labtest"
)

func TestAgentImageScratchNonRootCached(t *testing.T) {
	r := labtest.Docker(t)
	ctx := context.Background()
	ref := r.Image(t, "agent")
	if !strings.HasPrefix(ref, "agentlab/agent:") || strings.HasSuffix(ref, ":latest") {
		t.Fatalf("ref %q is not hash-tagged", ref)
	}
	img, err := r.Client.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if u := img.Config.User; u == "" || u == "0" || strings.HasPrefix(u, "0:") || u == "root" {
		t.Errorf("image runs as %q, want a non-root user", u)
	}
	if len(img.RootFS.Layers) != 1 {
		t.Errorf("want one layer (FROM scratch + the binary), got %d", len(img.RootFS.Layers))
	}
	latest, err := r.Client.ImageInspect(ctx, "agentlab/agent:latest")
	if err != nil || latest.ID != img.ID {
		t.Errorf(":latest does not alias %s: %v", ref, err)
	}

	// A second builder over unchanged code finds the image instead of building it.
	var log bytes.Buffer
	b := images.NewBuilder(r.Client, r.Root, &log)
	defer b.Close()
	ref2, err := b.Ensure(ctx, "agent")
	if err != nil {
		t.Fatal(err)
	}
	if ref2 != ref || strings.Contains(log.String(), "building image") {
		t.Errorf("unchanged source rebuilt: %s vs %s, log %q", ref2, ref, log.String())
	}
}

func TestUnknownImage(t *testing.T) {
	b := images.NewBuilder((*client.Client)(nil), t.TempDir(), nil)
	if _, err := b.Ensure(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), "unknown image") {
		t.Errorf("err = %v", err)
	}
}

func TestGOARCH(t *testing.T) {
	for machine, want := range map[string]string{"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64",
		"arm64": "arm64", "armv7l": "arm", "s390x": "s390x"} {
		if got, ok := images.GOARCH(machine); !ok || got != want {
			t.Errorf("GOARCH(%q) = %q, %v; want %q", machine, got, ok, want)
		}
	}
	if _, ok := images.GOARCH("mips-ish"); ok {
		t.Error("an unknown machine must not map")
	}
	if images.RustTarget("amd64") != "x86_64-unknown-linux-gnu" || images.RustTarget("arm64") != "aarch64-unknown-linux-gnu" {
		t.Error("RustTarget")
	}
}

// TestArchitectureIsTheDaemons: images are built for the daemon's architecture (docker info), here the host's.
func TestArchitectureIsTheDaemons(t *testing.T) {
	r := labtest.Docker(t)
	info, err := r.Client.Info(t.Context(), client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, ok := images.GOARCH(info.Info.Architecture)
	if !ok {
		t.Skipf("daemon architecture %q has no GOARCH", info.Info.Architecture)
	}
	b := images.NewBuilder(r.Client, r.Root, nil)
	defer b.Close()
	if got := b.Architecture(t.Context()); got != want {
		t.Errorf("Architecture = %q, want the daemon's %q (docker info %q)", got, want, info.Info.Architecture)
	}
}
