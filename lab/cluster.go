package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/agentlab/agentlab/internal/cluster"
	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/agentlab/agentlab/internal/images"
)

// clusterCmd is `lab cluster up|down|status [--nodes N] [--name NAME] [--images LIST]`: a multi-node Docker Swarm
// on this host (internal/cluster), for a distributed bus-load without a cluster of one's own.
func clusterCmd(ctx context.Context, args []string, io IO) int {
	usage := "usage: go run ./lab cluster up|down|status [--nodes 3] [--name alc] [--images gobus,loadgen,agent]"
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(io.Stderr, "lab cluster: "+usage)
		return ExitUsage
	}
	verb := args[0]
	fs := flag.NewFlagSet("lab cluster", flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	var opts cluster.Options
	fs.IntVar(&opts.Nodes, "nodes", 3, "nodes (node 1: the swarm manager and the bus's node)")
	fs.StringVar(&opts.Name, "name", "alc", "the cluster's name: prefixes its namespaces, directories and cgroups")
	fs.StringVar(&opts.StorageDriver, "storage-driver", "vfs", "the nodes' storage driver (vfs, fuse-overlayfs)")
	imgs := fs.String("images", "gobus,loadgen,agent", "lab images loaded onto every node on up (built on this daemon first); none: no image")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 || opts.Nodes < 1 || opts.Nodes > 9 {
		fmt.Fprintln(io.Stderr, "lab cluster: --nodes must be in [1, 9], no arguments after the flags; "+usage)
		return ExitUsage
	}
	opts.Log = io.Stderr
	switch verb {
	case "up":
		return clusterUp(ctx, io, opts, *imgs)
	case "down":
		if err := cluster.Down(ctx, opts); err != nil {
			fmt.Fprintf(io.Stderr, "lab cluster down: %v\n", err)
			return clusterExit(err)
		}
		if left := cluster.Leftovers(opts); len(left) > 0 {
			fmt.Fprintf(io.Stderr, "lab cluster down: left: %s\n", strings.Join(left, "; "))
			return ExitFailed
		}
		return ExitOK
	case "status":
		c := cluster.Layout(opts)
		for _, n := range c.Nodes {
			pid, ok := c.DaemonPID(n)
			state := "not running"
			if ok {
				state = fmt.Sprintf("dockerd pid %d", pid)
			}
			fmt.Fprintf(io.Stdout, "%s %s %s (%s)\n", n.Name, n.Addr, n.Host(), state)
		}
		if left := cluster.Leftovers(opts); len(left) > 0 {
			fmt.Fprintf(io.Stdout, "present: %s\n", strings.Join(left, "; "))
		}
		return ExitOK
	}
	fmt.Fprintf(io.Stderr, "lab cluster: unknown action %q; %s\n", verb, usage)
	return ExitUsage
}

func clusterExit(err error) int {
	if errors.Is(err, cluster.ErrNotRoot) {
		return ExitUsage
	}
	return ExitFailed
}

func clusterUp(ctx context.Context, io IO, opts cluster.Options, imgs string) int {
	t0 := time.Now()
	c, err := cluster.Up(ctx, opts)
	if err != nil {
		fmt.Fprintf(io.Stderr, "lab cluster up: %v (`go run ./lab cluster down` removes what was built)\n", err)
		return clusterExit(err)
	}
	if imgs != "none" && imgs != "" {
		cli, err := dockerx.Connect(ctx)
		if err != nil {
			fmt.Fprintf(io.Stderr, "lab cluster up: %v\n", err)
			return ExitUsage
		}
		defer cli.Close()
		wd, _ := os.Getwd()
		root, prebuilt, err := images.Locate(wd)
		if err != nil {
			fmt.Fprintf(io.Stderr, "lab cluster up: %v\n", err)
			return ExitUsage
		}
		newBuilder := images.NewBuilder
		if prebuilt {
			newBuilder = images.NewPrebuiltBuilder
		}
		b := newBuilder(cli, root, io.Stderr)
		defer b.Close()
		var refs []string
		for _, n := range strings.Split(imgs, ",") {
			ref, err := b.Ensure(ctx, strings.TrimSpace(n))
			if err != nil {
				fmt.Fprintf(io.Stderr, "lab cluster up: image %s: %v\n", n, err)
				return ExitFailed
			}
			refs = append(refs, ref)
		}
		if err := c.LoadImages(ctx, cli, refs...); err != nil {
			fmt.Fprintf(io.Stderr, "lab cluster up: %v\n", err)
			return ExitFailed
		}
	}
	fmt.Fprintf(io.Stderr, "lab cluster up: %d nodes ready with images in %v\n", len(c.Nodes), time.Since(t0).Round(time.Millisecond))
	fmt.Fprintf(io.Stdout, "export DOCKER_HOST=%s\n", c.Manager().Host())
	return ExitOK
}
