package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/images"
)

// These tests drive the real lab binary as a user would, and check what the daemon holds afterwards.

func labBinary(t *testing.T) (string, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Docker (skipped with -short)")
	}
	wd, _ := os.Getwd()
	root, err := images.FindRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "lab")
	cmd := exec.Command("go", "build", "-o", bin, "./lab")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build lab: %v\n%s", err, out)
	}
	return bin, root
}

func dockerClient(t *testing.T) *client.Client {
	t.Helper()
	cli, err := dockerx.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// labObjects counts containers and networks of one run.
func labObjects(t *testing.T, cli *client.Client, runID string) int {
	t.Helper()
	f := client.Filters{}.Add("label", dockerx.LabelRunID+"="+runID)
	cs, err := cli.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cli.NetworkList(context.Background(), client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs.Items) + len(ns.Items)
}

var runLine = regexp.MustCompile(`lab: run (\S+), scenario`)

// startLab starts the lab and returns once it has printed its run id and has n containers up.
func startLab(t *testing.T, bin, root string, cli *client.Client, n int, args ...string) (*exec.Cmd, string, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	ids := make(chan string, 1)
	var log strings.Builder
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if m := runLine.FindStringSubmatch(sc.Text()); m != nil {
				ids <- m[1]
			}
		}
	}()
	var id string
	select {
	case id = <-ids:
	case <-time.After(2 * time.Minute):
		t.Fatalf("lab printed no run id")
	}
	deadline := time.Now().Add(2 * time.Minute)
	for labObjects(t, cli, id) < n {
		if time.Now().After(deadline) {
			t.Fatalf("run %s never had %d containers", id, n)
		}
		time.Sleep(50 * time.Millisecond) // polling the daemon: there is no event to wait on for "n exist"
	}
	t.Cleanup(func() { <-logDone })
	return cmd, id, &log
}

func TestSignalStopsCleansAndKeepsPartialResults(t *testing.T) {
	bin, root := labBinary(t)
	cli := dockerClient(t)
	out := t.TempDir()
	cmd, id, log := startLab(t, bin, root, cli, 2, "--scenario", "persistent-docker", "--agents", "2",
		"--iterations", "100000000", "--rounds", "1", "--out", out)
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if el := time.Since(sent); el > 10*time.Second {
		t.Errorf("lab took %v to stop after SIGINT, want < 10 s", el)
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != ExitFailed {
		t.Errorf("exit = %v, want code %d", err, ExitFailed)
	}
	if n := labObjects(t, cli, id); n != 0 {
		t.Errorf("%d containers/networks of run %s survived SIGINT", n, id)
	}
	if _, err := os.Stat(filepath.Join(out, id, "spawn-comparison.json")); err != nil {
		t.Errorf("partial results not kept: %v\nlab log:\n%s", err, log.String())
	}
}

func TestKill9LeftoversRemovedByNextRun(t *testing.T) {
	bin, root := labBinary(t)
	cli := dockerClient(t)
	out := t.TempDir()
	cmd, id, _ := startLab(t, bin, root, cli, 1, "--scenario", "persistent-docker", "--agents", "1",
		"--iterations", "100000000", "--rounds", "1", "--out", out)
	cmd.Process.Kill()
	cmd.Wait()
	if n := labObjects(t, cli, id); n == 0 {
		t.Fatal("kill -9 left nothing behind: the test proves nothing")
	}
	// Any next run clears it, even one that starts no containers.
	next := exec.Command(bin, "--scenario", "spawn-process", "--iterations", "2", "--rounds", "1", "--out", out)
	next.Dir = root
	if b, err := next.CombinedOutput(); err != nil {
		t.Fatalf("next run: %v\n%s", err, b)
	} else if !strings.Contains(string(b), "left by dead lab runs") {
		t.Errorf("next run did not report the reaping:\n%s", b)
	}
	if n := labObjects(t, cli, id); n != 0 {
		t.Errorf("%d objects of the killed run %s remain after the next run", n, id)
	}
}

func TestNormalRunLeavesNothing(t *testing.T) {
	bin, root := labBinary(t)
	cli := dockerClient(t)
	out := t.TempDir()
	cmd := exec.Command(bin, "--scenario", "spawn-docker", "--iterations", "3", "--rounds", "1", "--warmup", "0", "--out", out)
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lab: %v\n%s", err, b)
	}
	m := runLine.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no run id in output:\n%s", b)
	}
	if n := labObjects(t, cli, string(m[1])); n != 0 {
		t.Errorf("%d objects survived a normal run", n)
	}
	for _, want := range []string{"spawn-docker-raw", "testcontainers-go vs raw Engine API"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
