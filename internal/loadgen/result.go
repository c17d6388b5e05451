package loadgen

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/agentlab/agentlab/internal/stats"
)

// ResultSchemaVersion is the version of Result's JSON; bump on incompatible changes.
const ResultSchemaVersion = 2 // 2: late, presumed_lost, drain_end, outstanding, bus_at_drain_end; no window_resets

// Result is what one generator prints (one JSON line on stdout). Counts of the measured window are by the
// messages' ts: due time (open model) or send time (closed model) within [MeasureStart, MeasureEnd).
type Result struct {
	SchemaVersion int    `json:"schema_version"`
	Config        Config `json:"config"`

	Sessions   Sessions    `json:"ws_sessions"`
	Connecting *stats.Hist `json:"ws_connecting"` // TCP connect + upgrade, µs
	Register   *stats.Hist `json:"register"`      // register → registered, µs
	Times      Times       `json:"times"`
	// Steps are the idle steps of the connection ramp (Config.IdleSteps), in order.
	Steps []StepResult `json:"idle_steps,omitempty"`

	Sent          int64 `json:"ws_msgs_sent"`           // in the measured window
	SentTotal     int64 `json:"ws_msgs_sent_total"`     // warm-up included
	Received      int64 `json:"ws_msgs_received"`       // deliveries of messages of the measured window
	ReceivedTotal int64 `json:"ws_msgs_received_total"` // every delivery
	// Late are the deliveries of Received that arrived after the measured window ended (before the drain
	// deadline); PresumedLost are the messages of the measured window not delivered within TokenTimeout (late
	// or never), counted, never re-sent nor given their slot back.
	Late         int64 `json:"late"`
	PresumedLost int64 `json:"presumed_lost"`
	// DrainEnd is why the wait for deliveries after the last send ended: "complete" (every expected delivery or
	// error arrived), "quiet" (nothing arrived for a while: the rest is lost) or "deadline" (still arriving:
	// the rest was still queued). Outstanding is what had not arrived then, over the whole run (expected
	// deliveries − deliveries − error frames; 0 where unknown: broadcast with several generators).
	DrainEnd    string `json:"drain_end"`
	Outstanding int64  `json:"outstanding_at_drain_end"`
	// BusAtDrainEnd are the bus's /metrics values (series key → value, internal/prom) read when the drain ended,
	// before any connection closed: the run's bus counters end there, not after the agents left.
	BusAtDrainEnd map[string]float64 `json:"bus_at_drain_end,omitempty"`
	BusScrapeErr  string             `json:"bus_scrape_error,omitempty"`

	Latency *stats.Hist `json:"latency"`  // delivery time − ts, µs, measured window
	SendLag *stats.Hist `json:"send_lag"` // open model: actual send − due time, µs, measured window

	Errors      map[string]int64 `json:"errors"` // error frames from the bus, by code
	ReadErrors  int64            `json:"read_errors"`
	WriteErrors int64            `json:"write_errors"`
	Malformed   int64            `json:"malformed_frames"`
	CPU         CPU              `json:"cpu"`
	Notes       []string         `json:"notes,omitempty"`

	// LatencySummary repeats Latency's percentiles for people reading the log (ms).
	LatencySummary stats.Summary `json:"latency_summary"`
}

// Sessions counts connections (k6's ws_sessions).
type Sessions struct {
	Attempted  int            `json:"attempted"`
	Connected  int            `json:"connected"`  // upgrade completed
	Registered int            `json:"registered"` // took part in the traffic
	Failed     int            `json:"failed"`
	Failures   map[string]int `json:"failures,omitempty"` // by kind: dial, timeout, http_<status>, register
	FirstError string         `json:"first_error,omitempty"`
	// ActiveAtEnd is how many registered connections were still open when traffic ended.
	ActiveAtEnd int `json:"active_at_end"`
}

// Times are Unix nanoseconds (the host's clock: containers share it, so the lab can line them up with its own
// samples).
type Times struct {
	ConnectStart int64 `json:"connect_start_ns"`
	Connected    int64 `json:"connected_ns"` // every agent registered (and, with several generators, the barrier passed)
	TrafficStart int64 `json:"traffic_start_ns"`
	MeasureStart int64 `json:"measure_start_ns"`
	MeasureEnd   int64 `json:"measure_end_ns"`
	End          int64 `json:"end_ns"` // deliveries drained
}

// CPU is the generator's own CPU use (getrusage user+sys) over the measured window.
type CPU struct {
	UserS          float64 `json:"user_s"`
	SysS           float64 `json:"sys_s"`
	WallS          float64 `json:"wall_s"`
	AllowanceCores float64 `json:"allowance_cores"`
	// Utilization is (user+sys)/wall/allowance; above Config.SaturationThreshold the run is generator-bound.
	Utilization float64 `json:"utilization"`
	Saturated   bool    `json:"saturated"`
	// ReadSyscalls and WriteSyscalls are the generator's read and write syscalls over the window (/proc/self/io
	// syscr, syscw; null where unreadable): with the messages sent and received they give messages per syscall,
	// the generator's batching.
	ReadSyscalls  *int64 `json:"read_syscalls,omitempty"`
	WriteSyscalls *int64 `json:"write_syscalls,omitempty"`
}

// DecodeResult reads a generator's stdout: the last line that holds a JSON object is the result.
func DecodeResult(out []byte) (*Result, error) {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		l := bytes.TrimSpace(lines[i])
		if len(l) == 0 || l[0] != '{' {
			continue
		}
		var r Result
		if err := json.Unmarshal(l, &r); err != nil {
			return nil, fmt.Errorf("generator result: %w", err)
		}
		if r.SchemaVersion != ResultSchemaVersion {
			return nil, fmt.Errorf("generator result: schema_version %d, want %d", r.SchemaVersion, ResultSchemaVersion)
		}
		for _, h := range []**stats.Hist{&r.Connecting, &r.Register, &r.Latency, &r.SendLag} {
			if *h == nil {
				*h = stats.NewHist()
			}
		}
		return &r, nil
	}
	return nil, fmt.Errorf("generator result: no JSON object in %d bytes of output %q", len(out), clip(out, 300))
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// Combine merges several generators' results of one run: counts add up, histograms merge exactly, times span
// all of them (earliest start, latest end; the measured window is the union), CPU adds up over the allowances.
func Combine(rs []*Result) *Result {
	if len(rs) == 0 {
		return nil
	}
	out := &Result{
		SchemaVersion: ResultSchemaVersion, Config: rs[0].Config,
		Connecting: stats.NewHist(), Register: stats.NewHist(), Latency: stats.NewHist(), SendLag: stats.NewHist(),
		Errors: map[string]int64{}, Sessions: Sessions{Failures: map[string]int{}},
	}
	out.Config.Agents, out.Config.Rate = 0, 0
	var cpuS, wall float64
	var busAt int64
	for i, r := range rs {
		out.Config.Agents += r.Config.Agents
		out.Config.Rate += r.Config.Rate
		out.Steps = append(out.Steps, r.Steps...)
		s := &out.Sessions
		s.Attempted += r.Sessions.Attempted
		s.Connected += r.Sessions.Connected
		s.Registered += r.Sessions.Registered
		s.Failed += r.Sessions.Failed
		s.ActiveAtEnd += r.Sessions.ActiveAtEnd
		for k, v := range r.Sessions.Failures {
			s.Failures[k] += v
		}
		if s.FirstError == "" {
			s.FirstError = r.Sessions.FirstError
		}
		out.Connecting.Merge(r.Connecting)
		out.Register.Merge(r.Register)
		out.Latency.Merge(r.Latency)
		out.SendLag.Merge(r.SendLag)
		out.Sent += r.Sent
		out.SentTotal += r.SentTotal
		out.Received += r.Received
		out.ReceivedTotal += r.ReceivedTotal
		for k, v := range r.Errors {
			out.Errors[k] += v
		}
		out.ReadErrors += r.ReadErrors
		out.WriteErrors += r.WriteErrors
		out.Malformed += r.Malformed
		out.Late += r.Late
		out.PresumedLost += r.PresumedLost
		out.Outstanding += r.Outstanding
		out.DrainEnd = worseDrainEnd(out.DrainEnd, r.DrainEnd)
		// The bus's counters at the earliest drain end: no generator had closed a connection yet.
		if r.BusAtDrainEnd != nil && (out.BusAtDrainEnd == nil || r.Times.End < busAt) {
			out.BusAtDrainEnd, busAt = r.BusAtDrainEnd, r.Times.End
		}
		if out.BusScrapeErr == "" {
			out.BusScrapeErr = r.BusScrapeErr
		}
		out.Notes = append(out.Notes, r.Notes...)
		t := r.Times
		if i == 0 {
			out.Times = t
		} else {
			out.Times.ConnectStart = min(out.Times.ConnectStart, t.ConnectStart)
			out.Times.Connected = max(out.Times.Connected, t.Connected)
			out.Times.TrafficStart = min(out.Times.TrafficStart, t.TrafficStart)
			out.Times.MeasureStart = min(out.Times.MeasureStart, t.MeasureStart)
			out.Times.MeasureEnd = max(out.Times.MeasureEnd, t.MeasureEnd)
			out.Times.End = max(out.Times.End, t.End)
		}
		cpuS += r.CPU.UserS + r.CPU.SysS
		out.CPU.UserS += r.CPU.UserS
		out.CPU.SysS += r.CPU.SysS
		out.CPU.AllowanceCores += r.CPU.AllowanceCores
		out.CPU.Saturated = out.CPU.Saturated || r.CPU.Saturated
		wall = max(wall, r.CPU.WallS)
		out.CPU.ReadSyscalls = addOpt(out.CPU.ReadSyscalls, r.CPU.ReadSyscalls, i == 0)
		out.CPU.WriteSyscalls = addOpt(out.CPU.WriteSyscalls, r.CPU.WriteSyscalls, i == 0)
	}
	out.CPU.WallS = wall
	if wall > 0 && out.CPU.AllowanceCores > 0 {
		out.CPU.Utilization = cpuS / wall / out.CPU.AllowanceCores
	}
	out.LatencySummary = out.Latency.Summary()
	return out
}

// Drain ends, from best to worst.
const (
	DrainComplete = "complete"
	DrainQuiet    = "quiet"
	DrainDeadline = "deadline"
)

// worseDrainEnd is the worse of two drain ends: a run is complete only if every generator's drain was.
func worseDrainEnd(a, b string) string {
	rank := map[string]int{"": 0, DrainComplete: 1, DrainQuiet: 2, DrainDeadline: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// addOpt sums optional counts: unknown (nil) as soon as one generator could not count.
func addOpt(sum, v *int64, first bool) *int64 {
	if v == nil || (sum == nil && !first) {
		return nil
	}
	n := *v
	if sum != nil {
		n += *sum
	}
	return &n
}
