package conformance_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/internal/conformance"
	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/labtest"
)

// lab conformance: a conforming image passes (exit 0); a bus that only echoes fails with the rules it breaks
// named (exit 2); a missing image and one that never answers /health are one line and exit 2; no container of
// the check is left behind.
func TestCommand(t *testing.T) {
	r := labtest.Docker(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	b := images.NewBuilder(r.Client, r.Root, logWriter{t})
	t.Cleanup(func() { _ = b.Close() })
	echo, err := b.EnsureAdhoc(ctx, images.Adhoc{Repo: "agentlab-test/echobus", GoPackage: "./internal/conformance/testdata/echobus"})
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := conformance.Command(ctx, args, &out, &errb)
		return code, out.String(), errb.String()
	}
	left := func(img string) int {
		cs, err := r.Client.ContainerList(ctx, client.ContainerListOptions{All: true,
			Filters: make(client.Filters).Add("ancestor", img)})
		if err != nil {
			t.Fatal(err)
		}
		return len(cs.Items)
	}

	t.Run("conforming", func(t *testing.T) {
		ref := r.Image(t, "gobus")
		code, out, errb := run("--image", ref)
		if code != 0 || !strings.Contains(out, "all hold") {
			t.Fatalf("gobus: exit %d\n%s\n%s", code, out, errb)
		}
	})
	t.Run("echo-only", func(t *testing.T) {
		code, out, errb := run("--image", echo, "--only", "register/,send/direct,health")
		if code != 2 || strings.Count(strings.TrimSpace(errb), "\n") != 0 || !strings.Contains(errb, "breaks") ||
			!strings.Contains(errb, "register/") || !strings.Contains(out, "fail") {
			t.Fatalf("echo bus: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errb)
		}
		if n := left(echo); n != 0 {
			t.Errorf("%d containers of %s left", n, echo)
		}
	})
	t.Run("missing-image", func(t *testing.T) {
		code, _, errb := run("--image", "agentlab-test/no-such-image:never")
		if code != 2 || !strings.Contains(errb, "image not found") || strings.Count(strings.TrimSpace(errb), "\n") != 0 {
			t.Fatalf("missing image: exit %d, stderr %q", code, errb)
		}
	})
	t.Run("never-healthy", func(t *testing.T) {
		code, _, errb := run("--image", echo, "--port", "9999", "--startup-timeout", "2s", "--only", "ping")
		if code != 2 || !strings.Contains(errb, "never became healthy") || strings.Count(strings.TrimSpace(errb), "\n") != 0 {
			t.Fatalf("never healthy: exit %d, stderr %q", code, errb)
		}
		if n := left(echo); n != 0 {
			t.Errorf("%d containers of %s left", n, echo)
		}
	})
	t.Run("usage", func(t *testing.T) {
		if code, _, errb := run("--port", "8080"); code != 2 || !strings.Contains(errb, "--image is required") {
			t.Fatalf("no image: exit %d, %q", code, errb)
		}
	})
}
