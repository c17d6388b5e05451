package stats

import (
	"math"
	"testing"
)

// Known readings → known slope and intercept: 8 MiB fixed, 4 KiB per connection, with the runtime's step at the
// first connections (+512 KiB) and a little noise the fit must see through.
func TestFitConnSlope(t *testing.T) {
	line := func(c int, extra float64) ConnReading {
		return ConnReading{Conns: c, Bytes: 8<<20 + 4096*float64(c) + extra}
	}
	exact := []ConnReading{line(0, 0), line(250, 0), line(500, 0), line(1000, 0)}
	f, ok := FitConn(exact)
	if !ok || math.Abs(f.SlopeBytes-4096) > 1e-6 || math.Abs(f.InterceptBytes-8<<20) > 1e-3 || math.Abs(f.R2-1) > 1e-12 ||
		f.Points != 3 || f.MinConns != 250 || f.MaxConns != 1000 || f.IdleBytes == nil || *f.IdleBytes != 8<<20 {
		t.Fatalf("exact line: %+v", f)
	}
	// Slopes 4000..4500 over 7 repeats: the median is the middle one, the interval the order statistics' (n=7:
	// [x(1), x(7)]).
	var reps [][]ConnReading
	for i, s := range []float64{4300, 4000, 4500, 4100, 4200, 4400, 4250} {
		var rs []ConnReading
		for _, c := range []int{0, 250, 500, 1000} {
			rs = append(rs, ConnReading{Conns: c, Bytes: 8<<20 + float64(i)*1024 + s*float64(c)})
		}
		reps = append(reps, rs)
	}
	reps = append(reps, []ConnReading{{Conns: 500, Bytes: 1}}) // one count: cannot be fitted, left out
	cs, ok := FitConnSlope(reps)
	if !ok || len(cs.Repeats) != 7 || cs.PerConn.N != 7 {
		t.Fatalf("FitConnSlope: %+v", cs)
	}
	if math.Abs(cs.PerConn.Estimate-4250) > 1e-6 || !cs.PerConn.HasCI() || math.Abs(*cs.PerConn.Low95-4000) > 1e-6 ||
		math.Abs(*cs.PerConn.High95-4500) > 1e-6 {
		t.Errorf("slope interval %+v", cs.PerConn)
	}
	if math.Abs(cs.Intercept.Estimate-(8<<20+3*1024)) > 1e-3 || math.Abs(cs.R2Min-1) > 1e-9 {
		t.Errorf("intercept %+v, r2 min %v", cs.Intercept, cs.R2Min)
	}
	// A fixed step at the first connections moves the intercept, not the slope — unlike the per-run difference
	// at 100 connections ((connected − idle) / 100 = 4096 + 5243 here) or a line through the idle point.
	stepped := []ConnReading{line(0, 0), line(250, 512<<10), line(500, 512<<10), line(1000, 512<<10)}
	f, _ = FitConn(stepped)
	if math.Abs(f.SlopeBytes-4096) > 1e-6 || math.Abs(f.InterceptBytes-(8<<20+512<<10)) > 1e-3 || *f.IdleBytes != 8<<20 {
		t.Errorf("stepped: %+v, want slope 4096, intercept 8.5 MiB, idle 8 MiB", f)
	}
	// The line through the idle reading too is tilted by the step: x̄ = 437.5, Σ(x−x̄)² = 546,875, the step adds
	// 512 KiB·Σ_{x>0}(x−x̄) = 512 KiB·437.5 to Sxy, so +524,288·437.5/546,875 ≈ 419.4 B per connection.
	if want := 4096 + 524288*437.5/546875; math.Abs(f.SlopeThroughIdleBytes-want) > 1e-6 {
		t.Errorf("through idle: %v, want %v", f.SlopeThroughIdleBytes, want)
	}
	if f, _ := FitConn(exact); math.Abs(f.SlopeThroughIdleBytes-4096) > 1e-6 {
		t.Errorf("exact line through idle: %v, want 4096", f.SlopeThroughIdleBytes)
	}
	if _, ok := FitConn([]ConnReading{line(0, 0), line(250, 0)}); ok {
		t.Error("one count above 0 cannot be fitted")
	}
	if _, ok := FitConnSlope(nil); ok {
		t.Error("no repeats fitted")
	}
}
