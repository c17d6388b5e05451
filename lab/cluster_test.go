package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// `lab cluster` without an action, with an unknown one, or with --nodes out of range: one line, exit 2, nothing built.
func TestClusterUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{"cluster"}, {"cluster", "sideways"}, {"cluster", "up", "--nodes", "0"}, {"cluster", "--nodes", "3"}} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), args, testIO(&out, &errb)); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, ExitUsage)
		}
		if lines := strings.Count(strings.TrimSpace(errb.String()), "\n") + 1; lines != 1 || !strings.Contains(errb.String(), "lab cluster") {
			t.Errorf("%v: stderr %q", args, errb.String())
		}
	}
}
