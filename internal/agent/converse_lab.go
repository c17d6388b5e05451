package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// Controller is the lab's end of conversation mode: a BusLink registered as the lab, which starts, stops and
// asks for reports of phases, and counts the agents' ready and done messages.
type Controller struct {
	Link *BusLink

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every ready or done
	ready   map[string]int
	done    map[string]map[string]bool // phase → conversations done
}

// NewController returns a controller registering as id; run its Link.
func NewController(cfg LinkConfig) *Controller {
	c := &Controller{changed: make(chan struct{}), ready: map[string]int{}, done: map[string]map[string]bool{}}
	cfg.OnFrame = c.onFrame
	// Agents that registered again before the lab did told nobody: after every registration the lab asks.
	cfg.OnUp = func(bool) { _ = c.Link.Send("", Msg{K: KindHello}) }
	c.Link = NewBusLink(cfg)
	return c
}

func (c *Controller) onFrame(f Frame) {
	if f.Type != "msg" {
		return
	}
	var m Msg
	if json.Unmarshal(f.Payload, &m) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m.K {
	case KindReady:
		c.ready[f.From]++
	case KindDone:
		if c.done[m.Phase] == nil {
			c.done[m.Phase] = map[string]bool{}
		}
		c.done[m.Phase][m.Conv] = true
	default:
		return
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

// wait blocks until cond (evaluated with c.mu held) holds or ctx ends.
func (c *Controller) wait(ctx context.Context, cond func() bool) error {
	for {
		c.mu.Lock()
		ok, ch := cond(), c.changed
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// WaitReady waits until every agent in ids has said ready at least once.
func (c *Controller) WaitReady(ctx context.Context, ids []string) error {
	err := c.wait(ctx, func() bool {
		for _, id := range ids {
			if c.ready[id] == 0 {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("wait for %d agents to register: %w", len(ids), err)
	}
	return nil
}

// ReadyCount is how many times agent id has registered (1 + its re-registrations).
func (c *Controller) ReadyCount(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready[id]
}

// WaitDone waits until n conversations of phase are done.
func (c *Controller) WaitDone(ctx context.Context, phase string, n int) error {
	return c.wait(ctx, func() bool { return len(c.done[phase]) >= n })
}

// Done is how many conversations of phase are done.
func (c *Controller) Done(phase string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.done[phase])
}

// Go starts phase on every agent (broadcast).
func (c *Controller) Go(phase string, convs []ConvSpec, kib int) error {
	return c.Link.Send("", Msg{K: KindGo, Phase: phase, Convs: convs, KiB: kib})
}

// Stop ends phase: the agents say no more turns.
func (c *Controller) Stop(phase string) error { return c.Link.Send("", Msg{K: KindStop, Phase: phase}) }

// Report asks every agent to print its report of phase.
func (c *Controller) Report(phase string) error {
	return c.Link.Send("", Msg{K: KindReport, Phase: phase})
}
