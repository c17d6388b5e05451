package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/internal/labtest"
)

// labImageArgs is what TestLabImageOverTCP runs; AGENTLAB_LAB_IMAGE_ARGS overrides it (e.g. "--scenario all --quick").
const labImageArgs = "--scenario spawn --quick"

// TestLabImageOverTCP is the lab as a container with a remote daemon, for real: the agentlab/lab image with no host
// file at all — no socket, no mount — only DOCKER_HOST=tcp://127.0.0.1:PORT (a TCP forwarder to the daemon's socket,
// as `socat TCP-LISTEN:PORT,bind=127.0.0.1,fork UNIX-CONNECT:/var/run/docker.sock` would be) on the host network.
// It must build its images from the binaries it carries, reach its containers' mapped ports at the daemon's host,
// name its memory sources (Engine API stats; cAdvisor, which runs on the daemon's host) and read none of its own
// /proc or cgroup files as the daemon's, run the process patterns inside itself and say so, exit 0, and leave nothing.
// With a TCP daemon already (Docker-in-Docker), AGENTLAB_LAB_DOCKER_HOST gives the address the lab container
// uses from the daemon's host network (dind: tcp://127.0.0.1:2375).
func TestLabImageOverTCP(t *testing.T) {
	r := labtest.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	img := r.Image(t, "lab")
	// Built here from the repository: the lab image must find it by the same hash tag, not build it again.
	agent := r.Image(t, "agent")

	dockerHost := os.Getenv("AGENTLAB_LAB_DOCKER_HOST")
	if dockerHost == "" {
		sock, ok := strings.CutPrefix(r.Client.DaemonHost(), "unix://")
		if !ok {
			t.Skipf("daemon %s is not a unix socket: set AGENTLAB_LAB_DOCKER_HOST to its TCP address as seen from its host", r.Client.DaemonHost())
		}
		dockerHost = forwardTCP(t, sock)
	}
	args := strings.Fields(labImageArgs)
	if a := os.Getenv("AGENTLAB_LAB_IMAGE_ARGS"); a != "" {
		args = strings.Fields(a)
	}

	start := time.Now()
	cr, err := r.Client.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: img, Cmd: args, Env: []string{"DOCKER_HOST=" + dockerHost},
			Labels: r.Labels("lab")},
		HostConfig: &container.HostConfig{NetworkMode: "host"}, // no Binds: nothing of this host's files
	})
	if err != nil {
		t.Fatal(err)
	}
	id := cr.ID
	if _, err := r.Client.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	w := r.Client.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	var code int64
	select {
	case res := <-w.Result:
		code = res.StatusCode
	case err := <-w.Error:
		t.Fatalf("wait for the lab container: %v", err)
	}
	t.Logf("lab container %s %v exited %d after %.1f s", img, args, code, time.Since(start).Seconds())
	stdout, stderr := containerLogs(t, r.Client, id)
	if code != 0 {
		t.Fatalf("lab exited %d\nstderr:\n%s\nstdout:\n%s", code, stderr, stdout)
	}
	if !strings.Contains(stderr, "lab: running inside container "+id[:12]) {
		t.Errorf("the lab did not say it runs inside its container %.12s:\n%s", id, stderr)
	}
	if strings.Contains(stderr, "compiling ") {
		t.Errorf("the lab image compiled something: it must only use the binaries it carries:\n%s", stderr)
	}
	if strings.Contains(stderr, "building image agentlab/agent:") {
		t.Errorf("the lab image built agentlab/agent again: its bundle must give the same hash tag as %s:\n%s", agent, stderr)
	}

	files := resultFiles(t, r.Client, id)
	var final struct {
		RunID       string `json:"run_id"`
		Environment struct {
			LabContainer string `json:"lab_container"`
			Docker       struct {
				Host string `json:"host"`
			} `json:"docker"`
		} `json:"environment"`
		Files []string `json:"files"`
	}
	decode(t, files, "final-report.json", &final)
	if final.Environment.Docker.Host != dockerHost || final.Environment.LabContainer != id {
		t.Errorf("environment: docker host %q (want %q), lab_container %q (want %s)",
			final.Environment.Docker.Host, dockerHost, final.Environment.LabContainer, id)
	}
	for _, f := range final.Files {
		if f == "spawn-comparison.json" {
			checkSpawnSources(t, files)
		}
	}
	for name, b := range files {
		// Every container sampled names a source; none may be this container's cgroup files read as the daemon's.
		if strings.HasSuffix(name, ".json") && bytes.Contains(b, []byte(`"local": true`)) {
			t.Errorf("%s: the lab in a container over TCP judged the daemon local", name)
		}
	}
	if n := labObjects(t, r.Client, final.RunID); n != 0 {
		t.Errorf("the lab's run %s left %d containers/networks", final.RunID, n)
	}
}

// checkSpawnSources: process patterns measured in the lab's container; container patterns by the Engine API or
// cAdvisor, never by this machine's /proc/meminfo or cgroup files.
func checkSpawnSources(t *testing.T, files map[string][]byte) {
	var sc struct {
		Patterns []struct {
			Name   string `json:"name"`
			Errors int    `json:"errors"`
			Memory struct {
				Source string `json:"source"`
				Error  string `json:"error"`
			} `json:"memory"`
		} `json:"patterns"`
		ContainerMemory struct {
			Sources  []string `json:"sources"`
			Locality struct {
				Local  bool   `json:"local"`
				Reason string `json:"reason"`
			} `json:"locality"`
			Note string `json:"note"`
		} `json:"container_memory"`
	}
	decode(t, files, "spawn-comparison.json", &sc)
	for _, p := range sc.Patterns {
		t.Logf("%-18s memory source %q error %q", p.Name, p.Memory.Source, p.Memory.Error)
		if p.Errors != 0 {
			t.Errorf("%s: %d task errors (persistent-docker's tasks go to mapped ports at the daemon's host)", p.Name, p.Errors)
		}
		switch p.Name {
		case "spawn-docker", "spawn-docker-raw":
			if p.Memory.Source != "" || !strings.Contains(p.Memory.Error, "not measurable") {
				t.Errorf("%s: host memory over TCP must be 'not measurable', got source %q error %q", p.Name, p.Memory.Source, p.Memory.Error)
			}
		case "persistent-docker":
			if !strings.HasPrefix(p.Memory.Source, "docker-stats") {
				t.Errorf("persistent-docker: memory source %q, want docker-stats (the Engine API)", p.Memory.Source)
			}
		}
	}
	cm := sc.ContainerMemory
	t.Logf("container memory sources %v; locality local=%v (%s); note %q", cm.Sources, cm.Locality.Local, cm.Locality.Reason, cm.Note)
	if cm.Locality.Local || !strings.Contains(cm.Locality.Reason, "not a unix socket") {
		t.Errorf("locality %+v: want remote, the daemon being tcp", cm.Locality)
	}
	for _, s := range cm.Sources {
		if s != "docker-stats" && s != "cadvisor" {
			t.Errorf("source %q used over TCP: only the Engine API and cAdvisor see the daemon's containers", s)
		}
	}
}

// forwardTCP listens on a free loopback port and copies every connection to the daemon's unix socket, for as long
// as the test runs; it returns the DOCKER_HOST that reaches it.
func forwardTCP(t *testing.T, sock string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed at cleanup
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("unix", sock)
				if err != nil {
					return
				}
				defer u.Close()
				done := make(chan struct{}, 2)
				pipe := func(dst, src net.Conn) {
					io.Copy(dst, src)
					// Half-close, so the far side sees the end of a request or a hijacked stream.
					if cw, ok := dst.(interface{ CloseWrite() error }); ok {
						cw.CloseWrite()
					}
					done <- struct{}{}
				}
				go pipe(u, c)
				go pipe(c, u)
				<-done
				<-done
			}()
		}
	}()
	return "tcp://" + ln.Addr().String()
}

func containerLogs(t *testing.T, cli *client.Client, id string) (string, string) {
	t.Helper()
	logs, err := cli.ContainerLogs(context.Background(), id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	var out, errb bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errb, logs); err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String()
}

// resultFiles copies the newest run's files out of the (exited) lab container through the Engine API.
func resultFiles(t *testing.T, cli *client.Client, id string) map[string][]byte {
	t.Helper()
	res, err := cli.CopyFromContainer(context.Background(), id, client.CopyFromContainerOptions{SourcePath: "/lab/results"})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Content.Close()
	runs := map[string]map[string][]byte{}
	latest := ""
	tr := tar.NewReader(res.Content)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		dir, name := path.Split(h.Name)
		run := path.Base(dir)
		switch {
		case h.Typeflag == tar.TypeSymlink && name == "latest":
			latest = h.Linkname
		case h.Typeflag == tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if runs[run] == nil {
				runs[run] = map[string][]byte{}
			}
			runs[run][name] = b
		}
	}
	if runs[latest] == nil {
		t.Fatalf("no results/latest in the lab container (runs: %d)", len(runs))
	}
	return runs[latest]
}

func decode(t *testing.T, files map[string][]byte, name string, v any) {
	t.Helper()
	b, ok := files[name]
	if !ok {
		t.Fatalf("no %s in the results", name)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}
