package cluster

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/agentlab/agentlab/internal/dockerx"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// swarm makes node 1 the manager and the others workers (through the Engine API, as the docker CLI would), then
// labels the nodes and waits until every one is ready.
func (c *Cluster) swarm(ctx context.Context) error {
	mgr, err := c.Manager().Client()
	if err != nil {
		return err
	}
	defer mgr.Close()
	m := c.Manager()
	if st, err := localState(ctx, mgr); err != nil {
		return err
	} else if st != swarm.LocalNodeStateActive {
		_, err := mgr.SwarmInit(ctx, client.SwarmInitOptions{
			ListenAddr: netip.AddrPortFrom(m.Addr, 2377).String(), AdvertiseAddr: m.Addr.String(),
			// The overlay networks' pool: far from the link subnet and the nodes' default bridges.
			DefaultAddrPool: []netip.Prefix{netip.MustParsePrefix("10.231.0.0/16")}, SubnetSize: 24,
		})
		if err != nil {
			return fmt.Errorf("swarm init on %s: %w", m.Name, err)
		}
	}
	sw, err := mgr.SwarmInspect(ctx, client.SwarmInspectOptions{})
	if err != nil {
		return fmt.Errorf("swarm inspect: %w", err)
	}
	for _, n := range c.Nodes[1:] {
		cli, err := n.Client()
		if err != nil {
			return err
		}
		st, err := localState(ctx, cli)
		if err == nil && st != swarm.LocalNodeStateActive {
			_, err = cli.SwarmJoin(ctx, client.SwarmJoinOptions{
				ListenAddr: netip.AddrPortFrom(n.Addr, 2377).String(), AdvertiseAddr: n.Addr.String(),
				RemoteAddrs: []string{netip.AddrPortFrom(m.Addr, 2377).String()}, JoinToken: sw.Swarm.JoinTokens.Worker,
			})
			if err != nil {
				err = fmt.Errorf("swarm join of %s: %w", n.Name, err)
			}
		}
		cli.Close()
		if err != nil {
			return err
		}
	}
	return c.labelNodes(ctx, mgr)
}

func localState(ctx context.Context, cli *client.Client) (swarm.LocalNodeState, error) {
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", fmt.Errorf("info: %w", err)
	}
	return info.Info.Swarm.LocalNodeState, nil
}

// labelNodes waits for every node to be ready and gives each its role label (node 1: RoleBus, the rest RoleLoad)
// and its name.
func (c *Cluster) labelNodes(ctx context.Context, mgr *client.Client) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		nodes, err := mgr.NodeList(ctx, client.NodeListOptions{})
		if err != nil {
			return fmt.Errorf("node list: %w", err)
		}
		ready := 0
		for _, sn := range nodes.Items {
			if sn.Status.State != swarm.NodeStateReady {
				continue
			}
			ready++
			n, ok := c.node(sn.Description.Hostname)
			if !ok {
				continue
			}
			role := RoleLoad
			if n.Index == 1 {
				role = RoleBus
			}
			if sn.Spec.Labels[LabelRole] == role && sn.Spec.Labels[LabelNode] == n.Name {
				continue
			}
			spec := sn.Spec
			if spec.Labels == nil {
				spec.Labels = map[string]string{}
			}
			spec.Labels[LabelRole], spec.Labels[LabelNode] = role, n.Name
			if _, err := mgr.NodeUpdate(ctx, sn.ID, client.NodeUpdateOptions{Version: sn.Version, Spec: spec}); err != nil {
				return fmt.Errorf("label node %s: %w", n.Name, err)
			}
		}
		if ready >= len(c.Nodes) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d nodes ready after 60 s", ready, len(c.Nodes))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// NodeNamed returns the node whose hostname (the swarm's name for it) is hostname.
func (c *Cluster) NodeNamed(hostname string) (Node, bool) { return c.node(hostname) }

func (c *Cluster) node(hostname string) (Node, bool) {
	for _, n := range c.Nodes {
		if n.Name == hostname {
			return n, true
		}
	}
	return Node{}, false
}

// LoadImages makes refs (tags on the host's daemon src) present on every node: saved once from src, loaded into
// each node that lacks one of them or has an older image under the tag (no registry needed).
func (c *Cluster) LoadImages(ctx context.Context, src client.APIClient, refs ...string) error {
	want := map[string]string{}
	for _, r := range refs {
		in, err := src.ImageInspect(ctx, r)
		if err != nil {
			return fmt.Errorf("inspect %s on the source daemon: %w", r, err)
		}
		want[r] = in.ID
	}
	var tar string
	for _, n := range c.Nodes {
		cli, err := n.Client()
		if err != nil {
			return err
		}
		missing := false
		for r, id := range want {
			if in, err := cli.ImageInspect(ctx, r); err != nil || in.ID != id {
				missing = true
			}
		}
		if missing {
			if tar == "" {
				if tar, err = saveImages(ctx, src, refs); err != nil {
					cli.Close()
					return err
				}
				defer os.Remove(tar)
			}
			err = loadImage(ctx, cli, tar)
		}
		cli.Close()
		if err != nil {
			return fmt.Errorf("load images into %s: %w", n.Name, err)
		}
	}
	return nil
}

func saveImages(ctx context.Context, src client.APIClient, refs []string) (string, error) {
	f, err := os.CreateTemp("", "agentlab-images-*.tar")
	if err != nil {
		return "", err
	}
	defer f.Close()
	rc, err := src.ImageSave(ctx, refs)
	if err == nil {
		_, err = io.Copy(f, rc)
		rc.Close()
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("save %v: %w", refs, err)
	}
	return f.Name(), nil
}

func loadImage(ctx context.Context, cli *client.Client, tar string) error {
	f, err := os.Open(tar)
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := cli.ImageLoad(ctx, f, client.ImageLoadWithQuiet(true))
	if err != nil {
		return err
	}
	defer res.Close()
	_, err = io.Copy(io.Discard, res)
	return err
}

// WaitNoContainers waits until no node of the cluster holds a container labelled with run id runID (a removed
// service's containers leave each node a few seconds after the manager forgot their tasks).
func (c *Cluster) WaitNoContainers(ctx context.Context, runID string) error {
	f := make(client.Filters).Add("label", dockerx.LabelRunID+"="+runID)
	for _, n := range c.Nodes {
		cli, err := n.Client()
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		for {
			cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
			if err == nil && len(cs.Items) == 0 {
				break
			}
			select {
			case <-ctx.Done():
				cli.Close()
				return fmt.Errorf("node %s: run %s's containers still there: %w (last: %v)", n.Name, runID, ctx.Err(), err)
			case <-time.After(200 * time.Millisecond):
			}
		}
		cli.Close()
	}
	return nil
}
