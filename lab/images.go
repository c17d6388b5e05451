package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/images"
	"github.com/moby/moby/client"
)

// imagesCmd is `lab images [NAMES|all] [flags]` (= --images NAMES).
func imagesCmd(ctx context.Context, args []string, io IO) int {
	names := "all"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		names, args = args[0], args[1:]
	}
	return runCmd(ctx, append([]string{"--images", names}, args...), io)
}

func imageList(s string) []string {
	if s == "all" {
		return images.Names()
	}
	return strings.Split(s, ",")
}

// buildImages is `make images`: every image, with the hash tag and the :latest alias.
func buildImages(ctx context.Context, io IO, newBuilder func(client.APIClient, string, io.Writer) *images.Builder,
	root string, names []string, skipRust bool) int {
	cli, err := dockerx.Connect(ctx)
	if err != nil {
		fmt.Fprintf(io.Stderr, "lab: %v\n", err)
		return ExitUsage
	}
	defer cli.Close()
	b := newBuilder(cli, root, io.Stderr)
	defer b.Close()
	code := ExitOK
	for _, n := range names {
		if b.Prebuilt() && images.Specs[n].Bundle {
			continue // the lab image is what runs this
		}
		if skipRust && images.Specs[n].NeedsCargo {
			fmt.Fprintf(io.Stderr, "lab: skipping %s (--skip-rust)\n", n)
			continue
		}
		ref, err := b.Ensure(ctx, n)
		switch {
		case errors.Is(err, images.ErrNoCargo):
			fmt.Fprintf(io.Stderr, "lab: skipping %s: %v (install Rust, or pass --skip-rust)\n", n, err)
		case errors.Is(err, images.ErrNoRuntime):
			fmt.Fprintf(io.Stderr, "lab: skipping %s: %v (apt-get install nodejs node-ws python3)\n", n, err)
		case err != nil:
			fmt.Fprintf(io.Stderr, "lab: %v\n", err)
			code = ExitFailed
		default:
			fmt.Fprintf(io.Stdout, "%s (= agentlab/%s:latest)\n", ref, n)
		}
	}
	return code
}
