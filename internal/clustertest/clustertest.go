// Package clustertest gives integration tests a test cluster (internal/cluster) of their own: built, loaded with
// the images they need, torn down when the test ends, the test failing if anything of it is left.
package clustertest

import (
	"context"
	"testing"

	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/internal/cluster"
)

// Up builds the cluster opts describes (skipping the test without root or the tools it needs), registers its
// teardown and leftover check, and loads refs onto every node from src (the host's daemon).
func Up(ctx context.Context, t testing.TB, opts cluster.Options, src client.APIClient, refs ...string) *cluster.Cluster {
	t.Helper()
	c, err := cluster.Up(ctx, opts)
	t.Cleanup(func() {
		if err := cluster.Down(context.Background(), opts); err != nil {
			t.Errorf("cluster down: %v", err)
		}
		if left := cluster.Leftovers(opts); len(left) > 0 {
			t.Errorf("left: %v", left)
		}
	})
	if err != nil {
		if cluster.IsNotRoot(err) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	if len(refs) > 0 {
		if err := c.LoadImages(ctx, src, refs...); err != nil {
			t.Fatal(err)
		}
	}
	return c
}
