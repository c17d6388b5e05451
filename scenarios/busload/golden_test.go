package busload

import (
	"bytes"
	"testing"
	"time"

	"github.com/agentlab/agentlab/internal/labtest"
	"github.com/agentlab/agentlab/internal/memstat"
)

// go test ./scenarios/busload -run Golden -update rewrites the golden files after an intended change of a table
// or a results file; review the diff before committing it.

// withMemSources gives every run of res its bus memory by source, as a local daemon with cAdvisor reads it.
func withMemSources(res *Result) *Result {
	res.MemSampling = &busMemSampling{Sources: []string{"docker-stats", "cgroup", "cadvisor"},
		Interval: memstat.Duration(time.Second), CPUSetBusy: "host /proc/stat per-CPU times"}
	for _, runs := range res.runs {
		for i, r := range runs {
			base := uint64(20<<20 + i<<20)
			r.BusFig.MemSources = []busMemSource{
				{Source: "docker-stats", Samples: 3, MeanBytes: base, MaxBytes: base + 1<<20},
				{Source: "cgroup", Samples: 30, MeanBytes: base + 1<<18, MaxBytes: base + 1<<20, CrossCheck: "agree (3 pairs, max 1.2 %)"},
				{Source: "cadvisor", Samples: 3, MeanBytes: base, MaxBytes: base + 1<<20, CrossCheck: "agree (3 pairs, max 0.4 %)"},
			}
		}
	}
	return res
}

func TestGoldenBusLoad(t *testing.T) {
	res := withMemSources(fakeResult(12, 100e3, 300e3, false))
	res.Buses[0].File, res.Buses[1].File = "go-ws-metrics.json", "rust-ws-metrics.json"
	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	labtest.Golden(t, "busload.table.golden", table.Bytes())
	v, _ := res.outcome().File("go-ws-metrics.json")
	labtest.Golden(t, "go-ws-metrics.json.golden", labtest.GoldenJSON(t, v))
	// Twice the same result must give the same bytes: no map iteration order reaches a report.
	var again bytes.Buffer
	if err := withMemSources(fakeResult(12, 100e3, 300e3, false)).WriteTable(&again); err != nil || !bytes.Equal(again.Bytes(), table.Bytes()) {
		t.Errorf("the table is not deterministic")
	}
}
