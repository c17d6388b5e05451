// Command natsbus is the lab's reference bus: nats-server embedded in a small static main, so bus-load can compare
// the buses we build with running NATS. Clients speak the NATS protocol on --port; the monitoring endpoint
// (/varz, /connz, /healthz) serves the CPU-independent counters (in_msgs, out_msgs, connections) on --http-port.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Ports the lab uses: the NATS default client port and monitoring port.
const (
	DefaultPort     = 4222
	DefaultHTTPPort = 8222
)

func main() {
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "natsbus:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "natsbus:", err)
		os.Exit(1)
	}
}

// parseFlags maps the few settings the lab needs onto nats-server options; everything else keeps NATS's defaults.
func parseFlags(args []string, errOut io.Writer) (*server.Options, error) {
	o := &server.Options{}
	fs := flag.NewFlagSet("natsbus", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&o.Host, "addr", "0.0.0.0", "client listen host")
	fs.IntVar(&o.Port, "port", DefaultPort, "client port (NATS protocol)")
	fs.IntVar(&o.HTTPPort, "http-port", DefaultHTTPPort, "monitoring port (/varz, /connz, /healthz)")
	fs.IntVar(&o.MaxConn, "max-connections", 20000, "concurrent client connections (the buses' default)")
	var maxPayload int
	fs.IntVar(&maxPayload, "max-payload", 65536, "largest message payload, bytes (the buses' max_message_bytes)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.Port <= 0 || o.HTTPPort <= 0 || o.MaxConn <= 0 || maxPayload <= 0 {
		return nil, fmt.Errorf("--port, --http-port, --max-connections and --max-payload must be > 0")
	}
	o.MaxPayload = int32(maxPayload)
	o.HTTPHost = o.Host
	o.NoSigs = true // this main handles SIGTERM: shut down, then exit
	return o, nil
}

func run(ctx context.Context, opts *server.Options) error {
	s, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("configure nats-server: %w", err)
	}
	s.ConfigureLogger()
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return fmt.Errorf("nats-server not ready on %s:%d within 10s", opts.Host, opts.Port)
	}
	<-ctx.Done()
	s.Shutdown()
	s.WaitForShutdown()
	return nil
}
