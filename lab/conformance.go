package main

import (
	"context"

	"github.com/agentlab/agentlab/internal/conformance"
)

// conformanceCmd is `lab conformance --image IMAGE [--port 8080] [--args "A B"] [--only PREFIX,...]`: a bus image
// checked against docs/protocol.md before any measurement trusts it (internal/conformance.Command).
func conformanceCmd(ctx context.Context, args []string, io IO) int {
	return conformance.Command(ctx, args, io.Stdout, io.Stderr)
}
