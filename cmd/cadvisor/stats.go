package main

import (
	"encoding/json"
	"net/http"

	v2 "github.com/google/cadvisor/info/v2"
	info "github.com/google/cadvisor/lib/model"
	"k8s.io/klog/v2"
)

// serveStats answers /api/v2.1/stats/<name> like upstream's v2.1 API: a JSON object name → v2.ContainerInfo
// (spec + stats, oldest first), which is what github.com/google/cadvisor/client/v2's Stats decodes.
func serveStats(p provider, w http.ResponseWriter, r *http.Request) {
	opt, err := requestOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	conts, err := p.GetRequestedContainersInfo(containerName(r), opt)
	if err != nil {
		if len(conts) == 0 {
			// Upstream answers 500 for an unknown container too; the client only looks at "not 200".
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		klog.Errorf("stats %s: partial: %v", containerName(r), err)
	}
	out := make(map[string]v2.ContainerInfo, len(conts))
	for name, c := range conts {
		if name == "/" || c == nil {
			continue // root cgroup stats are machine stats upstream
		}
		out[name] = toV2(name, c)
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(out); err != nil {
		klog.Errorf("stats: write: %v", err)
	}
}

func toV2(name string, c *info.ContainerInfo) v2.ContainerInfo {
	return v2.ContainerInfo{
		Spec:  v2.ContainerSpecFromV1(&c.Spec, c.Aliases, c.Namespace),
		Stats: v2.ContainerStatsFromV1(name, &c.Spec, c.Stats),
	}
}
