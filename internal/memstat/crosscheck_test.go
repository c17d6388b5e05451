package memstat

import (
	"testing"
	"time"
)

func series(source string, t0 time.Time, pts ...[2]float64) []Sample {
	var out []Sample
	for _, p := range pts {
		out = append(out, Sample{Source: source, Time: t0.Add(time.Duration(p[0] * float64(time.Second))),
			MemoryBytes: uint64(p[1])})
	}
	return out
}

func TestCrossCheckPairsNearestOnce(t *testing.T) {
	t0 := time.Unix(1000, 0)
	// b is offset by 0.3 s; a's sample at 5 s has nothing within 1.5 s; b's 2.2 s sample is nearer to a's 2 s than
	// b's 1.3 s one, so each a pairs with its own b.
	a := series("cadvisor", t0, [2]float64{1, 100}, [2]float64{2, 100}, [2]float64{5, 100})
	b := series("docker-stats", t0, [2]float64{1.3, 105}, [2]float64{2.2, 130})
	c := CrossCheck(a, b, 0, 0, 0)
	if c.A != "cadvisor" || c.B != "docker-stats" || c.Tolerance != DefaultTolerance {
		t.Fatalf("header %+v", c)
	}
	if c.Pairs != 2 {
		t.Fatalf("pairs = %d, want 2", c.Pairs)
	}
	if len(c.Flagged) != 1 {
		t.Fatalf("flagged = %+v, want the 100 vs 130 pair", c.Flagged)
	}
	f := c.Flagged[0]
	if f.ABytes != 100 || f.BBytes != 130 || !f.TA.Equal(t0.Add(2*time.Second)) || !f.TB.Equal(t0.Add(2200*time.Millisecond)) {
		t.Fatalf("flagged pair %+v", f)
	}
	if want := 30.0 / 130; f.RelDiff != want || c.MaxRelDiff != want {
		t.Fatalf("rel diff %v / max %v, want %v", f.RelDiff, c.MaxRelDiff, want)
	}
	if want := (5.0/105 + 30.0/130) / 2; abs(c.MeanRelDiff-want) > 1e-12 {
		t.Fatalf("mean %v, want %v", c.MeanRelDiff, want)
	}
	if c.OK() {
		t.Fatal("OK with a flagged pair")
	}
}

func TestCrossCheckOneToOne(t *testing.T) {
	t0 := time.Unix(1000, 0)
	// Two a samples compete for one b sample: only the nearer one gets it.
	a := series("a", t0, [2]float64{1, 100}, [2]float64{1.2, 100})
	b := series("b", t0, [2]float64{1.15, 100})
	c := CrossCheck(a, b, time.Second, 0.1, 0)
	if c.Pairs != 1 || !c.OK() {
		t.Fatalf("%+v", c)
	}
}

func TestCrossCheckWindowAndTolerance(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := series("a", t0, [2]float64{0, 100})
	if c := CrossCheck(a, series("b", t0, [2]float64{1.6, 100}), 0, 0, 0); c.Pairs != 0 || c.OK() {
		t.Fatalf("1.6 s apart paired under the 1.5 s default: %+v", c)
	}
	if c := CrossCheck(a, series("b", t0, [2]float64{1.5, 100}), 0, 0, 0); c.Pairs != 1 {
		t.Fatalf("1.5 s apart not paired: %+v", c)
	}
	// Exactly 10 % is within tolerance; just above is flagged.
	if c := CrossCheck(a, series("b", t0, [2]float64{0, 90}), 0, 0, 0); !c.OK() {
		t.Fatalf("10 %% flagged: %+v", c)
	}
	if c := CrossCheck(a, series("b", t0, [2]float64{0, 89}), 0, 0, 0); c.OK() {
		t.Fatalf("11 %% not flagged: %+v", c)
	}
	if c := CrossCheck(nil, nil, 0, 0, 0); c.Pairs != 0 || c.OK() {
		t.Fatalf("empty: %+v", c)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestCrossCheckNoiseFloor(t *testing.T) {
	t0 := time.Unix(1000, 0)
	// 1.6 MiB vs 1.2 MiB is 25 % but only 0.4 MiB: noise under a 1 MiB floor, flagged without one.
	a := series("a", t0, [2]float64{0, 1.6 * (1 << 20)})
	b := series("b", t0, [2]float64{0.2, 1.2 * (1 << 20)})
	if c := CrossCheck(a, b, 0, 0, DefaultMinDiffBytes); !c.OK() || c.MinDiffBytes != DefaultMinDiffBytes {
		t.Fatalf("flagged under the floor: %+v", c)
	}
	if c := CrossCheck(a, b, 0, 0, 0); c.OK() {
		t.Fatalf("not flagged without a floor: %+v", c)
	}
}
