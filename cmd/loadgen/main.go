// Command loadgen is the bus-load generator (internal/loadgen): it connects many agents to a bus, drives traffic
// and prints one JSON result line. The lab runs it in containers next to the bus; run it with -h for its flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/agentlab/agentlab/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := loadgen.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
