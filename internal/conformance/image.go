package conformance

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/agentlab/agentlab/internal/containers"
	"github.com/agentlab/agentlab/internal/dockerx"
)

// ErrNoImage is returned for an image the daemon does not have (nothing is ever pulled).
var ErrNoImage = errors.New("image not found")

// ImageOptions say how to run a user's bus image.
type ImageOptions struct {
	Image string
	// Port is the port the bus listens on inside the container (docs/protocol.md: 8080).
	Port int
	// Args come before each case's flags on the command line.
	Args []string
	// Labels mark every container (dockerx.Labels: the lab's cleanup finds them by run id).
	Labels map[string]string
	// StartupTimeout bounds the wait for GET /health to answer 200.
	StartupTimeout time.Duration
}

func (o ImageOptions) withDefaults() ImageOptions {
	if o.Port == 0 {
		o.Port = 8080
	}
	if o.StartupTimeout == 0 {
		o.StartupTimeout = 30 * time.Second
	}
	return o
}

// ImageStarter starts o.Image as a hardened container (read-only, every capability dropped, the bus limits) per
// Options, published on a random host port, healthy once GET /health answers 200.
func ImageStarter(cli client.APIClient, o ImageOptions) Starter {
	o = o.withDefaults()
	port := fmt.Sprintf("%d/tcp", o.Port)
	return func(ctx context.Context, opt Options) (Bus, func(), error) {
		cmd := append(append([]string(nil), o.Args...), opt.Flags...)
		opts := []testcontainers.ContainerCustomizer{
			testcontainers.WithExposedPorts(port),
			testcontainers.WithWaitStrategy(wait.ForHTTP("/health").WithPort(port).
				WithPollInterval(50 * time.Millisecond).WithStartupTimeout(o.StartupTimeout)),
			testcontainers.WithLogger(tclog.NewNoopLogger()),
			testcontainers.WithLabels(o.Labels),
			containers.Hardened(containers.BusMemory, containers.BusPids),
		}
		if len(cmd) > 0 {
			opts = append(opts, testcontainers.WithCmd(cmd...))
		}
		if len(opt.Env) > 0 {
			opts = append(opts, testcontainers.WithEnv(opt.Env))
		}
		c, err := testcontainers.Run(ctx, o.Image, opts...)
		stop := func() {
			if c != nil {
				sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				_ = c.Terminate(sctx, testcontainers.StopTimeout(0))
			}
		}
		if err != nil {
			stop()
			return nil, func() {}, fmt.Errorf("%w: %s on port %d within %v: %v", ErrNotHealthy, o.Image, o.Port,
				o.StartupTimeout, oneLine(err))
		}
		hp, err := c.PortEndpoint(ctx, port, "")
		if err != nil {
			stop()
			return nil, func() {}, fmt.Errorf("bus endpoint: %w", err)
		}
		return &imageBus{c: c, addr: hp}, stop, nil
	}
}

type imageBus struct {
	c    *testcontainers.DockerContainer
	addr string
}

func (b *imageBus) WSURL() string   { return "ws://" + b.addr + "/ws" }
func (b *imageBus) HTTPURL() string { return "http://" + b.addr }

// Stop is docker stop (SIGTERM) with a 10 s grace, longer than the protocol's 5 s, so a late exit is measured.
func (b *imageBus) Stop(ctx context.Context) (StopResult, error) {
	grace := 10 * time.Second
	start := time.Now()
	if err := b.c.Stop(ctx, &grace); err != nil {
		return StopResult{}, fmt.Errorf("docker stop: %w", err)
	}
	elapsed := time.Since(start)
	st, err := b.c.State(ctx)
	if err != nil {
		return StopResult{}, fmt.Errorf("container state: %w", err)
	}
	return StopResult{ExitCode: st.ExitCode, Elapsed: elapsed}, nil
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// CheckImage runs every rule against image o.Image. The image must exist (nothing is pulled: ErrNoImage); a bus
// that never answers /health is ErrNotHealthy. With another port than 8080, the rule that checks --addr=:8080 is
// skipped: it names the protocol's port.
func CheckImage(ctx context.Context, cli client.APIClient, o ImageOptions, only []string, progress io.Writer) (Report, error) {
	o = o.withDefaults()
	if _, err := cli.ImageInspect(ctx, o.Image); err != nil {
		if cerrdefs.IsNotFound(err) {
			return Report{}, fmt.Errorf("%w: %s (nothing is pulled: build or load it first)", ErrNoImage, o.Image)
		}
		return Report{}, fmt.Errorf("inspect %s: %w", o.Image, err)
	}
	start := ImageStarter(cli, o)
	if o.Port != 8080 {
		inner := start
		start = func(ctx context.Context, opt Options) (Bus, func(), error) {
			for _, f := range opt.Flags {
				if strings.HasPrefix(f, "--addr") {
					return nil, func() {}, fmt.Errorf("%w: the rule sets --addr=:8080, the image listens on %d", errSkipRule, o.Port)
				}
			}
			return inner(ctx, opt)
		}
	}
	return Check(ctx, start, only, progress)
}

var errSkipRule = errors.New("not applicable")

// Command is `lab conformance --image IMAGE [--port 8080] [--args "A B"] [--only PREFIX,...]`: it checks a bus image
// against docs/protocol.md and prints each rule's result. Exit 0: every rule holds; 2: the image is missing,
// never healthy, or breaks rules (named on the last line). Every container it started is removed.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lab conformance", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	image := fs.String("image", "", "the bus image to check (must exist locally)")
	port := fs.Int("port", 8080, "the port the bus listens on in the container")
	extra := fs.String("args", "", "arguments before each rule's flags, space-separated")
	only := fs.String("only", "", "check only rules whose name starts with one of these comma-separated prefixes")
	timeout := fs.Duration("startup-timeout", 30*time.Second, "wait this long for GET /health")
	if err := fs.Parse(args); err != nil || *image == "" || fs.NArg() > 0 || *port <= 0 || *port > 65535 {
		why := "--image is required"
		if err != nil {
			why = err.Error()
		} else if fs.NArg() > 0 {
			why = "unexpected argument " + strconv.Quote(fs.Arg(0))
		} else if *port <= 0 || *port > 65535 {
			why = fmt.Sprintf("--port %d out of range", *port)
		}
		fmt.Fprintf(stderr, "lab conformance: %s (usage: lab conformance --image IMAGE [--port 8080] [--args \"A B\"] [--only PREFIX,...])\n", why)
		return 2
	}
	cli, err := dockerx.Connect(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "lab conformance: %v\n", err)
		return 2
	}
	defer cli.Close()
	runID := dockerx.NewRunID(time.Now())
	lock, err := dockerx.AcquireRunLock(runID)
	if err != nil {
		fmt.Fprintf(stderr, "lab conformance: %v\n", err)
		return 2
	}
	defer lock.Release()
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := dockerx.RemoveRun(cctx, cli, runID); err != nil {
			fmt.Fprintf(stderr, "lab conformance: cleanup of run %s: %v\n", runID, err)
		}
	}()
	var prefixes []string
	if *only != "" {
		prefixes = strings.Split(*only, ",")
	}
	o := ImageOptions{Image: *image, Port: *port, Args: strings.Fields(*extra), Labels: dockerx.Labels(runID, "bus"),
		StartupTimeout: *timeout}
	fmt.Fprintf(stdout, "checking %s against docs/protocol.md (port %d)\n", *image, *port)
	rep, err := CheckImage(ctx, cli, o, prefixes, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "lab conformance: %v\n", oneLine(err))
		return 2
	}
	broken := rep.Broken()
	if len(broken) == 0 {
		fmt.Fprintf(stdout, "%s: conforms: %d rules checked, all hold\n", *image, len(rep.Rules))
		return 0
	}
	names := make([]string, len(broken))
	for i, b := range broken {
		names[i] = b.Name
	}
	fmt.Fprintf(stderr, "lab conformance: %s breaks %d of %d rules: %s\n", *image, len(broken), len(rep.Rules),
		strings.Join(names, ", "))
	return 2
}
