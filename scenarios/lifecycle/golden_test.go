package lifecycle

import (
	"bytes"
	"testing"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/labtest"
	"github.com/agentlab/agentlab/internal/memstat"
	"github.com/agentlab/agentlab/internal/stats"
)

// go test ./scenarios/lifecycle -run Golden -update rewrites the golden files after an intended change of a table
// or a results file; review the diff before committing it.

// fixedLifecycle is one lifecycle result with every field the table and the JSON show.
func fixedLifecycle() *Comparison {
	rounds := func(base float64) []float64 {
		out := make([]float64, 6)
		for i := range out {
			out[i] = base * (1 + 0.02*float64(i%3))
		}
		return out
	}
	mk := func(name, kind, runtime, via string, mean float64, trend *stats.Trend) *PatternResult {
		r := result(name, kind, mean, rounds(mean), "")
		r.Runtime, r.Via = runtime, via
		r.Tasks = 20
		r.Time = stats.Summary{Count: 20, MeanMS: mean, MinMS: mean * 0.8, P50MS: mean, P90MS: mean * 1.2, P95MS: mean * 1.3,
			P99MS: mean * 1.5, P999MS: mean * 1.5, MaxMS: mean * 1.6, StdMS: mean / 10}
		r.OpsPerSec = 1000 / mean
		r.Memory = memoryResult{Source: "fixed source", BaselineBytes: 8 << 20, FinalBytes: 8<<20 + 4096, Trend: trend,
			Series: []memSample{{TS: 0, Bytes: 8 << 20}, {TS: 1, Bytes: 8<<20 + 4096}}}
		if kind == "persistent" {
			d := 4096.0
			r.Memory.DeltaBytes = &d
		}
		return r
	}
	iv := func(xs ...float64) *stats.Interval { v := stats.MedianCI(xs); return &v }
	host := func(pattern string, cgroup float64, proxy int64) *hostOverhead {
		h := &hostOverhead{ContainerHostMemory: decide.ContainerHostMemory{Pattern: pattern, CgroupBytes: cgroup,
			CgroupSource: "fixed cgroup source", Source: "fixed host source"}}
		var g daemonGrowth
		g.before, g.after, g.n, g.ok = 100<<20, 100<<20+3<<19, 3, true
		g.fill(h)
		for i := 0; i < 3; i++ {
			h.Shims = append(h.Shims, memstat.ShimMemory{PID: 100 + i, PSSBytes: 3 << 20, PrivateBytes: 5 << 19, PrivateDirtyBytes: 5 << 19, RSSBytes: 13 << 20})
			h.Proxies = append(h.Proxies, memstat.ProxyMemory{Processes: int(min(proxy, 2)), PSSBytes: proxy << 19, PrivateBytes: proxy << 19, PrivateDirtyBytes: proxy << 19, RSSBytes: proxy << 20})
		}
		f := func(v float64) *float64 { return &v }
		h.Containers, h.ShimPSSBytes, h.ShimPrivateDirtyBytes = 3, f(3<<20), f(5<<19)
		h.ProxyPSSBytes, h.ProxyPrivateDirtyBytes = f(float64(proxy<<19)), f(float64(proxy<<19))
		m := decide.MarginalHost(h.CgroupBytes, *h.ShimPrivateDirtyBytes, *h.ProxyPrivateDirtyBytes, h.DaemonGrowthBytes)
		h.MarginalHostBytesPerContainer = &m
		return h
	}
	stable := &stats.Trend{Verdict: stats.Stable, Rule: stats.RuleText, Samples: 12, BaselineBytes: 8 << 20, SlopeBytesMin: 1024, WindowSeconds: 30}
	res := []*PatternResult{
		mk("spawn-process", "spawn", "process", "", 12, nil),
		mk("persistent-process", "persistent", "process", "", 0.5, stable),
		mk("spawn-docker", "spawn", "docker", "testcontainers", 650, nil),
		mk("spawn-docker-raw", "spawn", "docker", "engine-api", 620, nil),
		mk("persistent-docker", "persistent", "docker", "testcontainers", 1, stable),
	}
	res[0].Memory.PeakSelf = iv(5.7*(1<<20), 5.8*(1<<20), 5.9*(1<<20), 5.8*(1<<20), 5.7*(1<<20), 5.8*(1<<20))
	res[0].Memory.ChildPeakRSS = iv(60 << 20)
	res[1].Memory.PSS = iv(8<<20, 8<<20+4096)
	res[2].Memory.PeakSelf, res[2].Memory.ContainerPeak = iv(5.5*(1<<20)), iv(7<<20, 7<<20, 7<<20, 7<<20, 7<<20, 7<<20)
	res[2].Memory.ContainerPeakSource = "cgroup memory.max_usage_in_bytes"
	res[2].Memory.Host = host("spawn-docker", 7<<20, 0)
	res[4].Memory.Host = host("persistent-docker", 1.6*(1<<20), 3)
	rs := ratios(res)
	d := decide.Spawn(spawnInput(res, rs))
	return &Comparison{SchemaVersion: SchemaVersion, Patterns: res, Ratios: rs, Decision: &d,
		Params: lifecycleParams{Iterations: 20, Agents: 3, Concurrency: 1, TaskKiB: 64, Rounds: 6, Warmup: 2, Quick: true, SampleMS: 100, SampleEvery: 1}}
}

func TestGoldenLifecycle(t *testing.T) {
	c := fixedLifecycle()
	var table bytes.Buffer
	if err := c.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	labtest.Golden(t, "lifecycle.table.golden", table.Bytes())
	labtest.Golden(t, "spawn-comparison.json.golden", labtest.GoldenJSON(t, c))
}
