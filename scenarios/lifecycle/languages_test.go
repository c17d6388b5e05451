package lifecycle

import (
	"bytes"
	"strings"
	"testing"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/stats"
)

func langResult(name, lang, kind string, rounds []float64, verdict string) *PatternResult {
	r := result(name, kind, rounds[0], rounds, verdict)
	r.Language = lang
	return r
}

// Test 3 per language: node's decision reads node's own pairs (and npx → persistent as the "npx" runtime), not
// go's; planted rounds flip it (node saves 95 %, python 20 %).
func TestLanguageDecisions(t *testing.T) {
	six := func(v float64) []float64 { return []float64{v, v, v, v, v, v} }
	res := []*PatternResult{
		langResult("spawn-process", "", "spawn", six(10), ""),
		langResult("persistent-process", "", "persistent", six(1), stats.Stable),
		langResult("spawn-process-node", "node", "spawn", six(100), ""),
		langResult("persistent-process-node", "node", "persistent", six(5), stats.Stable),
		langResult("spawn-npx", "node", "spawn", six(500), ""),
		langResult("spawn-process-python", "python", "spawn", six(50), ""),
		langResult("persistent-process-python", "python", "persistent", six(40), stats.Stable),
	}
	rs := ratios(res)
	names := map[string]bool{}
	for _, r := range rs {
		names[r.Slow+"/"+r.Fast] = true
	}
	for _, want := range []string{"spawn-process/persistent-process", "spawn-process-node/persistent-process-node",
		"spawn-process-node/spawn-process", "spawn-npx/spawn-process-node", "spawn-npx/persistent-process-node",
		"spawn-process-python/persistent-process-python", "persistent-process-python/persistent-process"} {
		if !names[want] {
			t.Errorf("no ratio %s in %v", want, names)
		}
	}
	node := spawnInputFor(res, rs, "node")
	if len(node.Savings) != 2 || node.Savings[0].Runtime != "process" || node.Savings[1].Runtime != "npx" ||
		node.Savings[0].PerRound[0] != 95 || len(node.Memory) != 1 || node.Memory[0].Pattern != "persistent-process-node" {
		t.Fatalf("node input %+v", node)
	}
	if d := decide.Spawn(node); d.PersistentSaves50 != decide.Yes {
		t.Errorf("node saves 95 %%: %+v", d)
	}
	if d := decide.Spawn(spawnInputFor(res, rs, "python")); d.PersistentSaves50 != decide.No {
		t.Errorf("python saves 20 %%: decision %s, want no", d.PersistentSaves50)
	}
	goIn := spawnInput(res, rs)
	if len(goIn.Savings) != 1 || goIn.Savings[0].PerRound[0] != 90 || len(goIn.Memory) != 1 {
		t.Errorf("go input %+v", goIn)
	}
	// The table names every language's verdict.
	d := decide.Spawn(goIn)
	c := &Comparison{Patterns: res, Ratios: rs, Decision: &d}
	for _, l := range []string{"go", "node", "python"} {
		ld := decide.Spawn(spawnInputFor(res, rs, langField(l)))
		c.Languages = append(c.Languages, LanguageVerdict{Language: l, Version: l + " 1", Decision: &ld})
	}
	var b bytes.Buffer
	if err := c.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"per agent language", "node     (node 1)", "python   (python 1)", "vs spawn-kill (npx)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestFlagsRuntimeAndAgentImages(t *testing.T) {
	ok := Flags{Concurrency: 1, Rounds: 1, Runtimes: "go,node", AgentImages: "mine=example/agent:1,theirs=x"}
	if err := ok.check(); err != nil {
		t.Errorf("check(%+v) = %v", ok, err)
	}
	imgs, _ := parseAgentImages(ok.AgentImages)
	if len(imgs) != 2 || imgs[0] != (agentImage{"mine", "example/agent:1"}) {
		t.Errorf("parseAgentImages = %+v", imgs)
	}
	for _, bad := range []Flags{
		{Concurrency: 1, Rounds: 1, Runtimes: "go,ruby"},
		{Concurrency: 1, Rounds: 1, Runtimes: "go", AgentImages: "node=x"},
		{Concurrency: 1, Rounds: 1, Runtimes: "go", AgentImages: "noequals"},
		{Concurrency: 1, Rounds: 1, Runtimes: "go", AgentImages: "a=x,a=y"},
	} {
		if err := bad.check(); err == nil {
			t.Errorf("check(%+v) accepted", bad)
		}
	}
}
