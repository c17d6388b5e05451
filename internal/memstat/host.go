package memstat

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/moby/moby/client"
	"github.com/prometheus/procfs"
)

// DaemonProcesses are the command names (comm) of the daemon's own processes whose memory grows with the number of
// containers: dockerd and containerd. Not the shims (comm "containerd-shim", one per container, read by
// ShimOverhead) nor docker-proxy (one or two per published port, read by ProxyOverhead).
var DaemonProcesses = []string{"dockerd", "containerd"}

// DaemonPSS is the summed PSS of the daemon's processes here (DaemonProcesses), bytes: the dockerd that listens on
// the lab's socket and the containerd it runs (DaemonPIDs) — not every dockerd on the host, which may run several
// (a test cluster's nodes, another session's daemon stopping). Read before and after starting N containers,
// (after − before) / N estimates the daemon's growth per container; the daemon is shared, so anything else it does
// between the two readings is in that difference. A process that exits mid-read is left out. Local only
// (ErrNotLocal).
func DaemonPSS(loc Locality) (int64, error) {
	pids, err := DaemonPIDs(loc)
	if err != nil {
		return 0, err
	}
	fs, err := procfs.NewFS(loc.procRoot())
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, pid := range pids {
		pss, err := procPSS(fs, pid)
		if err != nil {
			return 0, err
		}
		sum += pss
	}
	return sum, nil
}

// PresumedLocality is for a reading that must come before any container exists to probe the daemon with (the
// daemon's memory before the first of N containers): local when cli reaches the daemon over a unix socket, not yet
// verified. Keep such a reading only if DetectLocality, once a container runs, says local too.
func PresumedLocality(cli client.APIClient) Locality {
	if isLocalDaemon(cli.DaemonHost()) {
		return Locality{Local: true, socket: strings.TrimPrefix(cli.DaemonHost(), "unix://"), Reason: "unix socket " + cli.DaemonHost() + " (presumed; not yet checked with a container)"}
	}
	return Locality{Reason: fmt.Sprintf("docker host %s is not a unix socket", cli.DaemonHost())}
}

// ProxyMemory is the summed memory of the docker-proxy processes that forward a container's published ports
// (dockerd's userland proxy: one per published port and address family), from /proc/<pid>/smaps_rollup, bytes.
// A container without published ports, or a daemon with the userland proxy off, has none (all zero).
type ProxyMemory struct {
	Processes         int   `json:"processes"`
	PSSBytes          int64 `json:"pss_bytes"`
	PrivateBytes      int64 `json:"private_bytes"`       // Private_Clean + Private_Dirty
	PrivateDirtyBytes int64 `json:"private_dirty_bytes"` // what only these processes hold (see ShimMemory)
	RSSBytes          int64 `json:"rss_bytes"`
}

// ProxyOverhead finds the docker-proxy processes whose "-container-ip" is one of container id's addresses and sums
// their memory. Local only (ErrNotLocal).
func ProxyOverhead(ctx context.Context, loc Locality, cli client.APIClient, id string) (ProxyMemory, error) {
	if !loc.Local {
		return ProxyMemory{}, fmt.Errorf("docker-proxy of %s: %w (%s)", short(id), ErrNotLocal, loc.Reason)
	}
	res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return ProxyMemory{}, fmt.Errorf("docker-proxy of %s: inspect: %w", short(id), err)
	}
	// A proxy is this container's when it forwards one of its published host ports to one of its addresses (an
	// address alone may repeat on another network).
	var ips, ports []string
	if ns := res.Container.NetworkSettings; ns != nil {
		for _, ep := range ns.Networks {
			if ep != nil && ep.IPAddress.IsValid() {
				ips = append(ips, ep.IPAddress.String())
			}
		}
		for _, bs := range ns.Ports {
			for _, b := range bs {
				if b.HostPort != "" {
					ports = append(ports, b.HostPort)
				}
			}
		}
	}
	if len(ips) == 0 || len(ports) == 0 {
		return ProxyMemory{}, nil
	}
	fs, err := procfs.NewFS(loc.procRoot())
	if err != nil {
		return ProxyMemory{}, err
	}
	procs, err := fs.AllProcs()
	if err != nil {
		return ProxyMemory{}, fmt.Errorf("docker-proxy of %s: %w", short(id), err)
	}
	var m ProxyMemory
	for _, p := range procs {
		args, err := p.CmdLine()
		if err != nil || !isProxyFor(args, ips, ports) {
			continue
		}
		r, err := p.ProcSMapsRollup()
		if err != nil {
			// The proxy may have exited between the listing and the read: it costs nothing then.
			continue
		}
		m.Processes++
		m.PSSBytes += int64(r.Pss)
		m.PrivateBytes += int64(r.PrivateClean + r.PrivateDirty)
		m.PrivateDirtyBytes += int64(r.PrivateDirty)
		m.RSSBytes += int64(r.Rss)
	}
	return m, nil
}

// isProxyFor reports whether a command line is a docker-proxy forwarding one of ports to one of ips.
func isProxyFor(args, ips, ports []string) bool {
	if len(args) == 0 || !hasSuffixBase(args[0], "docker-proxy") {
		return false
	}
	return slices.Contains(ips, argValue(args, "-container-ip")) && slices.Contains(ports, argValue(args, "-host-port"))
}

func argValue(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

func hasSuffixBase(path, base string) bool {
	return path == base || len(path) > len(base) && path[len(path)-len(base)-1] == '/' && path[len(path)-len(base):] == base
}
