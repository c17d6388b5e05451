// Command gobus runs the lab's Go message bus (docs/protocol.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/agentlab/agentlab/gobus"
)

func main() {
	opts, err := parseFlags(os.Args[1:], os.Getenv, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "gobus:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	opts.Logger = log
	srv, err := gobus.New(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gobus:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		log.Error("gobus: listen", "addr", opts.Addr, "err", err)
		os.Exit(1)
	}
	log.Info("gobus listening", "addr", ln.Addr().String(), "max_message_bytes", srv.Options().MaxMessageBytes,
		"queue_len", srv.Options().QueueLen, "max_connections", srv.Options().MaxConnections,
		"transport", srv.Options().Transport)
	// On SIGTERM/SIGINT, Serve shuts down (close 1001 to everyone, bounded to 4.5 s) before returning.
	if err := srv.Serve(ctx, ln); err != nil && !errors.Is(err, gobus.ErrServerClosed) {
		log.Error("gobus stopped", "err", err)
		os.Exit(1)
	}
	log.Info("gobus shut down")
}

// parseFlags reads the flags of docs/protocol.md; each falls back to its BUS_* variable, and a flag given on the
// command line wins.
func parseFlags(args []string, getenv func(string) string, errOut io.Writer) (gobus.Options, error) {
	var o gobus.Options
	fs := flag.NewFlagSet("gobus", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&o.Addr, "addr", gobus.DefaultAddr, "listen address (env BUS_ADDR)")
	fs.IntVar(&o.MaxMessageBytes, "max-message-bytes", gobus.DefaultMaxMessageBytes,
		"largest accepted message, bytes (env BUS_MAX_MESSAGE_BYTES)")
	fs.IntVar(&o.QueueLen, "queue-len", gobus.DefaultQueueLen, "outbound queue per connection, frames (env BUS_QUEUE_LEN)")
	fs.IntVar(&o.MaxConnections, "max-connections", gobus.DefaultMaxConnections,
		"concurrent WebSocket connections (env BUS_MAX_CONNECTIONS)")
	fs.StringVar(&o.Transport, "transport", gobus.TransportGorilla,
		`connection transport: "gorilla" (goroutines per connection) or "netpoll" (epoll loops; Linux) (env BUS_TRANSPORT)`)
	// Planted faults: test knobs for the lab's calibration runs, not tuning (gobus.Options.PlantDelay).
	plantDelayMS := fs.Int("plant-delay-ms", 0, "PLANTED FAULT for calibration, not tuning: hold every msg delivery this many ms (env BUS_PLANT_DELAY_MS)")
	fs.IntVar(&o.PlantDropEvery, "plant-drop-every", 0, "PLANTED FAULT for calibration, not tuning: drop every Nth msg delivery, counted as bus_dropped_total{reason=\"planted\"} (env BUS_PLANT_DROP_EVERY)")

	// Environment first, so flags parsed afterwards override it.
	for _, e := range []struct{ flag, env string }{
		{"addr", "BUS_ADDR"},
		{"max-message-bytes", "BUS_MAX_MESSAGE_BYTES"},
		{"queue-len", "BUS_QUEUE_LEN"},
		{"max-connections", "BUS_MAX_CONNECTIONS"},
		{"transport", "BUS_TRANSPORT"},
		{"plant-delay-ms", "BUS_PLANT_DELAY_MS"},
		{"plant-drop-every", "BUS_PLANT_DROP_EVERY"},
	} {
		if v := getenv(e.env); v != "" {
			if err := fs.Set(e.flag, v); err != nil {
				return o, fmt.Errorf("%s=%q: %w", e.env, v, err)
			}
		}
	}
	// Errors are reported once, by the caller, on one line.
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(errOut)
			fs.PrintDefaults()
		}
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for name, v := range map[string]int{
		"max-message-bytes": o.MaxMessageBytes, "queue-len": o.QueueLen, "max-connections": o.MaxConnections,
	} {
		if v <= 0 {
			return o, fmt.Errorf("--%s must be > 0, got %s", name, strconv.Itoa(v))
		}
	}
	if *plantDelayMS < 0 || o.PlantDropEvery < 0 {
		return o, fmt.Errorf("--plant-delay-ms and --plant-drop-every must be >= 0")
	}
	o.PlantDelay = time.Duration(*plantDelayMS) * time.Millisecond
	return o, nil
}
