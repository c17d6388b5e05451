package gobus

import (
	"sync/atomic"
	"time"
)

// Planted faults (Options.PlantDelay, Options.PlantDropEvery) are test knobs, not tuning: they make this bus
// measurably worse on purpose so the lab can show that a verdict flips on a known input (issue 23, README "How we
// know the verdicts are right"). Off by default; they touch only msg deliveries (direct, broadcast, group), never
// registered/pong/error frames.

// plantLineLen bounds the delayed deliveries held at once; a full line blocks the sender's reader (backpressure),
// so a planted delay can never grow memory without bound.
const plantLineLen = 1 << 16

type plant struct {
	delay time.Duration
	every uint64
	n     atomic.Uint64 // msg deliveries seen, for the drop
	line  chan delayed  // FIFO: with one constant delay, arrival order is due order
	stop  chan struct{} // closed by Shutdown
	done  chan struct{} // closed when the delay line has released what it held
}

type delayed struct {
	due time.Time
	c   *conn
	f   *frame
}

func newPlant(delay time.Duration, every int) *plant {
	if delay <= 0 && every <= 0 {
		return nil
	}
	p := &plant{delay: delay, every: uint64(max(every, 0))}
	if delay > 0 {
		p.line = make(chan delayed, plantLineLen)
		p.stop = make(chan struct{})
		p.done = make(chan struct{})
	}
	return p
}

// start runs the delay line (if any) until stop.
func (p *plant) start(s *Server) {
	if p == nil || p.line == nil {
		return
	}
	go func() {
		defer close(p.done)
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case d := <-p.line:
				if w := time.Until(d.due); w > 0 {
					t.Reset(w)
					select {
					case <-t.C:
					case <-p.stop:
						s.frames.release(d.f)
						p.drain(s)
						return
					}
				}
				s.pushUncounted(d.c, d.f)
			case <-p.stop:
				p.drain(s)
				return
			}
		}
	}()
}

func (p *plant) drain(s *Server) {
	for {
		select {
		case d := <-p.line:
			s.frames.release(d.f)
		default:
			return
		}
	}
}

// shutdown stops the delay line; frames it still held are released undelivered (the bus is going away).
func (p *plant) shutdown() {
	if p == nil || p.line == nil {
		return
	}
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// take applies the planted faults to one msg delivery of f (one reference) to c. handled reports whether it took
// f: dropped (queued false, counted as a planted drop) or put on the delay line (queued true: the bus accepted
// it, and the delay line queues it later or counts it as a slow-consumer drop then).
func (p *plant) take(s *Server, c *conn, f *frame) (handled, queued bool) {
	if p.every > 0 && p.n.Add(1)%p.every == 0 {
		s.m.droppedPlanted.Inc()
		s.frames.release(f)
		return true, false
	}
	if p.line == nil {
		return false, false
	}
	select {
	case p.line <- delayed{due: time.Now().Add(p.delay), c: c, f: f}:
		return true, true
	case <-p.stop:
		s.frames.release(f)
		return true, false
	}
}

// pushMsg is pushUncounted for a msg frame: the planted faults apply first.
func (s *Server) pushMsg(c *conn, f *frame) bool {
	if s.plant != nil {
		if handled, queued := s.plant.take(s, c, f); handled {
			return queued
		}
	}
	return s.pushUncounted(c, f)
}
