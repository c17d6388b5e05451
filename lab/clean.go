package main

import (
	"context"
	"fmt"

	"github.com/agentlab/agentlab/internal/dockerx"
)

// cleanCmd is `lab clean` (= --clean).
func cleanCmd(ctx context.Context, args []string, io IO) int {
	return runCmd(ctx, append([]string{"--clean"}, args...), io)
}

func clean(ctx context.Context, io IO) int {
	cli, err := dockerx.Connect(ctx)
	if err != nil {
		fmt.Fprintf(io.Stderr, "lab: %v\n", err)
		return ExitUsage
	}
	defer cli.Close()
	n, err := dockerx.RemoveAll(ctx, cli)
	fmt.Fprintf(io.Stdout, "removed %d lab containers/networks\n", n)
	if err != nil {
		fmt.Fprintf(io.Stderr, "lab: clean: %v\n", err)
		return ExitFailed
	}
	return ExitOK
}
