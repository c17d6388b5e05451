package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/agentlab/agentlab/report"
)

// reportCmd is `lab report DIR`: report.md, report.html, bench.txt and runs.csv rendered again from the folder.
func reportCmd(_ context.Context, args []string, io IO) int {
	if len(args) != 1 {
		fmt.Fprintln(io.Stderr, "lab: usage: lab report RESULTS_DIR (a results folder, e.g. results/latest)")
		return ExitUsage
	}
	if err := report.Write(args[0]); err != nil {
		fmt.Fprintf(io.Stderr, "lab: report: %v\n", err)
		return ExitUsage
	}
	fmt.Fprintf(io.Stdout, "%s: %s\n", args[0], strings.Join(report.Files, ", "))
	return ExitOK
}
