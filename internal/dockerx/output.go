package dockerx

import (
	"bytes"
	"context"
	"fmt"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Logs returns what container id wrote to stdout and stderr so far (the lab's one-shot containers print their
// result as JSON on stdout, their errors on stderr).
func Logs(ctx context.Context, cli client.APIClient, id string) (stdout, stderr []byte, err error) {
	logs, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return nil, nil, fmt.Errorf("logs: %w", err)
	}
	defer logs.Close()
	var out, errb bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errb, logs); err != nil {
		return nil, nil, fmt.Errorf("logs: %w", err)
	}
	return out.Bytes(), errb.Bytes(), nil
}

// WaitOutput waits until container id is no longer running and returns its exit code and output.
func WaitOutput(ctx context.Context, cli client.APIClient, id string) (stdout, stderr []byte, code int64, err error) {
	w := cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case r := <-w.Result:
		code = r.StatusCode
	case err := <-w.Error:
		return nil, nil, 0, fmt.Errorf("wait: %w", err)
	}
	stdout, stderr, err = Logs(ctx, cli, id)
	return stdout, stderr, code, err
}
