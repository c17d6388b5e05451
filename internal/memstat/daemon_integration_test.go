package memstat

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/agentlab/agentlab/internal/clustertest"

	"github.com/agentlab/agentlab/internal/cluster"
	"github.com/agentlab/agentlab/internal/labtest"
)

// With a second dockerd (and its containerd) running on the host, DaemonPSS of the lab's daemon reads that
// daemon's processes only, and the second daemon's socket leads to the second daemon's (issue 27: a CI run failed
// reading a dockerd that was stopping while another was the lab's).
func TestIntegrationDaemonPSSWithSecondDaemon(t *testing.T) {
	r := labtest.Docker(t)
	opts := cluster.Options{Name: "alm", Nodes: 1, NoSwarm: true, Subnet: mustPrefix("192.168.214.0/24")}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := clustertest.Up(ctx, t, opts, r.Client)
	second, ok := c.DaemonPID(c.Nodes[0])
	if !ok {
		t.Fatal("second daemon's pid unknown")
	}
	lab := PresumedLocality(r.Client)
	labPIDs, err := DaemonPIDs(lab)
	if err != nil {
		t.Fatal(err)
	}
	other := Locality{Local: true, socket: c.Nodes[0].Socket}
	otherPIDs, err := DaemonPIDs(other)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(labPIDs, second) || !slices.Contains(otherPIDs, second) || len(otherPIDs) != 2 {
		t.Fatalf("lab daemon %v, second daemon (dockerd %d) %v", labPIDs, second, otherPIDs)
	}
	for _, p := range otherPIDs {
		if slices.Contains(labPIDs, p) {
			t.Fatalf("pid %d in both daemons: %v %v", p, labPIDs, otherPIDs)
		}
	}
	a, errA := DaemonPSS(lab)
	b, errB := DaemonPSS(other)
	all, errAll := ProcessPSS(lab, DaemonProcesses...)
	// Three snapshots at three moments: a PSS moves while pages shared with other processes are mapped or freed
	// (two daemons share their binaries' pages), so the sum over every daemon process is only about a+b or more.
	if errA != nil || errB != nil || errAll != nil || a <= 0 || b <= 0 || float64(all) < 0.9*float64(a+b) {
		t.Fatalf("DaemonPSS lab %d (%v), second %d (%v); every daemon process %d (%v)", a, errA, b, errB, all, errAll)
	}
	t.Logf("lab daemon %v: %.1f MiB PSS; second daemon %v: %.1f MiB; all dockerd+containerd here %.1f MiB",
		labPIDs, float64(a)/mib, otherPIDs, float64(b)/mib, float64(all)/mib)
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
