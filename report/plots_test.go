package report

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentlab/agentlab/scenarios"
)

// memSeries is one container's JSON series: n samples a second apart from each source.
func memSeries(n int, sources ...string) string {
	var ss []string
	for i := range n {
		for _, src := range sources {
			ss = append(ss, fmt.Sprintf(`{"t":"2026-12-03T10:00:%02dZ","source":%q,"working_set_bytes":%d,"memory_bytes":%d}`,
				i, src, (10+i)<<20, (10+i)<<20))
		}
	}
	return "[" + strings.Join(ss, ",") + "]"
}

// TestMemoryOverTimePlots: bus-load's bus containers and agent-messaging's bus and agent containers are plotted
// from the files, one plot per container with one line per source — for bus-load the first repeat at the largest
// agent count, for messaging every bus and the first messagingAgentPlots agents of each bus.
func TestMemoryOverTimePlots(t *testing.T) {
	dir := t.TempDir()
	src := `"docker-stats","cgroup"`
	bus := fmt.Sprintf(`{"bus":{"name":"go"},"memory_sampling":{"sources":[%s],"interval":"1s","containers":[
		{"id":"aaaaaaaaaaaaaaaa","name":"b1","role":"bus go","series":%s},
		{"id":"bbbbbbbbbbbbbbbb","name":"b2","role":"bus go","series":%s},
		{"id":"cccccccccccccccc","name":"b3","role":"bus go","series":%s}]},
		"runs":[
		{"bus":"go","repeat":1,"agents":10,"pattern":"targeted","model":"closed","bus_resources":{"container_id":"aaaaaaaaaaaaaaaa"}},
		{"bus":"go","repeat":1,"agents":50,"pattern":"targeted","model":"closed","bus_resources":{"container_id":"bbbbbbbbbbbbbbbb"}},
		{"bus":"go","repeat":2,"agents":50,"pattern":"targeted","model":"closed","bus_resources":{"container_id":"cccccccccccccccc"}}]}`,
		src, memSeries(5, "docker-stats", "cgroup"), memSeries(5, "docker-stats", "cgroup"), memSeries(5, "docker-stats", "cgroup"))
	var ctrs []string
	for i, role := range []string{"bus-go", "agent-go", "agent-go", "agent-go", "bus-rust", "agent-rust"} {
		ctrs = append(ctrs, fmt.Sprintf(`{"id":"%016d","name":"c%d","role":%q,"series":%s}`, i, i, role, memSeries(4, "docker-stats", "cgroup")))
	}
	msg := fmt.Sprintf(`{"scenario":"agent-messaging","container_memory":{"sources":[%s],"interval":"1s","containers":[%s]}}`,
		src, strings.Join(ctrs, ","))
	for n, b := range map[string]string{"go-ws-metrics.json": bus, "agent-messaging.json": msg} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := scenarios.ReadFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := plots(r)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		if strings.HasPrefix(p.Title, "Memory over time, container") {
			got = append(got, p.Title)
			if !strings.Contains(p.SVG, "docker-stats") || !strings.Contains(p.SVG, "cgroup") {
				t.Errorf("%s: a source's line is missing from the legend", p.Title)
			}
		}
	}
	want := []string{
		"Memory over time, container go bus, 50 agents, targeted closed, repeat 1",
		"Memory over time, container c0 (bus-go)",
		"Memory over time, container c1 (agent-go)",
		"Memory over time, container c2 (agent-go)",
		"Memory over time, container c4 (bus-rust)",
		"Memory over time, container c5 (agent-rust)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("memory plots:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
