package decide

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/agentlab/agentlab/internal/stats"
)

func rep(x float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = x * (1 + 0.01*float64(i%3)) // a little spread, so intervals are real intervals
	}
	return out
}

func TestSpawn(t *testing.T) {
	stable := &stats.Trend{Verdict: stats.Stable}
	for _, tc := range []struct {
		name          string
		in            SpawnInput
		time, mem, ok Answer
	}{
		{"persistent wins, stable", SpawnInput{
			Savings: []RuntimeSavings{{"process", rep(90, 6)}, {"docker", rep(99, 6)}},
			Memory:  []MemoryVerdict{{"persistent-process", stable}}}, Yes, Yes, Yes},
		{"one runtime under 50", SpawnInput{
			Savings: []RuntimeSavings{{"process", rep(20, 6)}, {"docker", rep(99, 6)}},
			Memory:  []MemoryVerdict{{"persistent-process", stable}}}, No, Yes, No},
		{"4 rounds: no CI", SpawnInput{
			Savings: []RuntimeSavings{{"process", rep(90, 4)}},
			Memory:  []MemoryVerdict{{"persistent-process", stable}}}, Inconclusive, Yes, Inconclusive},
		{"straddles 50", SpawnInput{
			Savings: []RuntimeSavings{{"process", []float64{30, 40, 45, 55, 60, 70, 48, 52}}}}, Inconclusive, NotEvaluated, Inconclusive},
		{"leak", SpawnInput{
			Savings: []RuntimeSavings{{"process", rep(90, 6)}},
			Memory:  []MemoryVerdict{{"persistent-process", &stats.Trend{Verdict: stats.Growing}}}}, Yes, No, No},
		{"nothing", SpawnInput{}, NotEvaluated, NotEvaluated, NotEvaluated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Spawn(tc.in)
			if d.PersistentSaves50 != tc.time || d.MemoryStable != tc.mem || d.ShiftJustified != tc.ok {
				t.Errorf("time %s mem %s shift %s; want %s %s %s (%+v)", d.PersistentSaves50, d.MemoryStable, d.ShiftJustified,
					tc.time, tc.mem, tc.ok, d.Savings)
			}
			if _, err := json.Marshal(d); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSpawnSavingsDetailNamesTheInterval(t *testing.T) {
	d := Spawn(SpawnInput{Savings: []RuntimeSavings{{"process", rep(90, 4)}}})
	if !strings.Contains(d.Savings[0].Detail, "no CI") {
		t.Errorf("detail %q should say there is no CI", d.Savings[0].Detail)
	}
}

func busIn(goP95 float64, n int, rustX float64) BusInput {
	p95 := Paired{Go: rep(goP95, n), Rust: rep(goP95/2, n)}
	return BusInput{Agents: 1000, HaveRust: true,
		Open:       []BusPattern{{Pattern: "targeted", P95MS: p95, Undelivered: rep(0, n), Late: rep(3, n), Sessions: rep(1000, n)}},
		Throughput: Paired{Go: rep(100, n), Rust: rep(100*rustX, n)},
		MemSlope:   Paired{Go: rep(10000, n), Rust: rep(4000, n)},
	}
}

func TestBus(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      BusInput
		handles Answer
		rust    Answer
		rec     string
	}{
		{"go handles", busIn(5, 6, 3), Yes, Yes, "Stick with Go"},
		{"go misses, rust 3x", busIn(80, 6, 3), No, Yes, "Build Rust message bus"},
		{"go misses, rust 1.2x", busIn(80, 6, 1.2), No, No, "Optimize Go first"},
		{"n=2", busIn(5, 2, 3), Inconclusive, Inconclusive, "inconclusive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Bus(tc.in)
			if d.GoHandles != tc.handles || d.Rust2x != tc.rust || !strings.HasPrefix(d.Recommendation, tc.rec) {
				t.Errorf("handles %s rust %s rec %q; want %s %s %q\n%+v", d.GoHandles, d.Rust2x, d.Recommendation, tc.handles, tc.rust, tc.rec, d.HandlesP95)
			}
			if tc.in.MemSlope.Go[0] > 0 && len(tc.in.MemSlope.Go) >= 6 && d.RustUnderHalfMem != Yes {
				t.Errorf("memory 0.4 of Go's: %s (%s)", d.RustUnderHalfMem, d.Memory.Detail)
			}
		})
	}
}

func TestBusGeneratorBoundMissIsNotARefutation(t *testing.T) {
	in := busIn(80, 6, 3)
	in.Open[0].GoGeneratorBound = 2
	if d := Bus(in); d.GoHandles != Inconclusive {
		t.Errorf("generator-bound miss: %s", d.GoHandles)
	}
}

// A miss in generator-bound runs is the bus's when the generator sent on time (the p95 with its send lag taken out
// is still above 50 ms: a planted 60 ms bus delay), and stays inconclusive when the generator's lag explains it (a
// generator short of CPU: its sends 40 ms late, the same 80 ms p95).
func TestBusGeneratorBoundMissWithSendLagTakenOut(t *testing.T) {
	for _, tc := range []struct {
		name  string
		floor float64 // latency p94 − send lag p99, per run
		want  Answer
		says  string
	}{
		{"bus slow, generator on time", BusP95Floor(79, 0.8), No, "the miss is the bus's"},
		{"generator late", BusP95Floor(79, 40), Inconclusive, "may be the generator's"},
		{"floor straddles", 0, Inconclusive, "may be the generator's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := busIn(80, 6, 3)
			in.Open[0].GoGeneratorBound = 6
			in.Open[0].GoP95FloorMS = rep(tc.floor, 6)
			if tc.floor == 0 {
				in.Open[0].GoP95FloorMS = []float64{20, 40, 55, 60, 70, 45}
			}
			d := Bus(in)
			if c := d.HandlesP95[0]; c.Answer != tc.want || d.GoHandles != tc.want || !strings.Contains(c.Detail, tc.says) {
				t.Errorf("p95 check %s, handles %s (%s); want %s, %q", c.Answer, d.GoHandles, c.Detail, tc.want, tc.says)
			}
			if tc.want == No && !strings.HasPrefix(d.HandlesAnswer, "NO") {
				t.Errorf("handles answer %q", d.HandlesAnswer)
			}
		})
	}
	if BusP95Floor(3, 5) != 0 {
		t.Errorf("a floor below 0: %v", BusP95Floor(3, 5))
	}
}

func TestBusLostMessagesMeanNotHandled(t *testing.T) {
	in := busIn(5, 6, 3)
	in.Open[0].Undelivered[3] = 1
	if d := Bus(in); d.GoHandles != No || d.Delivered.Answer != No {
		t.Errorf("a run left one message undelivered: handles %s delivered %s", d.GoHandles, d.Delivered.Answer)
	}
}

func TestBusSaturationBoundUsesCPUSeconds(t *testing.T) {
	in := busIn(80, 6, 1.0)
	in.SaturationBound = true
	in.PerCPUSecond = Paired{Go: rep(50, 6), Rust: rep(200, 6)}
	d := Bus(in)
	if d.Rust2x != Yes || !strings.Contains(d.ImprovementBasis, "CPU-second") {
		t.Errorf("rust %s basis %q", d.Rust2x, d.ImprovementBasis)
	}
	if d.Improvement.P == nil || *d.Improvement.P >= 0.05 {
		t.Errorf("p-value %v", d.Improvement.P)
	}
}

func TestStreamingBands(t *testing.T) {
	for _, tc := range []struct {
		ms   float64
		band string
	}{{0.01, "network-bound"}, {2, "rust-could-help"}, {9, "rust-recommended"}} {
		d := Streaming(StreamingInput{Reference: "go-sdk", Clients: []StreamingClient{
			{Client: "go-sdk", Language: "go", PerTokenMS: rep(tc.ms, 8)},
			{Client: "rust", Language: "rust", PerTokenMS: rep(tc.ms/2, 8)}}})
		if d.Band != tc.band {
			t.Errorf("%v ms: band %s", tc.ms, d.Band)
		}
		if len(d.GoOverRust) != 1 || d.GoOverRust[0].Comparison.Ratio == nil || math.Abs(*d.GoOverRust[0].Comparison.Ratio-2) > 0.2 {
			t.Errorf("go/rust comparison %+v", d.GoOverRust)
		}
	}
}

func TestMessaging(t *testing.T) {
	d := Messaging([]MessagingBus{{Bus: "go", SuccessPct: rep(100, 6), P95MS: rep(3, 6)}, {Bus: "rust", SuccessPct: rep(100, 6), P95MS: rep(3, 6), Errors: 2}})
	if d.Buses[0].Success.Answer != Yes || d.Buses[0].P95.Answer != Yes || d.Buses[0].Zero.Answer != Yes || d.Buses[1].Zero.Answer != No {
		t.Errorf("%+v", d.Buses)
	}
}

func TestNotRun(t *testing.T) {
	s := Spawn(SpawnInput{})
	f := NewFinalReport("spawn", nil, Decisions{SpawnPatterns: &s}, CostInput{})
	if strings.Join(f.NotRun, ",") != "agent_messaging,ai_streaming,message_bus" {
		t.Errorf("not run: %v", f.NotRun)
	}
}

func TestBusDecisionMarshalsWithoutRust(t *testing.T) {
	in := busIn(5, 2, 3)
	in.HaveRust = false
	in.Open[0].P95MS.Rust = []float64{math.NaN(), math.NaN()}
	if _, err := json.Marshal(Bus(in)); err != nil {
		t.Fatalf("a Go-only decision must marshal: %v", err)
	}
}

// The marginal host figure adds the shim's and proxy's private memory and a positive daemon share to the cgroup
// figure; a shrinking daemon adds nothing; the spawn decision carries it for the cost analysis.
func TestMarginalHost(t *testing.T) {
	g, s := 512.0, -256.0
	if m := MarginalHost(1000, 200, 30, &g); m != 1742 {
		t.Errorf("with growth: %v", m)
	}
	if m := MarginalHost(1000, 200, 30, &s); m != 1230 {
		t.Errorf("with shrinkage: %v", m)
	}
	if m := MarginalHost(1000, 200, 0, nil); m != 1200 {
		t.Errorf("without daemon figure: %v", m)
	}
	hm := []ContainerHostMemory{{Pattern: "persistent-docker", CgroupBytes: 1000}}
	if d := Spawn(SpawnInput{HostMemory: hm}); len(d.HostMemory) != 1 || d.HostMemory[0].Pattern != "persistent-docker" {
		t.Errorf("decision's host memory %+v", d.HostMemory)
	}
}

// "A bus we build vs NATS": deliveries per CPU-second, bus/NATS per repeat, against 1×; an interval across 1 or
// too few repeats is inconclusive.
func TestBusVsNATS(t *testing.T) {
	six := func(x float64) []float64 { return []float64{x, x * 1.01, x * 0.99, x * 1.02, x * 0.98, x} }
	for _, tc := range []struct {
		name       string
		ours, nats []float64
		want       Answer
	}{
		{"cheaper", six(200e3), six(100e3), Yes},
		{"dearer", six(50e3), six(100e3), No},
		{"straddles", []float64{90, 110, 95, 105, 99, 101}, six(100), Inconclusive},
		{"too few", []float64{200, 200}, []float64{100, 100}, Inconclusive},
	} {
		d := Bus(BusInput{Agents: 100, NATS: []VsNATS{{Bus: "go", Ours: tc.ours, NATS: tc.nats}}})
		if len(d.VsNATS) != 1 || d.VsNATS[0].Answer != tc.want {
			t.Errorf("%s: %+v, want %s", tc.name, d.VsNATS, tc.want)
		}
	}
	if d := Bus(BusInput{Agents: 100}); d.VsNATS != nil {
		t.Errorf("no NATS measured, yet %+v", d.VsNATS)
	}
}

// Test 3's memory answer from real stability analyses: a long flat window is safe, a short one is "not shown",
// a leak is "not stable" with its fitted growth.
func TestSpawnMemoryWindow(t *testing.T) {
	series := func(n int, step time.Duration, perMin, noise float64) []stats.MemPoint {
		t0 := time.Unix(0, 0)
		pts := make([]stats.MemPoint, n)
		for i := range pts {
			el := time.Duration(i) * step
			pts[i] = stats.MemPoint{T: t0.Add(el), Bytes: 64<<20 + perMin*el.Minutes() + noise*float64(i%5-2)}
		}
		return pts
	}
	for _, tc := range []struct {
		name string
		pts  []stats.MemPoint
		want Answer
		says string
	}{
		{"10 min flat", series(600, time.Second, 0, 100<<10), Yes, "YES → Safe to use persistent agents"},
		{"6 s flat", series(21, 300*time.Millisecond, 0, 100<<10), Inconclusive, "NOT SHOWN (window too short): persistent-docker: no growth above"},
		{"6 s, 256 KiB per task at 20 tasks/s", series(21, 300*time.Millisecond, 256<<10*20*60, 100<<10), No, "not stable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := stats.Analyze(tc.pts)
			d := Spawn(SpawnInput{Memory: []MemoryVerdict{{"persistent-docker", &tr}}})
			if d.MemoryStable != tc.want || !strings.Contains(d.MemoryAnswer, tc.says) {
				t.Errorf("%s: %q; want %s containing %q (%+v)", d.MemoryStable, d.MemoryAnswer, tc.want, tc.says, tr)
			}
		})
	}
}

// The decision says at which agent count it was answered, in its own field and at the end of the recommendation.
func TestBusSaysWhereItWasAnswered(t *testing.T) {
	d := Bus(busIn(5, 6, 3))
	if d.AnsweredAt != "answered at 1000 agents" || !strings.HasPrefix(d.Recommendation, "Stick with Go — answered at 1000 agents;") {
		t.Errorf("answered_at %q, recommendation %q", d.AnsweredAt, d.Recommendation)
	}
	in := busIn(5, 6, 3)
	in.Agents = 100
	if d := Bus(in); d.AnsweredAt != "answered at 100 agents" || !strings.Contains(d.Recommendation, " — answered at 100 agents") {
		t.Errorf("100 agents: %q, %q", d.AnsweredAt, d.Recommendation)
	}
	if got := AnsweredAt(0); got != "not answered: no agent count measured" {
		t.Errorf("AnsweredAt(0) = %q", got)
	}
}

// Memory is decided on the slope; the per-run difference, which holds the fixed costs, is context only: a run
// whose per-run figure says "Rust < 50 %" but whose slopes do not answers no, and without slopes nothing.
func TestBusMemoryReadsTheSlope(t *testing.T) {
	in := busIn(5, 6, 3)
	in.MemPerConn = Paired{Go: rep(33<<10, 6), Rust: rep(7<<10, 6)} // 0.21: fixed costs at 100 agents
	in.MemSlope = Paired{Go: rep(4<<10, 6), Rust: rep(7.6*1024, 6)} // 1.9: Rust costs more per connection
	in.MemSlopeRange = "250–1000 idle connections"
	d := Bus(in)
	if d.RustUnderHalfMem != No || !strings.Contains(d.MemoryBasis, "slope") || !strings.Contains(d.MemoryBasis, "250–1000") ||
		!strings.Contains(d.MemPerRunContext, "context, not decided on") {
		t.Errorf("memory %s (%s); basis %q; context %q", d.RustUnderHalfMem, d.Memory.Detail, d.MemoryBasis, d.MemPerRunContext)
	}
	// The context names the buses decided on, not the languages' first designs.
	in.GoBus, in.RustBus = "go-netpoll", "rust-epoll"
	if d := Bus(in); !strings.Contains(d.MemPerRunContext, "go-netpoll 33.") || !strings.Contains(d.MemPerRunContext, "rust-epoll 7.") {
		t.Errorf("context with go-netpoll and rust-epoll decided on: %q", d.MemPerRunContext)
	}
	in.MemSlope = Paired{Go: rep(11<<10, 6), Rust: rep(4<<10, 6)} // planted: 0.36 → yes
	if d := Bus(in); d.RustUnderHalfMem != Yes || !strings.Contains(d.Recommendation, "strong case for Rust") {
		t.Errorf("planted 0.36: %s, %q", d.RustUnderHalfMem, d.Recommendation)
	}
	in.MemSlope = Paired{}
	if d := Bus(in); d.RustUnderHalfMem != NotEvaluated {
		t.Errorf("no slope: %s (%s)", d.RustUnderHalfMem, d.Memory.Detail)
	}
}
