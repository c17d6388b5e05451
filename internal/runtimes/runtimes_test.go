package runtimes_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentlab/agentlab/internal/agent"
	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/runtimes"
)

// tasks cover seeds and ids beyond 2^53 (a JSON double would round them and the digest would differ), the
// default size and an explicit zero-size task.
var tasks = []agent.Task{
	{ID: 1, KiB: 64, Seed: 5},
	{ID: math.MaxUint64, KiB: 3, Seed: math.MaxUint64 - 58},
	{ID: 1<<53 + 1, KiB: 1, Seed: 1<<53 + 1},
	{ID: 9, KiB: 130, Seed: 0},
}

func scripted(t *testing.T) (string, []runtimes.Runtime) {
	t.Helper()
	wd, _ := os.Getwd()
	root, err := images.FindRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	var out []runtimes.Runtime
	for _, r := range runtimes.All {
		if r.Program != "" {
			out = append(out, r)
		}
	}
	return root, out
}

func command(t *testing.T, ctx context.Context, root string, r runtimes.Runtime, args ...string) *exec.Cmd {
	t.Helper()
	argv, err := r.Command(root, "", args...)
	if errors.Is(err, runtimes.ErrMissing) {
		t.Skipf("%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// Each scripted agent's `once` answers every task with the Go agent's digest, and a bad task is exit 2.
func TestOnceDigests(t *testing.T) {
	root, rts := scripted(t)
	for _, r := range rts {
		t.Run(r.Name, func(t *testing.T) {
			ctx := context.Background()
			for _, tk := range tasks {
				js, _ := json.Marshal(tk)
				out, err := command(t, ctx, root, r, "once", "--task", string(js)).Output()
				if err != nil {
					t.Fatalf("once %s: %v", js, err)
				}
				var res agent.Result
				if err := json.Unmarshal(out, &res); err != nil {
					t.Fatalf("once %s: reply %q: %v", js, out, err)
				}
				if err := agent.Check(tk, res); err != nil {
					t.Errorf("once %s: %v", js, err)
				}
				if res.PeakRSSBytes <= 0 {
					t.Errorf("once %s: no peak_rss_bytes in %s", js, out)
				}
			}
			// The task from stdin, its size from --kib.
			cmd := command(t, ctx, root, r, "once", "--kib", "2")
			cmd.Stdin = strings.NewReader(`{"id":4,"seed":18446744073709551615}`)
			out, err := cmd.Output()
			var res agent.Result
			if err != nil || json.Unmarshal(out, &res) != nil || agent.Check(agent.Task{ID: 4, KiB: 2, Seed: math.MaxUint64}, res) != nil {
				t.Errorf("once from stdin: %q, %v", out, err)
			}
			for _, bad := range []string{`{"kib":-1}`, `{"kib":99999999}`, `{"id":"x"}`, `{"seed":1.5}`, `[]`, `nope`,
				`{"seed":18446744073709551616}`} {
				err := command(t, ctx, root, r, "once", "--task", bad).Run()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 2 {
					t.Errorf("once --task %s: %v, want exit 2", bad, err)
				}
			}
		})
	}
}

// Each scripted agent's `serve` prints its address, answers the Go client (internal/agent.Client) task after
// task on one connection, answers a bad line with an error, and exits 0 at once on SIGTERM.
func TestServeWithGoClient(t *testing.T) {
	root, rts := scripted(t)
	for _, r := range rts {
		t.Run(r.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := command(t, ctx, root, r, "serve", "--addr", "127.0.0.1:0", "--kib", "8")
			stdout, _ := cmd.StdoutPipe()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			line, err := bufio.NewReader(stdout).ReadString('\n')
			addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
			if err != nil || !ok {
				t.Fatalf("first line %q, %v (stderr %s)", line, err, stderr.String())
			}
			c, err := agent.Dial(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			all := append(append([]agent.Task(nil), tasks...), agent.Task{ID: 77, Seed: 3}) // KiB 0: --kib 8
			for _, tk := range all {
				res, err := c.Do(ctx, tk)
				if err != nil {
					t.Fatalf("task %+v: %v", tk, err)
				}
				want := tk
				if want.KiB == 0 {
					want.KiB = 8
				}
				if err := agent.Check(want, res); err != nil {
					t.Errorf("task %+v: %v", tk, err)
				}
			}
			// A second client at the same time: the agent serves connections independently.
			c2, err := agent.Dial(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			if res, err := c2.Do(ctx, tasks[1]); err != nil || agent.Check(tasks[1], res) != nil {
				t.Errorf("second connection: %+v, %v", res, err)
			}
			// SIGTERM ends it with status 0 (what a container's PID 1 must do for docker stop).
			start := time.Now()
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("after SIGTERM: %v (stderr %s)", err, stderr.String())
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("SIGTERM took %v", d)
			}
		})
	}
}

func TestParse(t *testing.T) {
	all, err := runtimes.Parse("")
	if err != nil || len(all) != len(runtimes.All) {
		t.Errorf("Parse(\"\") = %v, %v", all, err)
	}
	two, err := runtimes.Parse("node,go,node")
	if err != nil || len(two) != 2 || two[0].Name != "node" || two[1].Name != "go" {
		t.Errorf("Parse(node,go,node) = %v, %v", two, err)
	}
	if _, err := runtimes.Parse("go,ruby"); err == nil || !strings.Contains(err.Error(), "ruby") {
		t.Errorf("Parse(go,ruby) = %v", err)
	}
	r, _ := runtimes.ByName("go")
	if argv, err := r.Command("/x", "/bin/agent", "once"); err != nil || strings.Join(argv, " ") != "/bin/agent once" {
		t.Errorf("go Command = %v, %v", argv, err)
	}
	if v, _ := r.Version(context.Background(), runtime.Version()); !strings.HasPrefix(v, "go ") {
		t.Errorf("go Version = %q", v)
	}
	missing := runtimes.Runtime{Name: "x", Program: "agentlab-no-such-program", Script: "x.js"}
	if _, err := missing.Command("/x", ""); !errors.Is(err, runtimes.ErrMissing) {
		t.Errorf("missing program: %v, want ErrMissing", err)
	}
}
