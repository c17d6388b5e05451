// Command lab runs agentlab's scenarios: go run ./lab --scenario NAME [flags]. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	tclog "github.com/testcontainers/testcontainers-go/log"
	"golang.org/x/term"

	"github.com/agentlab/agentlab/scenarios"
)

func main() {
	// testcontainers prints a banner on first contact; the lab reports the daemon in its results instead.
	tclog.SetDefault(tclog.NewNoopLogger())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling: a second Ctrl-C ends the process at once.
	context.AfterFunc(ctx, stop)
	code := Main(ctx, os.Args[1:], IO{
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		StderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		Now:       time.Now,
		Registry:  scenarios.Default(),
	})
	stop()
	os.Exit(code)
}
