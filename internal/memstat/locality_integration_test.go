package memstat

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/agentlab/agentlab/internal/labtest"
)

// runAgent starts a persistent agent container (the lab's agent image, serving) and returns its id.
func runAgent(t *testing.T, r *labtest.Run) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := testcontainers.Run(ctx, r.Image(t, "agent"), testcontainers.WithCmd("serve", "--addr", ":9000"),
		testcontainers.WithLabels(r.Labels("agent")),
		testcontainers.WithWaitStrategy(wait.ForLog("listening").WithStartupTimeout(30*time.Second)))
	if c != nil {
		t.Cleanup(func() { testcontainers.TerminateContainer(c, testcontainers.StopTimeout(0)) })
	}
	if err != nil {
		t.Fatal(err)
	}
	return c.GetContainerID()
}

// On this host's daemon: local, the cgroup read is the fast one, and the container's peak and its shim's memory
// are measurable. The figures are logged for the record (issue 16: a container costs more than its cgroup).
func TestIntegrationLocalAgentContainer(t *testing.T) {
	r := labtest.Docker(t)
	id := runAgent(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	loc := DetectLocality(ctx, r.Client, id)
	if !loc.Local {
		t.Skipf("daemon not local here (%s): nothing local to measure", loc.Reason)
	}
	s := NewSampler(Config{Docker: r.Client}, DefaultSources(r.Client, nil)...)
	if err := s.Add(ctx, id, "agent"); err != nil {
		t.Fatal(err)
	}
	smp, desc, err := s.Read(ctx, id)
	if err != nil || desc != ReadCgroup || smp.MemoryBytes == 0 {
		t.Fatalf("Read: %+v %q %v", smp, desc, err)
	}
	// The deprecated constructor finds the container by scanning /proc (what bus-load uses until it moves to Read).
	if got, err := NewCgroup("", nil).Sample(ctx, []string{id}); err != nil || len(got) != 1 || got[0].UsageBytes == 0 {
		t.Errorf("NewCgroup scan: %+v %v", got, err)
	}
	peak, src, err := ContainerPeak(ctx, loc, r.Client, id)
	if err != nil || uint64(peak) < smp.UsageBytes {
		t.Fatalf("ContainerPeak = %d (%s), %v; usage now %d", peak, src, err, smp.UsageBytes)
	}
	shim, err := ShimOverhead(ctx, loc, r.Client, id)
	if err != nil {
		t.Fatal(err)
	}
	if shim.PID <= 0 || shim.PSSBytes <= 0 || shim.PrivateBytes > shim.RSSBytes || shim.PSSBytes > shim.RSSBytes ||
		shim.PrivateDirtyBytes <= 0 || shim.PrivateDirtyBytes > shim.PrivateBytes {
		t.Fatalf("shim %+v", shim)
	}
	// testcontainers publishes the image's exposed port: dockerd's userland proxy runs one docker-proxy per
	// binding (address family), or none when the daemon has the userland proxy off.
	in, err := r.Client.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bindings := 0
	for _, bs := range in.Container.NetworkSettings.Ports {
		bindings += len(bs)
	}
	px, err := ProxyOverhead(ctx, loc, r.Client, id)
	if err != nil || (px.Processes != bindings && px.Processes != 0) || px.PrivateBytes > px.RSSBytes || px.PrivateDirtyBytes > px.PrivateBytes {
		t.Errorf("ProxyOverhead with %d published bindings: %+v %v", bindings, px, err)
	}
	if d, err := DaemonPSS(loc); err != nil || d <= 0 {
		t.Errorf("DaemonPSS = %d, %v", d, err)
	}
	t.Logf("%s", loc.Sources())
	t.Logf("agent container: cgroup memory %.2f MiB (usage %.2f), peak %.2f MiB (%s); shim pid %d: RSS %.2f, PSS %.2f, private %.2f (dirty %.2f) MiB; %d docker-proxy: PSS %.2f, private dirty %.2f MiB",
		float64(smp.MemoryBytes)/mib, float64(smp.UsageBytes)/mib, float64(peak)/mib, src, shim.PID,
		float64(shim.RSSBytes)/mib, float64(shim.PSSBytes)/mib, float64(shim.PrivateBytes)/mib,
		float64(shim.PrivateDirtyBytes)/mib, px.Processes, float64(px.PSSBytes)/mib, float64(px.PrivateDirtyBytes)/mib)
	if res := s.Recording(); res.Locality == nil || !res.Locality.Local || !slices.Contains(res.Sources, SourceCgroup) {
		t.Errorf("results locality %+v sources %v", res.Locality, res.Sources)
	}
}

// The same daemon over TCP (socat in front of its socket) is remote: API sources only, nothing local read
// (LocalReads counts every cgroup or /proc file memstat reads).
func TestIntegrationTCPDaemonIsRemote(t *testing.T) {
	r := labtest.Docker(t)
	cli := r.TCPDaemon(t)
	id := runAgent(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before := LocalReads()
	loc := DetectLocality(ctx, cli, id)
	if loc.Local || !strings.Contains(loc.Reason, "not a unix socket") {
		t.Fatalf("tcp daemon: %+v", loc)
	}
	s := NewSampler(Config{Docker: cli}, DefaultSources(cli, nil)...)
	if err := s.Add(ctx, id, "agent"); err != nil {
		t.Fatal(err)
	}
	smp, desc, err := s.Read(ctx, id)
	if err != nil || desc != ReadDockerStats || smp.Source != SourceDockerStats || smp.MemoryBytes == 0 {
		t.Fatalf("Read over tcp: %+v %q %v", smp, desc, err)
	}
	res := s.Recording()
	if !slices.Equal(res.Sources, []string{SourceDockerStats}) || res.Locality == nil || res.Locality.Local {
		t.Errorf("sources %v, locality %+v", res.Sources, res.Locality)
	}
	if _, err := ShimOverhead(ctx, loc, cli, id); !errors.Is(err, ErrNotLocal) {
		t.Errorf("ShimOverhead over tcp: %v", err)
	}
	if busy := NewCPUSetBusy(loc, []int{0}); func() bool { _, ok := busy.Read(); return ok }() {
		t.Error("per-CPU busy time read for a remote daemon")
	}
	if n := LocalReads() - before; n != 0 {
		t.Errorf("%d local cgroup or /proc files read for a remote daemon", n)
	}
	peak, src, err := ContainerPeak(ctx, loc, cli, id)
	t.Logf("%s; docker stats memory %.2f MiB, peak %.2f MiB (%s, %v)", loc.Sources(), float64(smp.MemoryBytes)/mib,
		float64(peak)/mib, src, err)
	if err != nil || src != "docker stats memory_stats.max_usage" {
		t.Errorf("ContainerPeak over tcp on a cgroup v1 daemon: %d %q %v", peak, src, err)
	}
}
