package main

import (
	"context"
	"fmt"

	"github.com/agentlab/agentlab/report"
	"github.com/agentlab/agentlab/scenarios"
)

// compareCmd is `lab compare A B`: the benchstat-style comparison of two results folders.
func compareCmd(_ context.Context, args []string, io IO) int {
	if len(args) != 2 {
		fmt.Fprintln(io.Stderr, "lab: usage: lab compare RESULTS_A RESULTS_B (two results folders, e.g. results/<run-id>)")
		return ExitUsage
	}
	var rs [2]*scenarios.Folder
	for i, d := range args {
		r, err := scenarios.ReadFolder(d)
		if err != nil {
			fmt.Fprintf(io.Stderr, "lab: compare: %v\n", err)
			return ExitUsage
		}
		rs[i] = r
	}
	if err := report.Compare(io.Stdout, rs[0], rs[1]); err != nil {
		fmt.Fprintf(io.Stderr, "lab: compare: %v\n", err)
		return ExitFailed
	}
	return ExitOK
}
