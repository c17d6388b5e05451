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

// unknownContainer is the LabelLabContainer value of a lab that knows it is in a container but not which one:
// nobody judges such a run dead; the next `--clean` removes it.
const unknownContainer = "unknown"

var (
	selfOnce sync.Once
	selfID   string
)

// SelfContainer is the id of the container this process runs in, "" when it runs on a host (no /.dockerenv), or
// "unknown" when it is in a container whose id it cannot read.
func SelfContainer() string {
	selfOnce.Do(func() { selfID = detectSelf("/.dockerenv", "/proc/self/mountinfo", "/proc/self/cgroup") })
	return selfID
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
	if id == unknownContainer || id == SelfContainer() {
		return true
	}
	res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return !isNotFound(err) // an error other than "gone" is no proof of death
	}
	return res.Container.State != nil && res.Container.State.Running
}
