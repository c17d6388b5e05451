package loadgen

import "time"

// Schedule is the open model's send plan, fixed before the first send (wrk2 style): message j of the generator is
// due at Start + j/Rate and belongs to agent j mod Agents, so the generator as a whole offers a steady Rate and
// each agent an evenly spaced Rate/Agents, phase-shifted by its index. A send that falls behind keeps its due time
// as its ts, so latency counts the time it waited: no coordinated omission.
type Schedule struct {
	Start  time.Time
	Rate   float64 // messages per second, the whole generator
	Agents int
	End    time.Time // no message is due at or after End
}

// At is when message j is due.
func (s Schedule) At(j int64) time.Time {
	return s.Start.Add(time.Duration(float64(j) * float64(time.Second) / s.Rate))
}

// Agent is the agent that sends message j.
func (s Schedule) Agent(j int64) int { return int(j % int64(s.Agents)) }

// Count is the number of messages due in [Start, End).
func (s Schedule) Count() int64 {
	if s.Rate <= 0 || !s.End.After(s.Start) {
		return 0
	}
	d := s.End.Sub(s.Start).Seconds()
	n := int64(d * s.Rate)
	// Float rounding: settle on the first j whose due time is not before End.
	for n > 0 && !s.At(n-1).Before(s.End) {
		n--
	}
	for s.At(n).Before(s.End) {
		n++
	}
	return n
}

// agentIter walks one agent's messages: j = agent, agent+Agents, ...
type agentIter struct {
	s    Schedule
	j    int64
	step int64
}

func (s Schedule) iter(agent int) agentIter {
	return agentIter{s: s, j: int64(agent), step: int64(s.Agents)}
}

// due returns the current message's due time and whether it is before End.
func (it *agentIter) due() (time.Time, bool) {
	t := it.s.At(it.j)
	return t, t.Before(it.s.End)
}

func (it *agentIter) next() { it.j += it.step }
