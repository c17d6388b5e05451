// Package containers starts the lab's containers in the style of a testcontainers-go module: Run(ctx, image,
// opts...) applies the module's defaults (ports, wait strategy, a silent logger, hardening), then the caller's
// options — which win — then resolves what the caller needs (URLs, addresses). Every container the lab starts is
// hardened (Hardened): read-only root filesystem, every capability dropped, no-new-privileges, memory and pids
// limits. The caller always supplies the labels: testcontainers.WithLabels(dockerx.Labels(runID, role)).
//
// On error a Run function may return a non-nil container that must still be terminated.
package containers

import (
	"context"
	"slices"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
)

// Default limits per kind. Memory is a cap, not a reservation: far above what each uses (a bus holding 20,000
// connections stays under 1 GiB) so that only a runaway is stopped. Pids bound threads too (Linux counts
// threads against pids.max): the Go programs run a few OS threads per core, tokio one per core plus its
// blocking pool (up to 512).
const (
	BusMemory       int64 = 1 << 30
	BusPids         int64 = 1024
	AgentMemory     int64 = 512 << 20
	AgentPids       int64 = 128
	GeneratorMemory int64 = 2 << 30
	GeneratorPids   int64 = 1024
	CAdvisorMemory  int64 = 512 << 20
	CAdvisorPids    int64 = 256
)

// NoNewPrivileges is the security option that stops setuid binaries and file capabilities from raising a
// process's privileges (Docker's --security-opt no-new-privileges).
const NoNewPrivileges = "no-new-privileges"

// HardenHostConfig makes hc read-only (root filesystem), drops every capability (CapAdd may give some back),
// sets no-new-privileges and, where hc has none yet, a memory limit of memLimit bytes and a pids limit of pids
// (0 = leave unset). A limit already set — a caller's --bus-memory, applied before or after — is kept. Swap is
// left to the caller (bus-load sets MemorySwap = Memory: an over-limit container is OOM-killed, not slowed).
//
// The lab's images write nothing (FROM scratch static binaries; logs go to stdout/stderr), so no tmpfs is
// needed; a caller whose program writes adds testcontainers.WithTmpfs.
func HardenHostConfig(hc *container.HostConfig, memLimit, pids int64) {
	hc.ReadonlyRootfs = true
	if !slices.Contains(hc.CapDrop, "ALL") {
		hc.CapDrop = append(hc.CapDrop, "ALL")
	}
	if !slices.Contains(hc.SecurityOpt, NoNewPrivileges) {
		hc.SecurityOpt = append(hc.SecurityOpt, NoNewPrivileges)
	}
	if hc.Memory == 0 && memLimit > 0 {
		hc.Memory = memLimit
	}
	if hc.PidsLimit == nil && pids > 0 {
		hc.PidsLimit = &pids
	}
}

// Hardened is HardenHostConfig as a testcontainers option; its place among the options does not matter for
// the limits (a limit set by another option is kept).
func Hardened(memLimit, pids int64) testcontainers.CustomizeRequestOption {
	return testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
		HardenHostConfig(hc, memLimit, pids)
	})
}

// terminate is Terminate without the 10 s stop grace testcontainers defaults to: StopTimeout(0) first, so a
// caller's own StopTimeout (a SIGTERM test that needs a grace) still wins.
func terminate(ctx context.Context, c *testcontainers.DockerContainer, opts ...testcontainers.TerminateOption) error {
	if c == nil {
		return nil
	}
	return c.Terminate(ctx, append([]testcontainers.TerminateOption{testcontainers.StopTimeout(0)}, opts...)...)
}
