package stats

// Memory per connection as a slope. One difference "(memory with N connections − idle memory) / N" holds every
// fixed cost the first connections trigger (a runtime's heap or stack arenas growing a step, a thread pool
// starting) divided by N, so it falls as N grows and a comparison at 100 connections says little about 1000. The
// bus's memory read after each step of idle connections settles, fitted by least squares against the connection
// count, separates the two: the slope is what one more connection costs, the intercept the fixed cost.

// The fit starts at the first step with connections: the reading with none is the idle figure, reported apart. The
// first connections trigger fixed costs the later ones do not (the Go runtime's heap and stack arenas grow a step:
// ~5 MiB at the first 250 connections of gobus, both transports, against ~1–2 MiB per further 250), and a line
// through the idle point would tilt by that step, more the shorter the ladder; from the first step on the slope
// is what one more connection costs, and intercept − idle is the fixed cost of having connections at all.

// ConnReading is a container's memory with Conns registered idle connections, read once it settled.
type ConnReading struct {
	Conns int     `json:"connections"`
	Bytes float64 `json:"bytes"`
}

// ConnFit is one repeat's least-squares line over the readings with connections: Bytes = InterceptBytes +
// SlopeBytes·Conns. IdleBytes is the reading with none (nil when there was none).
type ConnFit struct {
	SlopeBytes     float64  `json:"slope_bytes_per_conn"`
	SlopeStdErr    float64  `json:"slope_stderr_bytes"`
	InterceptBytes float64  `json:"intercept_bytes"`
	IdleBytes      *float64 `json:"idle_bytes"`
	// SlopeThroughIdleBytes is the least-squares slope over every reading, the idle one included (0 without an
	// idle reading): the one-line fit through 0, 250, 500, … connections that a reader may draw by hand. The
	// first connections' fixed step tilts it up, more the shorter the ladder; context, not what is decided on.
	SlopeThroughIdleBytes float64 `json:"slope_through_idle_bytes_per_conn"`
	R2                    float64 `json:"r2"`
	Points                int     `json:"points"` // readings fitted
	MinConns              int     `json:"min_connections"`
	MaxConns              int     `json:"max_connections"`
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

// FitConn fits one repeat's readings with connections (the idle one, Conns 0, is kept apart); ok is false with
// fewer than two distinct connection counts above 0.
func FitConn(rs []ConnReading) (ConnFit, bool) {
	var x, y []float64
	var f ConnFit
	for _, r := range rs {
		if r.Conns <= 0 {
			idle := r.Bytes
			f.IdleBytes = &idle
			continue
		}
		x, y = append(x, float64(r.Conns)), append(y, r.Bytes)
		if f.MinConns == 0 || r.Conns < f.MinConns {
			f.MinConns = r.Conns
		}
		f.MaxConns = max(f.MaxConns, r.Conns)
	}
	lf, ok := LinearFit(x, y)
	f.Points = len(x)
	if !ok {
		return f, false
	}
	if f.IdleBytes != nil {
		if all, ok := LinearFit(append([]float64{0}, x...), append([]float64{*f.IdleBytes}, y...)); ok {
			f.SlopeThroughIdleBytes = all.Slope
		}
	}
	f.SlopeBytes, f.SlopeStdErr, f.InterceptBytes, f.R2 = lf.Slope, lf.SlopeStdErr, lf.Intercept, lf.R2
	return f, true
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
