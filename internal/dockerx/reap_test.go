package dockerx_test

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/labtest"
)

// A run of a lab inside a container (agentlab/lab) is alive while that container runs, whatever its hostname
// label says and without a lock file here; once the container stops, the next lab reaps the run.
func TestReapDeadJudgesContainerLabsByTheDaemon(t *testing.T) {
	r := labtest.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	img := r.Image(t, "agent")
	create := func(labels map[string]string, cmd ...string) string {
		t.Helper()
		cr, err := r.Client.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config:     &container.Config{Image: img, Cmd: cmd, Labels: labels},
			HostConfig: &container.HostConfig{NetworkMode: "none"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return cr.ID
	}
	// The stand-in for the lab's container: a long-running agent of this test's run.
	lab := create(r.Labels("lab"), "serve", "--addr", ":9000")
	if _, err := r.Client.ContainerStart(ctx, lab, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	// An object of the containerised lab's run; the hostname label is a host's, as with the host network.
	other := dockerx.NewRunID(time.Now())
	t.Cleanup(func() { dockerx.RemoveRun(context.Background(), r.Client, other) })
	obj := create(map[string]string{dockerx.LabelRunID: other, dockerx.LabelLabContainer: lab,
		dockerx.LabelHost: "container " + lab, dockerx.LabelRole: "agent"}, "serve")
	exists := func() bool {
		_, err := r.Client.ContainerInspect(ctx, obj, client.ContainerInspectOptions{})
		return err == nil
	}

	if _, err := dockerx.ReapDead(ctx, r.Client, r.ID); err != nil {
		t.Fatal(err)
	}
	if !exists() {
		t.Fatal("the run of a lab whose container runs was reaped")
	}
	if _, err := r.Client.ContainerKill(ctx, lab, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatal(err)
	}
	w := r.Client.ContainerWait(ctx, lab, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case <-w.Result:
	case err := <-w.Error:
		t.Fatal(err)
	}
	if _, err := dockerx.ReapDead(ctx, r.Client, r.ID); err != nil {
		t.Fatal(err)
	}
	if exists() {
		t.Fatal("the run of a lab whose container was killed survived the next ReapDead")
	}
}
