package cluster

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/internal/labtest"
)

// testOptions is a cluster of the test's own (name, subnet), so a user's cluster on the same host is untouched.
func testOptions(t *testing.T, nodes int) Options {
	return Options{Name: "alt", Nodes: nodes, Log: testLog{t}}
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// Skip unless root with the tools (CI runs as root; the tools come from iproute2 and util-linux).
func needCluster(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a Docker cluster (skipped with -short)")
	}
	if err := preflight(); err != nil {
		t.Skip(err)
	}
}

// Up twice (the second a no-op), images on every node, then Down twice: nothing of the cluster is left.
func TestIntegrationClusterUpDown(t *testing.T) {
	needCluster(t)
	r := labtest.Docker(t)
	img := r.Image(t, "agent")
	opts := testOptions(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		if err := Down(context.Background(), opts); err != nil {
			t.Errorf("down: %v", err)
		}
		if left := Leftovers(opts); len(left) > 0 {
			t.Errorf("left after down: %v", left)
		}
	})
	t0 := time.Now()
	c, err := Up(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	up := time.Since(t0)
	t1 := time.Now()
	if _, err := Up(ctx, opts); err != nil {
		t.Fatalf("second up: %v", err)
	}
	again := time.Since(t1)
	t2 := time.Now()
	if err := c.LoadImages(ctx, r.Client, img); err != nil {
		t.Fatal(err)
	}
	load := time.Since(t2)
	mgr, err := c.Manager().Client()
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	nodes, err := mgr.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]string{}
	for _, n := range nodes.Items {
		roles[n.Description.Hostname] = n.Spec.Labels[LabelRole]
	}
	if len(nodes.Items) != 3 || roles["alt-n1"] != RoleBus || roles["alt-n2"] != RoleLoad || roles["alt-n3"] != RoleLoad {
		t.Fatalf("nodes %v", roles)
	}
	for _, n := range c.Nodes {
		cli, err := n.Client()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.ImageInspect(ctx, img); err != nil {
			t.Errorf("%s has no %s: %v", n.Name, img, err)
		}
		cli.Close()
	}
	t.Logf("cluster up %v, second up %v, image load to 3 nodes %v", up.Round(time.Millisecond), again.Round(time.Millisecond), load.Round(time.Millisecond))
	t3 := time.Now()
	if err := Down(ctx, opts); err != nil {
		t.Fatal(err)
	}
	t.Logf("down %v", time.Since(t3).Round(time.Millisecond))
	if left := Leftovers(opts); len(left) > 0 {
		t.Fatalf("left after down: %v", left)
	}
	if _, err := os.Stat(c.Manager().Socket); err == nil {
		t.Error("manager socket still there")
	}
}
