package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Adhoc is an image outside Specs — a test's helper program — built the way the lab's images are: a static Go
// binary copied into a FROM scratch image tagged <Repo>:<hash of Dockerfile and binary> plus :latest, and not
// rebuilt while both are unchanged.
type Adhoc struct {
	// Repo is the image repository, e.g. agentlab-test/alloc.
	Repo string
	// GoPackage is the main package (relative to the root, or to ModuleDir for a nested module).
	GoPackage string
	ModuleDir string
	// Dockerfile is the build's Dockerfile; the context holds the binary as "bin". Nil means DefaultAdhocDockerfile.
	Dockerfile []byte
}

// DefaultAdhocDockerfile runs the binary as nobody.
const DefaultAdhocDockerfile = "FROM scratch\nCOPY bin /app\nUSER 65534:65534\nENTRYPOINT [\"/app\"]\n"

// EnsureAdhoc makes sure image a exists for the current source and returns its hash-tagged reference.
func (b *Builder) EnsureAdhoc(ctx context.Context, a Adhoc) (string, error) {
	if a.Repo == "" || a.GoPackage == "" {
		return "", fmt.Errorf("adhoc image: Repo and GoPackage are required")
	}
	dockerfile := a.Dockerfile
	if dockerfile == nil {
		dockerfile = []byte(DefaultAdhocDockerfile)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// The binary cache is keyed by spec name; the "adhoc_" prefix keeps these apart from Specs, and the name is also the
	// binary's file name, so no slashes.
	name := "adhoc_" + strings.NewReplacer("/", "_", ":", "_").Replace(a.Repo)
	bin, err := b.binary(ctx, Spec{Name: name, GoPackage: a.GoPackage, ModuleDir: a.ModuleDir}, b.daemonArch(ctx))
	if err != nil {
		return "", fmt.Errorf("image %s: %w", a.Repo, err)
	}
	binary, err := os.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", a.Repo, err)
	}
	ref, err := b.buildImage(ctx, a.Repo, map[string]string{"agentlab.image": filepath.Base(a.Repo)}, dockerfile, ctxFile{name: "bin", mode: 0o755, data: binary})
	if err != nil {
		return "", fmt.Errorf("image %s: %w", a.Repo, err)
	}
	return ref, nil
}

// buildImage tags or builds repo:<hash> from a Dockerfile and the context's files (the same steps as build, for a
// Dockerfile that is not under images/). The hash covers the Dockerfile and every file; the binary "bin" counts
// by its bytes alone, so a one-binary image keeps the tag it always had, and other files (the lab image's
// bundle) by name, mode and bytes.
func (b *Builder) buildImage(ctx context.Context, repo string, labels map[string]string, dockerfile []byte, files ...ctxFile) (string, error) {
	h := sha256.New()
	h.Write(dockerfile)
	size := 0
	for _, f := range files {
		if f.name != "bin" {
			fmt.Fprintf(h, "\x00%s\x00%o\x00%d\x00", f.name, f.mode, len(f.data))
		}
		h.Write(f.data)
		size += len(f.data)
	}
	ref := repo + ":" + hex.EncodeToString(h.Sum(nil))[:12]
	latest := repo + ":latest"
	if _, err := b.cli.ImageInspect(ctx, ref); err == nil {
		_, err := b.cli.ImageTag(ctx, client.ImageTagOptions{Source: ref, Target: latest})
		return ref, err
	} else if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspect %s: %w", ref, err)
	}
	fmt.Fprintf(b.log, "building image %s (%d KiB of binaries)\n", ref, size/1024)
	buildCtx, err := tarContext(dockerfile, files)
	if err != nil {
		return "", err
	}
	res, err := b.cli.ImageBuild(ctx, buildCtx, client.ImageBuildOptions{
		Tags:        []string{ref, latest},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		Labels:      labels,
	})
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	defer res.Body.Close()
	if err := drainBuild(res.Body); err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	return ref, nil
}
