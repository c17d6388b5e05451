package dockerx

import (
	"bufio"
	"context"
	"os"
	"regexp"
	"sync"

	"github.com/moby/moby/client"
)

// LabelLabContainer is, on the objects of a lab that runs inside a container (the agentlab/lab image), that
// container's id. Such a run's lock lives in the container's own /tmp, invisible to every other lab, and with the
// host network its hostname is the host's: so its liveness is judged by asking the daemon whether that container
// still runs, never by a lock file (which would make a host lab reap a live containerised run, and a containerised
// lab reap every host run).
const LabelLabContainer = "agentlab.lab-container"

// unknownContainer stands for a lab container whose id is unknown: it cannot be judged, so it counts as alive.
const unknownContainer = "unknown"

var self struct {
	sync.Mutex
	id   string
	done bool
}

// SelfContainer is the id of the container this process runs in when that container is one of the daemon's it
// drives (the agentlab/lab image with the socket mounted, or over TCP to its own daemon), else "": on a host, in
// a container of another daemon, or before Connect has asked. A development box that is itself a container,
// with its own daemon inside, is a host here.
func SelfContainer() string {
	self.Lock()
	defer self.Unlock()
	return self.id
}

// identifySelf sets SelfContainer once: the id this process's mounts name, if the daemon has such a container
// running.
func identifySelf(ctx context.Context, cli client.APIClient) {
	self.Lock()
	defer self.Unlock()
	if self.done {
		return
	}
	self.done = true
	id := detectSelf("/.dockerenv", "/proc/self/mountinfo", "/proc/self/cgroup")
	if id == "" || id == unknownContainer {
		return
	}
	if res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{}); err == nil &&
		res.Container.State != nil && res.Container.State.Running {
		self.id = id
	}
}

// Docker bind-mounts /etc/hostname, /etc/hosts and /etc/resolv.conf from /var/lib/docker/containers/<id>/ into
// every container (host network included), and cgroup v1 paths name the id: either gives it, on cgroup v1 and v2.
var containerIDRe = regexp.MustCompile(`/containers/([0-9a-f]{64})/|/docker[-/]([0-9a-f]{64})`)

func detectSelf(dockerenv string, files ...string) string {
	if _, err := os.Stat(dockerenv); err != nil {
		return ""
	}
	for _, f := range files {
		if id := firstContainerID(f); id != "" {
			return id
		}
	}
	return unknownContainer
}

func firstContainerID(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := containerIDRe.FindStringSubmatch(sc.Text()); m != nil {
			if m[1] != "" {
				return m[1]
			}
			return m[2]
		}
	}
	return ""
}

// containerRuns reports whether the lab container id is still running on the daemon (an unknown id counts as
// running: it cannot be judged).
func containerRuns(ctx context.Context, cli client.APIClient, id string) bool {
	if id == SelfContainer() {
		return true
	}
	res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return !isNotFound(err) // an error other than "gone" is no proof of death
	}
	return res.Container.State != nil && res.Container.State.Running
}
