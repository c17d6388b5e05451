// Command streamclient is the ai-streaming scenario's Go client (internal/streamclient): it streams from the
// Messages API with the official SDK (--mode sdk) or the lean reader (--mode lean) and prints its Result as one
// JSON line on stdout. The API key comes from ANTHROPIC_API_KEY (never from a flag, never printed).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/agentlab/agentlab/internal/streamclient"
)

func main() {
	cfg, err := streamclient.ParseArgs(os.Args[1:], os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "streamclient:", err)
		os.Exit(2)
	}
	cfg.APIKey = os.Getenv("ANTHROPIC_API_KEY")
	if cfg.APIKey == "" {
		cfg.APIKey = "mock-key"
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	res, err := streamclient.Run(ctx, cfg)
	if res != nil {
		if eerr := res.Encode(os.Stdout); eerr != nil {
			fmt.Fprintln(os.Stderr, "streamclient:", eerr)
			os.Exit(1)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "streamclient:", err)
		os.Exit(1)
	}
}
