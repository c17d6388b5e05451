// Command agent is the lab's agent program: `agent once` reads a task, does it, prints the result and exits;
// `agent serve` stays up and answers tasks over TCP (one JSON line per task).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/agentlab/agentlab/internal/agent"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(agent.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
