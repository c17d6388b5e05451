package stats

// Memory per connection as a slope. One difference "(memory with N connections − idle memory) / N" holds every
// fixed cost the first connections trigger (a runtime's heap or stack arenas growing a step, a thread pool
// starting) divided by N, so it falls as N grows and a comparison at 100 connections says little about 1000. The
// bus's memory read after each step of idle connections settles, fitted by least squares against the connection
// count, separates the two: the slope is what one more connection costs, the intercept the fixed cost.

// ConnReading is a container's memory with Conns registered idle connections, read once it settled.
type ConnReading struct {
	Conns int     `json:"connections"`
	Bytes float64 `json:"bytes"`
}

// ConnFit is one repeat's least-squares line: Bytes = InterceptBytes + SlopeBytes·Conns.
type ConnFit struct {
	SlopeBytes     float64 `json:"slope_bytes_per_conn"`
	SlopeStdErr    float64 `json:"slope_stderr_bytes"`
	InterceptBytes float64 `json:"intercept_bytes"`
	R2             float64 `json:"r2"`
	Points         int     `json:"points"`
	MaxConns       int     `json:"max_connections"`
}

// ConnSlope is memory per connection over repeats: each repeat (a fresh container stepped through the same
// connection counts) is fitted on its own, and the slope and intercept are the medians of those fits with
// benchmath's interval (none below MinNForCI repeats), so the spread between containers is the interval.
type ConnSlope struct {
	PerConn   Interval  `json:"bytes_per_conn"`
	Intercept Interval  `json:"intercept_bytes"`
	R2Min     float64   `json:"r2_min"` // the worst repeat's R² (how straight the lines are)
	Repeats   []ConnFit `json:"repeats"`
}

// FitConn fits one repeat's readings; ok is false with fewer than two distinct connection counts.
func FitConn(rs []ConnReading) (ConnFit, bool) {
	x := make([]float64, len(rs))
	y := make([]float64, len(rs))
	mx := 0
	for i, r := range rs {
		x[i], y[i] = float64(r.Conns), r.Bytes
		mx = max(mx, r.Conns)
	}
	f, ok := LinearFit(x, y)
	if !ok {
		return ConnFit{Points: len(rs), MaxConns: mx}, false
	}
	return ConnFit{SlopeBytes: f.Slope, SlopeStdErr: f.SlopeStdErr, InterceptBytes: f.Intercept, R2: f.R2,
		Points: f.N, MaxConns: mx}, true
}

// FitConnSlope fits each repeat (repeats that cannot be fitted are left out) and summarises the slopes and
// intercepts; ok is false when no repeat could be fitted.
func FitConnSlope(repeats [][]ConnReading) (ConnSlope, bool) {
	var s ConnSlope
	var slopes, icepts []float64
	for _, rs := range repeats {
		f, ok := FitConn(rs)
		if !ok {
			continue
		}
		if len(s.Repeats) == 0 || f.R2 < s.R2Min {
			s.R2Min = f.R2
		}
		s.Repeats = append(s.Repeats, f)
		slopes = append(slopes, f.SlopeBytes)
		icepts = append(icepts, f.InterceptBytes)
	}
	if len(slopes) == 0 {
		return s, false
	}
	s.PerConn, s.Intercept = MedianCI(slopes), MedianCI(icepts)
	return s, true
}
