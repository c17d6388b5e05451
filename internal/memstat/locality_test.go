package memstat

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// fakeDocker answers DaemonHost and ContainerInspect from fixtures; any other call panics (nil interface), so a
// test fails loudly if a remote-daemon path reaches for anything else.
type fakeDocker struct {
	client.APIClient
	host string
	pids map[string]int
}

func (f fakeDocker) DaemonHost() string { return f.host }

func (f fakeDocker) ContainerInspect(_ context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	pid, ok := f.pids[id]
	if !ok {
		return client.ContainerInspectResult{}, errors.New("no such container")
	}
	return client.ContainerInspectResult{Container: container.InspectResponse{ID: id,
		State: &container.State{Running: pid > 0, Pid: pid}}}, nil
}

func TestDetectLocality(t *testing.T) {
	ctx := context.Background()
	unix := fakeDocker{host: "unix:///var/run/docker.sock", pids: map[string]int{v1ID: 101, otherNSID: 103, "stopped": 0}}
	for _, tc := range []struct {
		name  string
		cli   fakeDocker
		probe string
		local bool
		why   string
	}{
		{"tcp", fakeDocker{host: "tcp://127.0.0.1:2375", pids: unix.pids}, v1ID, false, "not a unix socket"},
		{"local", unix, v1ID, true, "init pid 101 is visible here"},
		{"other pid namespace", unix, otherNSID, false, "another PID namespace"},
		{"not running", unix, "stopped", false, "not running"},
		{"unknown", unix, "feedface", false, "no such container"},
	} {
		loc := detectLocality(ctx, tc.cli, tc.probe, "testdata/proc", "testdata/cgroupv1")
		if loc.Local != tc.local || !strings.Contains(loc.Reason, tc.why) {
			t.Errorf("%s: %+v; want local=%v, reason with %q", tc.name, loc, tc.local, tc.why)
		}
	}
}

// With a remote daemon nothing of this host is read for containers: no cgroup source, no per-CPU figure, no
// shim, no local peak.
func TestRemoteDaemonUsesNoLocalFiles(t *testing.T) {
	ctx := context.Background()
	cli := fakeDocker{host: "tcp://127.0.0.1:2375", pids: map[string]int{v1ID: 101}}
	loc := DetectLocality(ctx, cli, v1ID)
	if loc.Local {
		t.Fatalf("tcp daemon detected local: %+v", loc)
	}
	for name, srcs := range map[string][]Source{"DefaultSources": DefaultSources(cli, nil), "SourcesFor": SourcesFor(loc, cli, nil)} {
		for _, s := range srcs {
			if s.Name() == SourceCgroup {
				t.Errorf("%s includes the cgroup source for %s", name, cli.host)
			}
		}
	}
	if src := Fast(loc, cli, nil); src.Name() != SourceDockerStats {
		t.Errorf("Fast = %s, want docker-stats", src.Name())
	}
	if _, err := NewCgroupFor(loc, cli, nil); !errors.Is(err, ErrNotLocal) {
		t.Errorf("NewCgroupFor: %v, want ErrNotLocal", err)
	}
	cs := NewCPUSetBusy(loc, []int{0})
	if _, ok := cs.Read(); ok || !strings.Contains(cs.Source(), "not measurable remotely") {
		t.Errorf("CPUSetBusy remote: ok, source %q", cs.Source())
	}
	if _, err := ShimOverhead(ctx, loc, cli, v1ID); !errors.Is(err, ErrNotLocal) {
		t.Errorf("ShimOverhead: %v, want ErrNotLocal", err)
	}
	if _, err := ProcessPSS(loc, "dockerd"); !errors.Is(err, ErrNotLocal) {
		t.Errorf("ProcessPSS: %v, want ErrNotLocal", err)
	}
	if _, err := DaemonPSS(loc); !errors.Is(err, ErrNotLocal) {
		t.Errorf("DaemonPSS: %v, want ErrNotLocal", err)
	}
	if _, err := ProxyOverhead(ctx, loc, cli, v1ID); !errors.Is(err, ErrNotLocal) {
		t.Errorf("ProxyOverhead: %v, want ErrNotLocal", err)
	}
	if pl := PresumedLocality(cli); pl.Local {
		t.Errorf("PresumedLocality of %s: local", cli.host)
	}
	// A sampler told the daemon is remote drops a cgroup source it was given.
	s := NewSampler(Config{Locality: &loc}, NewDockerStats(cli), testCgroup("testdata/cgroupv1", nil))
	if got := s.Recording().Sources; !slices.Equal(got, []string{SourceDockerStats}) {
		t.Errorf("remote sampler sources %v", got)
	}
}

func TestCPUTimes(t *testing.T) {
	// The fixture's per-CPU figures are in seconds, as procfs gives them.
	loc := Locality{Local: true, proc: "testdata/proc"}
	c := NewCPUSetBusy(loc, []int{0, 1})
	a, ok := c.Read()
	if !ok || a.Busy != 1+2+3+6+7+8+10+20+30+60+70+80 || a.Total != a.Busy+4+5+40+50 {
		t.Fatalf("Read = %+v, %v", a, ok)
	}
	if _, ok := NewCPUSetBusy(loc, []int{0, 5}).Read(); ok {
		t.Error("a CPU missing from /proc/stat read ok")
	}
	b := CPUTimes{Busy: a.Busy + 3, Total: a.Total + 4}
	if f := BusyFraction(a, b); f != 0.75 {
		t.Errorf("BusyFraction = %v", f)
	}
	if f := BusyFraction(b, b); f != 0 {
		t.Errorf("BusyFraction of no time = %v", f)
	}
}

// The deprecated scanning constructor reads nothing when DOCKER_HOST names a TCP daemon.
func TestNewCgroupRemoteDockerHost(t *testing.T) {
	t.Setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
	_, err := NewCgroup("testdata/cgroupv1", nil).Sample(context.Background(), []string{v1ID})
	if !errors.Is(err, ErrNotLocal) {
		t.Fatalf("err = %v, want ErrNotLocal", err)
	}
}

// A docker-proxy is a container's only when it forwards one of the container's host ports to one of its addresses.
func TestIsProxyFor(t *testing.T) {
	args := strings.Fields("/usr/sbin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 32774 -container-ip 172.17.0.3 -container-port 9000")
	for _, c := range []struct {
		args       []string
		ips, ports []string
		want       bool
	}{
		{args, []string{"172.17.0.3"}, []string{"32774"}, true},
		{args, []string{"172.18.0.3"}, []string{"32774"}, false}, // another container's address
		{args, []string{"172.17.0.3"}, []string{"32775"}, false}, // same address on another network, other port
		{append([]string{"/usr/bin/not-docker-proxy"}, args[1:]...), []string{"172.17.0.3"}, []string{"32774"}, false},
		{[]string{"docker-proxy", "-container-ip"}, []string{"172.17.0.3"}, []string{"32774"}, false},
	} {
		if got := isProxyFor(c.args, c.ips, c.ports); got != c.want {
			t.Errorf("isProxyFor(%q, %v, %v) = %v", c.args, c.ips, c.ports, got)
		}
	}
}
