package decide

import (
	"strings"
	"testing"

	"github.com/agentlab/agentlab/internal/stats"
)

// tree builds the four sections from figures: Rust improvement ×, Rust/Go memory fraction, per-token ms,
// persistent savings %, messaging success %, n values each.
func tree(rustX, memFrac, tokenMS, savings, success float64, n int) Decisions {
	bus := busIn(80, n, rustX)
	bus.MemSlope = Paired{Go: rep(10000, n), Rust: rep(10000*memFrac, n)}
	b := Bus(bus)
	sp := Spawn(SpawnInput{Savings: []RuntimeSavings{{"process", rep(savings, n)}},
		Memory: []MemoryVerdict{{"persistent-process", &stats.Trend{Verdict: stats.Stable}}}})
	st := Streaming(StreamingInput{Reference: "go-sdk", Clients: []StreamingClient{{Client: "go-sdk", Language: "go", PerTokenMS: rep(tokenMS, n)}}})
	m := Messaging([]MessagingBus{{Bus: "go", SuccessPct: rep(success, n), P95MS: rep(3, n)}})
	return Decisions{MessageBus: &b, SpawnPatterns: &sp, AIStreaming: &st, AgentMessaging: &m}
}

func TestMigrationChoosesBySeedCriteria(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    Decisions
		want string
	}{
		{"rust 4x, 70 % less memory, 1000 agents", tree(4, 0.3, 0.1, 90, 100, 6), MigrationFullRust},
		{"rust 2.5x, network-bound, persistent saves", tree(2.5, 0.8, 0.1, 90, 100, 6), MigrationHybrid},
		{"rust 1.2x, persistent saves, messaging fine", tree(1.2, 0.8, 0.1, 90, 100, 6), MigrationPersistentOnly},
		{"rust 1.2x, spawn-kill fine", tree(1.2, 0.8, 0.1, 20, 100, 6), MigrationStay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := Migration(tc.d)
			if m.Chosen != tc.want {
				t.Errorf("chosen %q, want %q: %s\n%+v", m.Chosen, tc.want, m.Answer, m.Scenarios)
			}
		})
	}
}

func TestMigrationInconclusiveWithoutIntervals(t *testing.T) {
	m := Migration(tree(4, 0.3, 0.1, 90, 100, 2)) // n=2: no interval anywhere
	if m.Chosen != "" || !strings.HasPrefix(m.Answer, "inconclusive") || len(m.Candidates) == 0 {
		t.Errorf("n=2 chose %q (%s), candidates %v", m.Chosen, m.Answer, m.Candidates)
	}
}

func TestMigrationNothingRun(t *testing.T) {
	m := Migration(Decisions{})
	if m.Chosen != "" {
		t.Errorf("chose %q with nothing measured", m.Chosen)
	}
	for _, s := range m.Scenarios {
		for _, c := range s.Criteria {
			if c.Answer != NotEvaluated || c.Criterion == "" {
				t.Errorf("%s: %+v", s.ID, c)
			}
		}
	}
}

func TestCostFromMeasuredFigures(t *testing.T) {
	d := tree(4, 0.4, 0.1, 90, 100, 6)
	m := float64(8 << 20)
	d.SpawnPatterns.HostMemory = []ContainerHostMemory{{Pattern: "spawn-docker", Containers: 20, CgroupBytes: 4 << 20},
		{Pattern: "persistent-docker", Containers: 3, CgroupBytes: 6 << 20, MarginalHostBytesPerContainer: &m}}
	c := Cost(CostInput{ColdStartMS: rep(300, 6), ColdStartRatio: rep(30, 6),
		Buses: []BusMemory{{Bus: "go", PerConn: stats.MedianCI(rep(10000, 6))}}}, d)
	if c.MemorySavingsPct == nil || c.CostReductionPct == nil {
		t.Fatalf("no savings: %+v", c)
	}
	// Rust/Go 0.4–0.408 → savings 59.2–60 % → cost 35.5–36 %.
	if s := c.MemorySavingsPct.Estimate; s < 59 || s > 60.1 || *c.MemorySavingsPct.Low95 > *c.MemorySavingsPct.High95 {
		t.Errorf("savings %+v", c.MemorySavingsPct)
	}
	if r := c.CostReductionPct.Estimate; r < 0.6*59 || r > 0.6*60.1 {
		t.Errorf("cost %+v", c.CostReductionPct)
	}
	if g := c.AgentContainersPerGiB.Estimate; g != 128 || !strings.Contains(c.AgentContainerSource, "persistent-docker: marginal host memory") {
		t.Errorf("8 MiB containers per GiB = %v, want 128 (%s)", g, c.AgentContainerSource)
	}
	// Without the marginal figure (a remote daemon) the cgroup one stands in, and says so.
	d.SpawnPatterns.HostMemory[1].MarginalHostBytesPerContainer = nil
	if c := Cost(CostInput{}, d); c.AgentContainersPerGiB.Estimate != 1024/6.0 || !strings.Contains(c.AgentContainerSource, "cgroup memory only") {
		t.Errorf("cgroup fallback: %v (%s)", c.AgentContainersPerGiB.Estimate, c.AgentContainerSource)
	}
	if c.Buses[0].PerGiB.Estimate < 100000 || !c.Buses[0].PerGiB.HasCI() || *c.Buses[0].PerGiB.Low95 > *c.Buses[0].PerGiB.High95 {
		t.Errorf("bus density %+v", c.Buses[0].PerGiB)
	}
	if c.ColdStartMS == nil || c.ColdStartMS.Estimate < 300 {
		t.Errorf("cold start %+v", c.ColdStartMS)
	}
}
