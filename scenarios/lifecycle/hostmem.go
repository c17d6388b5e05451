package lifecycle

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/memstat"
	"github.com/agentlab/agentlab/internal/stats"
)

// hostOverhead is a container pattern's host memory per container (issue 16): beside the cgroup figure, what each
// container costs the host outside its cgroup — its containerd-shim, its docker-proxy processes and a share of the
// daemon's growth — summed as decide.MarginalHostDefinition says. Bytes.
type hostOverhead struct {
	decide.ContainerHostMemory
	Shims   []memstat.ShimMemory  `json:"shims,omitempty"`   // per container, in container order
	Proxies []memstat.ProxyMemory `json:"proxies,omitempty"` // per container, in container order
	// DaemonBeforeBytes, DaemonAfterBytes: dockerd + containerd PSS before the first and after the last of the
	// DaemonN containers started.
	DaemonBeforeBytes int64 `json:"daemon_pss_before_bytes,omitempty"`
	DaemonAfterBytes  int64 `json:"daemon_pss_after_bytes,omitempty"`
}

// hostOverheadReader is a container pattern that can read its host memory per container; runPatterns calls it after
// the timed rounds, before teardown.
type hostOverheadReader interface {
	hostOverhead(ctx context.Context) (*hostOverhead, error)
}

// daemonGrowth brackets the start of n containers with readings of the daemon's PSS. begin is called before the
// first container exists, so it presumes locality from the socket; end keeps the pair only if the daemon, probed
// with a running container, is local.
type daemonGrowth struct {
	before    int64
	beforeErr error
	after     int64
	n         int
	ok        bool
}

func (g *daemonGrowth) begin(cli client.APIClient) {
	g.before, g.beforeErr = memstat.DaemonPSS(memstat.PresumedLocality(cli))
}

func (g *daemonGrowth) end(loc memstat.Locality, n int) {
	if g.beforeErr != nil || !loc.Local || n <= 0 {
		return
	}
	after, err := memstat.DaemonPSS(loc)
	if err != nil {
		return
	}
	g.after, g.n, g.ok = after, n, true
}

// fill puts the growth per container into h, if it was measured.
func (g *daemonGrowth) fill(h *hostOverhead) {
	if !g.ok {
		return
	}
	per := float64(g.after-g.before) / float64(g.n)
	h.DaemonGrowthBytes, h.DaemonN = &per, g.n
	h.DaemonBeforeBytes, h.DaemonAfterBytes = g.before, g.after
}

// measureHost reads ids' shims and proxies and fills h's medians and marginal figure; h's cgroup figure must be
// set. A remote daemon leaves them out with the reason, said once by the report.
func measureHost(ctx context.Context, loc memstat.Locality, cli client.APIClient, ids []string, g *daemonGrowth, h *hostOverhead) error {
	h.Containers = len(ids)
	if !loc.Local {
		h.NotMeasurable = fmt.Sprintf("%v (%s)", memstat.ErrNotLocal, loc.Reason)
		return nil
	}
	var shimPSS, shimPriv, pxPSS, pxPriv []float64
	for _, id := range ids {
		s, err := memstat.ShimOverhead(ctx, loc, cli, id)
		if err != nil {
			return err
		}
		px, err := memstat.ProxyOverhead(ctx, loc, cli, id)
		if err != nil {
			return err
		}
		h.Shims, h.Proxies = append(h.Shims, s), append(h.Proxies, px)
		shimPSS, shimPriv = append(shimPSS, float64(s.PSSBytes)), append(shimPriv, float64(s.PrivateDirtyBytes))
		pxPSS, pxPriv = append(pxPSS, float64(px.PSSBytes)), append(pxPriv, float64(px.PrivateDirtyBytes))
	}
	h.ShimPSSBytes, h.ShimPrivateDirtyBytes = median(shimPSS), median(shimPriv)
	h.ProxyPSSBytes, h.ProxyPrivateDirtyBytes = median(pxPSS), median(pxPriv)
	g.fill(h)
	m := decide.MarginalHost(h.CgroupBytes, *h.ShimPrivateDirtyBytes, *h.ProxyPrivateDirtyBytes, h.DaemonGrowthBytes)
	h.MarginalHostBytesPerContainer = &m
	return nil
}

// median is xs' median; nil for none.
func median(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	m := stats.MedianCI(xs).Estimate
	return &m
}

// orZero is *v, or 0 for nil (a cgroup figure no task reported).
func orZero(v *float64) float64 {
	if v == nil {
		return 0
	}
	return *v
}

// hostOverhead reads every persistent agent container's host overhead with the agents still up, after the timed
// rounds. The cgroup figure is each container's memory now (usage − inactive_file), median over the agents.
func (p *persistentDocker) hostOverhead(ctx context.Context) (*hostOverhead, error) {
	loc := p.locality(ctx)
	h := &hostOverhead{ContainerHostMemory: decide.ContainerHostMemory{Pattern: p.info().Name,
		Source: "the persistent agent containers after the timed rounds, still up, monitored: the lab's sampler holds a Docker " +
			"stats stream to each, which grows a shim's private dirty memory (2.4 → 4.1 MiB in 45 s here; the spawn probes' " +
			"shims are unmonitored); the daemon's growth is over their start"}}
	var cg []float64
	for _, id := range p.ids() {
		v, src, err := p.mem.Memory(ctx, []string{id})
		if err != nil {
			return h, fmt.Errorf("cgroup memory: %w", err)
		}
		src, _, _ = strings.Cut(src, ", summed") // read one container at a time
		cg, h.CgroupSource = append(cg, v), "each container's "+src
	}
	h.CgroupBytes = orZero(median(cg))
	return h, measureHost(ctx, loc, p.cli, p.ids(), &p.daemon, h)
}

// spawnShimProbes is how many containers in the spawn pattern's configuration hostOverhead holds up at once.
const spawnShimProbes = 3

// hostOverhead measures a spawned container's host overhead outside the timing. A task container's shim lives only
// during its timed task (~0.3–0.7 s), so spawnShimProbes containers with the task containers' configuration (same
// image and hardened HostConfig, network none) are started after the timed rounds running `agent serve`, which
// keeps them up, measured together and removed. The cgroup figure is the task containers' cgroup peak (median over
// tasks): a spawned container costs the host its peak while it runs.
func (p *spawnDocker) hostOverhead(ctx context.Context) (*hostOverhead, error) {
	p.mu.Lock()
	peaks, src := slices.Clone(p.peaks), p.peakSource
	p.mu.Unlock()
	h := &hostOverhead{ContainerHostMemory: decide.ContainerHostMemory{Pattern: p.info().Name, CgroupBytes: orZero(median(peaks)),
		CgroupSource: "task containers' " + src + " (median over tasks)",
		Source: fmt.Sprintf("%d containers in the task containers' configuration (network none, hardened) held up with `agent serve` after the timed rounds: a task container's shim lives only inside its timed task",
			spawnShimProbes)}}
	if pl := memstat.PresumedLocality(p.cli); !pl.Local {
		// Nothing local to read: spare the probe containers.
		return h, measureHost(ctx, pl, p.cli, nil, nil, h)
	}
	var g daemonGrowth
	g.begin(p.cli)
	var ids []string
	defer func() {
		rctx := context.WithoutCancel(ctx)
		for _, id := range ids {
			p.cli.ContainerRemove(rctx, id, client.ContainerRemoveOptions{Force: true})
		}
	}()
	for i := 0; i < spawnShimProbes; i++ {
		hc := &container.HostConfig{}
		oneShotHostConfig(hc)
		cr, err := p.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config:     &container.Config{Image: p.image, Cmd: []string{"serve", "--addr", ":9000"}, Labels: p.labels},
			HostConfig: hc,
		})
		if err != nil {
			return h, fmt.Errorf("create probe container: %w", err)
		}
		ids = append(ids, cr.ID)
		if _, err := p.cli.ContainerStart(ctx, cr.ID, client.ContainerStartOptions{}); err != nil {
			return h, fmt.Errorf("start probe container: %w", err)
		}
	}
	loc := memstat.DetectLocality(ctx, p.cli, ids[0])
	g.end(loc, len(ids))
	return h, measureHost(ctx, loc, p.cli, ids, &g, h)
}

// reportHostMemory prints the container patterns' host memory per container, and once why it is missing when
// the daemon is remote.
func reportHostMemory(w io.Writer, pats []*PatternResult) {
	var hs []*hostOverhead
	for _, r := range pats {
		if r.Memory.Host != nil {
			hs = append(hs, r.Memory.Host)
		}
	}
	if len(hs) == 0 {
		return
	}
	const mib = 1 << 20
	fmt.Fprintln(w, "\nhost memory per container (MiB, median over the containers; marginal = cgroup + shim private dirty + docker-proxy private dirty + daemon growth share):")
	said := false
	for _, h := range hs {
		if h.MarginalHostBytesPerContainer == nil {
			if !said {
				fmt.Fprintf(w, "  shim, docker-proxy and daemon memory: %s\n", h.NotMeasurable)
				said = true
			}
			fmt.Fprintf(w, "  %-18s cgroup %.2f (%s); marginal host memory: not measurable from here\n", h.Pattern,
				h.CgroupBytes/mib, h.CgroupSource)
			continue
		}
		daemon := "daemon growth not measured"
		if d := h.DaemonGrowthBytes; d != nil {
			daemon = fmt.Sprintf("daemon growth %+.2f (estimate, N=%d)", *d/mib, h.DaemonN)
			if *d < 0 {
				daemon = fmt.Sprintf("daemon growth %+.2f (estimate, N=%d: shrank meanwhile, counted 0)", *d/mib, h.DaemonN)
			}
		}
		fmt.Fprintf(w, "  %-18s cgroup %.2f + shim %.2f + proxy %.2f + %s → marginal %.2f  (N=%d; shim PSS %.2f, with its share of the shims' shared text)\n",
			h.Pattern, h.CgroupBytes/mib, orZero(h.ShimPrivateDirtyBytes)/mib, orZero(h.ProxyPrivateDirtyBytes)/mib, daemon,
			*h.MarginalHostBytesPerContainer/mib, h.Containers, orZero(h.ShimPSSBytes)/mib)
	}
}
