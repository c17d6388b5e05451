package agent

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/agentlab/agentlab/internal/procmem"
)

const usage = `usage: agent once [--task JSON] [--kib N]   (task from --task or stdin)
       (every mode: [--plant-leak-kib N] [--plant-startup-ms N], planted faults for calibration, not tuning)
       agent serve [--addr HOST:PORT] [--kib N]
       agent converse --bus ws://bus:8080/ws --id ID [--lab ID] [--kib N] [--retransmit D] [--ping D] [--dead D] [--max-run D]`

// Main runs the agent command line and returns its exit status: 0 ok, 1 the task failed, 2 usage.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("agent "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	kib := fs.Int("kib", 64, "size of tasks that name none, KiB")
	task := fs.String("task", "", "the task as JSON (once); default: read stdin")
	addr := fs.String("addr", ":9000", "listen address (serve)")
	conv := converseFlags(fs)
	plant := plantFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		fmt.Fprintf(stderr, "agent: %v\n%s\n", err, usage)
		return 2
	}
	if err := plant.resolve(fs, os.Getenv); err != nil {
		fmt.Fprintf(stderr, "agent: %v\n", err)
		return 2
	}
	if plant.startup > 0 {
		// A planted slow start: the agent is not ready (no task done, no port open) before it has passed.
		select {
		case <-time.After(plant.startup):
		case <-ctx.Done():
			return 1
		}
	}
	if *kib < 0 || *kib > MaxKiB {
		fmt.Fprintf(stderr, "agent: --kib %d out of range 0..%d\n", *kib, MaxKiB)
		return 2
	}
	switch args[0] {
	case "once":
		in := []byte(*task)
		if *task == "" {
			b, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
			if err != nil {
				fmt.Fprintf(stderr, "agent: read task: %v\n", err)
				return 1
			}
			in = b
		}
		t, err := ParseTask(in, *kib)
		if err != nil {
			fmt.Fprintf(stderr, "agent: %v\n", err)
			return 2
		}
		r := Do(t)
		plant.leak.Task()
		selfMemory(&r)
		if err := json.NewEncoder(stdout).Encode(r); err != nil {
			return 1
		}
		return 0
	case "serve":
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			fmt.Fprintf(stderr, "agent: %v\n", err)
			return 1
		}
		// The first line tells a parent process which port it got (for --addr 127.0.0.1:0).
		fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
		if err := ServeWith(ctx, ln, *kib, plant.leak); err != nil {
			fmt.Fprintf(stderr, "agent: %v\n", err)
			return 1
		}
		return 0
	case "converse":
		return conv.run(ctx, *kib, plant.leak, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "agent: unknown mode %q\n%s\n", args[0], usage)
		return 2
	}
}

// selfMemory fills r's own-memory figures, read after the work so they cover it; a figure that cannot be read is
// left out (0), never guessed.
func selfMemory(r *Result) {
	if v, err := procmem.SelfPeak(); err == nil {
		r.PeakRSSBytes = v
	}
	// Only a container's init process has a memory cgroup of its own mounted at /sys/fs/cgroup.
	if os.Getpid() == 1 {
		if v, src, err := procmem.OwnCgroupPeak(); err == nil {
			r.CgroupPeakBytes, r.CgroupPeakSource = v, src
		}
	}
}
