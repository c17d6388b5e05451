package agent

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/agentlab/agentlab/internal/stats"
)

// Conversation mode (`agent converse`): a persistent agent connects to the bus, registers, and holds
// conversations with other agents through it. The lab steers it with control messages sent through the same bus
// (go, stop, report) and it answers with ready and done; everything else is turns.
//
// A conversation is a ring of members (two for a direct ping-pong, three for A → B → C → A); turn n is said by
// member n mod ring to the next member. Each turn does one unit of agent work (the lifecycle task, seeded by the
// running hash, so the reply depends on the context) before the agent says the next turn. Delivery is at most
// once, so the agent that said a turn resends it when the conversation has not come back to it within Retransmit,
// and again right after it registers again; a receiver answers a duplicate of the turn it last answered with its
// cached reply. Turn content is a pure function of the context, so a replacement agent says the very same turn.

// Control message kinds (payload "k").
const (
	KindTurn   = "turn"
	KindFin    = "fin"    // the last turn's receiver → its sender: stop resending
	KindGo     = "go"     // lab → all: start a phase
	KindStop   = "stop"   // lab → all: stop saying turns
	KindReport = "report" // lab → all: print the phase's report on stdout
	KindReady  = "ready"  // agent → lab: registered (sent after every registration)
	KindDone   = "done"   // agent → lab: a conversation's last turn arrived here
	KindHello  = "hello"  // lab → all, after the lab registers: answer with ready
)

// ConvSpec is one conversation of a phase.
type ConvSpec struct {
	ID      string   `json:"id"`
	Members []string `json:"members"` // ring order; members[0] says turn 0
	Turns   int      `json:"turns"`   // turns in all; 0 = until the phase is stopped
}

// Msg is the payload of every message between agents and the lab.
type Msg struct {
	K       string     `json:"k"`
	Phase   string     `json:"phase,omitempty"`
	Convs   []ConvSpec `json:"convs,omitempty"`   // go
	KiB     int        `json:"kib,omitempty"`     // go: work per turn
	Conv    string     `json:"conv,omitempty"`    // turn, fin, done
	Members []string   `json:"members,omitempty"` // turn: so an agent that missed go (a replacement) can join
	Turns   int        `json:"turns,omitempty"`   // turn
	Try     int        `json:"try,omitempty"`     // turn: 0 first send, then resends
	Trail   []Turn     `json:"trail,omitempty"`   // turn
}

// Event is one thing that went wrong or was repaired, with when it happened (Unix ns).
type Event struct {
	NS     int64  `json:"ns"`
	Kind   string `json:"kind"` // retransmit, resend-after-reconnect, reply-repeat, taken-on-resend, duplicate, reorder, gap, corrupt, bus-error:<code>, reconnect
	Conv   string `json:"conv,omitempty"`
	Turn   int    `json:"turn,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// maxEvents bounds a report's event list (counts stay exact); maxStalls a conversation's stall list (then
// StallsTruncated is set: the lab must not read "no stall listed" as "moving" past the last one).
const (
	maxEvents = 2000
	maxStalls = 20000
)

// ConvReport is one conversation as one agent saw it.
type ConvReport struct {
	ID          string `json:"id"`
	Received    int64  `json:"received"`      // turns received and taken (ok, gap, reorder)
	FirstSentNS int64  `json:"first_sent_ns"` // turn 0 sent here (initiator only), Unix ns
	FirstNS     int64  `json:"first_ns"`      // first turn taken here, Unix ns
	LastNS      int64  `json:"last_ns"`       // last turn taken here, Unix ns
	// Stalls are the intervals (Unix ns) between consecutive turns taken here that were longer than StallNS:
	// within [FirstNS, LastNS] and outside them the conversation moved at this agent at least every StallNS.
	Stalls          [][2]int64 `json:"stalls,omitempty"`
	StallsTruncated bool       `json:"stalls_truncated,omitempty"`
	Done            bool       `json:"done"` // its last turn arrived here
	Lost            int        `json:"lost"` // turns addressed here skipped and never arrived
	Head            int        `json:"head"` // newest turn held here
}

// unknownTargetRetry is how soon a turn is resent after the bus said its recipient is not registered.
const unknownTargetRetry = 100 * time.Millisecond

// StallNS is the gap between turns at one agent that a report lists as a stall.
const StallNS = int64(10 * time.Millisecond)

// Counts are an agent's counters for one phase.
type Counts struct {
	Sent          int64            `json:"sent"`            // distinct turns said (first sends)
	Received      int64            `json:"received"`        // turns taken: ok + gap + reorder
	FirstTry      int64            `json:"first_try"`       // turns taken that arrived on their first send
	TakenOnResend int64            `json:"taken_on_resend"` // turns taken from a resend: their first send was lost
	Duplicate     int64            `json:"duplicate"`       // turns that arrived again
	Reorder       int64            `json:"reorder"`         // turns that arrived after a later one
	Gap           int64            `json:"gap"`             // arrivals that skipped turns addressed here
	Corrupt       int64            `json:"corrupt"`         // trails that failed the hash chain
	Lost          int64            `json:"lost"`            // turns addressed here never arrived (at report time)
	Retransmits   int64            `json:"retransmits"`     // resends after Retransmit without progress
	ResendsUp     int64            `json:"resends_up"`      // resends right after registering again
	RepliesRepeat int64            `json:"replies_repeat"`  // cached replies resent for a duplicate
	AfterStop     int64            `json:"after_stop"`      // turns that arrived after stop (ignored)
	BusErrors     map[string]int64 `json:"bus_errors"`      // error frames by code
	Link          LinkCounts       `json:"link"`            // connection losses and repairs (cumulative over phases)
	Done          int64            `json:"done"`            // conversations whose last turn arrived here
}

// Report is what an agent prints (one JSON line on stdout) when the lab asks for a phase's report.
type Report struct {
	Agent   string       `json:"agent"`
	Phase   string       `json:"phase"`
	Counts  Counts       `json:"counts"`
	Latency *stats.Hist  `json:"latency_us"` // per turn: previous turn sent → this turn arrived here, µs
	Convs   []ConvReport `json:"convs"`
	Events  []Event      `json:"events"`
	Dropped int          `json:"events_dropped,omitempty"`
}

// ReportPrefix starts every report line, so the lab can find them among other output.
const ReportPrefix = "REPORT "

// ConverseConfig configures Converse.
type ConverseConfig struct {
	URL        func(ctx context.Context) (string, error)
	ID         string
	Lab        string        // the lab's id on the bus (ready, done go there); "" = none
	KiB        int           // work per turn when go names none
	Retransmit time.Duration // resend a turn when the conversation has not come back for this long
	Ping, Dead time.Duration // link liveness (see LinkConfig)
	Out        io.Writer     // reports
	Now        func() time.Time
	Leak       *Leak // a planted leak per turn (calibration only); nil: none
}

type pending struct {
	to     string
	msg    Msg
	lastNS int64
}

type convState struct {
	spec    ConvSpec
	self    int
	tracker *Tracker
	pend    *pending // the last turn said here, until the conversation comes back (or fin)
	rep     ConvReport
	done    bool
}

type converser struct {
	cfg  ConverseConfig
	link *BusLink

	mu      sync.Mutex // guards everything below (the link's reader and the resend timer both act)
	phase   string
	stopped bool
	kib     int
	convs   map[string]*convState
	counts  Counts
	hist    *stats.Hist
	events  []Event
	dropped int
}

// Converse runs conversation mode until ctx ends.
func Converse(ctx context.Context, cfg ConverseConfig) error {
	if cfg.ID == "" || cfg.URL == nil {
		return fmt.Errorf("converse: %w: id and bus url are required", ErrBadTask)
	}
	if cfg.Retransmit <= 0 {
		cfg.Retransmit = 500 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	c := &converser{cfg: cfg, kib: cfg.KiB, convs: map[string]*convState{}, hist: stats.NewHist(),
		counts: Counts{BusErrors: map[string]int64{}}}
	c.link = NewBusLink(LinkConfig{URL: cfg.URL, ID: cfg.ID, Ping: cfg.Ping, Dead: cfg.Dead, OnFrame: c.onFrame, OnUp: c.onUp})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.resender(ctx)
	}()
	err := c.link.Run(ctx)
	wg.Wait()
	return err
}

func (c *converser) now() int64 { return c.cfg.Now().UnixNano() }

func (c *converser) event(e Event) {
	if len(c.events) >= maxEvents {
		c.dropped++
		return
	}
	c.events = append(c.events, e)
}

func (c *converser) onUp(reconnect bool) {
	if c.cfg.Lab != "" {
		_ = c.link.Send(c.cfg.Lab, Msg{K: KindReady})
	}
	if !reconnect {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.event(Event{NS: c.now(), Kind: "reconnect"})
	for _, cv := range c.sortedConvs() {
		if cv.pend != nil && !cv.done && !c.stopped {
			c.counts.ResendsUp++
			c.resend(cv, "resend-after-reconnect")
		}
	}
}

func (c *converser) sortedConvs() []*convState {
	ids := make([]string, 0, len(c.convs))
	for id := range c.convs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]*convState, len(ids))
	for i, id := range ids {
		out[i] = c.convs[id]
	}
	return out
}

// resender resends turns whose conversation has not come back within Retransmit.
func (c *converser) resender(ctx context.Context) {
	t := time.NewTicker(max(c.cfg.Retransmit/5, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		now := c.now()
		for _, cv := range c.sortedConvs() {
			if cv.pend != nil && !cv.done && !c.stopped && now-cv.pend.lastNS >= c.cfg.Retransmit.Nanoseconds() {
				c.counts.Retransmits++
				c.resend(cv, "retransmit")
			}
		}
		c.mu.Unlock()
	}
}

// resend sends cv's pending turn again (c.mu held).
func (c *converser) resend(cv *convState, kind string) {
	p := cv.pend
	p.msg.Try++
	p.lastNS = c.now()
	c.event(Event{NS: p.lastNS, Kind: kind, Conv: cv.spec.ID, Turn: p.msg.Trail[len(p.msg.Trail)-1].N})
	_ = c.link.Send(p.to, p.msg)
}

func (c *converser) onFrame(f Frame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.Type == "error" {
		c.counts.BusErrors[f.Code]++
		c.event(Event{NS: c.now(), Kind: "bus-error:" + f.Code, Detail: f.Message})
		if f.Code == "unknown_target" {
			// A peer is between connections (it registers again within a backoff step): try again soon rather
			// than after a whole retransmit time.
			soon := c.now() - c.cfg.Retransmit.Nanoseconds() + unknownTargetRetry.Nanoseconds()
			for _, cv := range c.convs {
				if cv.pend != nil && cv.pend.lastNS > soon {
					cv.pend.lastNS = soon
				}
			}
		}
		return
	}
	if f.Type != "msg" {
		return
	}
	var m Msg
	if err := json.Unmarshal(f.Payload, &m); err != nil {
		c.counts.Corrupt++
		c.event(Event{NS: c.now(), Kind: "corrupt", Detail: "payload: " + err.Error()})
		return
	}
	switch m.K {
	case KindGo:
		c.start(m)
	case KindStop:
		if m.Phase == c.phase {
			c.stopped = true
		}
	case KindReport:
		c.report(m.Phase)
	case KindHello:
		if c.cfg.Lab != "" {
			_ = c.link.Send(c.cfg.Lab, Msg{K: KindReady})
		}
	case KindTurn:
		c.turn(f.From, m)
	case KindFin:
		if cv := c.convs[m.Conv]; cv != nil && m.Phase == c.phase {
			cv.pend, cv.done = nil, true
		}
	}
}

// start begins a phase: counters reset, and the conversations this agent opens get their turn 0.
func (c *converser) start(m Msg) {
	c.enter(m.Phase)
	if m.KiB > 0 {
		c.kib = m.KiB
	}
	for _, s := range m.Convs {
		if c.convs[s.ID] != nil {
			continue // a peer's turn got here before go did
		}
		self := -1
		for i, id := range s.Members {
			if id == c.cfg.ID {
				self = i
			}
		}
		if self < 0 || len(s.Members) < 2 {
			continue
		}
		cv := c.conv(s, self)
		if self == 0 {
			c.say(cv, Genesis(s.ID), 0, nil)
		}
	}
}

// enter starts phase (c.mu held): counters and conversations start afresh, unless it is already the current one.
func (c *converser) enter(phase string) {
	if phase == c.phase {
		return
	}
	c.phase, c.stopped = phase, false
	c.counts = Counts{BusErrors: map[string]int64{}}
	c.hist, c.events, c.dropped = stats.NewHist(), nil, 0
	c.convs = map[string]*convState{}
}

func (c *converser) conv(s ConvSpec, self int) *convState {
	cv := &convState{spec: s, self: self, tracker: NewTracker(s.ID, len(s.Members), self), rep: ConvReport{ID: s.ID}}
	c.convs[s.ID] = cv
	return cv
}

// work is the unit of agent work behind a turn: the lifecycle task, seeded by the context's hash.
func (c *converser) work(prevHash string, n int) string {
	seed := uint64(n)
	if b, err := hex.DecodeString(prevHash); err == nil && len(b) >= 8 {
		seed = binary.LittleEndian.Uint64(b)
	}
	c.cfg.Leak.Task()
	return Do(Task{ID: uint64(n), KiB: c.kib, Seed: seed}).SHA256
}

// say does the work for turn n after prevHash and sends it to the next member; prior is the trail that arrived.
func (c *converser) say(cv *convState, prevHash string, n int, prior []Turn) {
	body := c.work(prevHash, n)
	t := NextTurn(prevHash, cv.spec.ID, n, c.cfg.ID, body)
	t.SentNS = c.now()
	ring := len(cv.spec.Members)
	trail := append(append([]Turn(nil), prior...), t)
	if len(trail) > ring {
		trail = trail[len(trail)-ring:]
	}
	cv.tracker.Said(t)
	if n == 0 {
		cv.rep.FirstSentNS = t.SentNS
	}
	msg := Msg{K: KindTurn, Phase: c.phase, Conv: cv.spec.ID, Members: cv.spec.Members, Turns: cv.spec.Turns, Trail: trail}
	cv.pend = &pending{to: cv.spec.Members[(cv.self+1)%ring], msg: msg, lastNS: t.SentNS}
	c.counts.Sent++
	_ = c.link.Send(cv.pend.to, msg)
}

func (c *converser) turn(from string, m Msg) {
	if m.Phase != c.phase {
		if c.phase != "" && !c.stopped || len(m.Trail) == 0 {
			return // a straggler from an earlier phase
		}
		// A turn overtook go (they come from different senders), or this agent missed go (it replaced one that
		// was killed): it joins the phase its peers are in.
		c.enter(m.Phase)
	}
	if c.stopped {
		c.counts.AfterStop++
		return
	}
	now := c.now()
	cv := c.convs[m.Conv]
	if cv == nil {
		self := -1
		for i, id := range m.Members {
			if id == c.cfg.ID {
				self = i
			}
		}
		if self < 0 || len(m.Members) < 2 {
			c.counts.Corrupt++
			c.event(Event{NS: now, Kind: "corrupt", Conv: m.Conv, Detail: "not a member"})
			return
		}
		cv = c.conv(ConvSpec{ID: m.Conv, Members: m.Members, Turns: m.Turns}, self)
	}
	v, err := cv.tracker.Receive(m.Trail)
	last := m.Trail[len(m.Trail)-1]
	switch v {
	case Duplicate:
		c.counts.Duplicate++
		c.event(Event{NS: now, Kind: "duplicate", Conv: m.Conv, Turn: last.N})
		// The sender did not see our answer: if it was the last thing we said, say it again — once per half
		// retransmit time, or the copies a stalled bus lets through at once would each beget a copy of the reply,
		// and so on along the ring for ever.
		if p := cv.pend; p != nil && p.msg.Trail[len(p.msg.Trail)-1].N == last.N+1 &&
			now-p.lastNS >= c.cfg.Retransmit.Nanoseconds()/2 {
			c.counts.RepliesRepeat++
			c.resend(cv, "reply-repeat")
		}
		if cv.done && cv.spec.Turns > 0 && last.N == cv.spec.Turns-1 {
			_ = c.link.Send(from, Msg{K: KindFin, Phase: c.phase, Conv: m.Conv})
		}
		return
	case Corrupt:
		c.counts.Corrupt++
		c.event(Event{NS: now, Kind: "corrupt", Conv: m.Conv, Turn: last.N, Detail: err.Error()})
		return
	case Reorder:
		c.counts.Reorder++
		c.event(Event{NS: now, Kind: "reorder", Conv: m.Conv, Turn: last.N})
	case Gap:
		c.counts.Gap++
		c.event(Event{NS: now, Kind: "gap", Conv: m.Conv, Turn: last.N})
	}
	c.counts.Received++
	if m.Try == 0 && v == OK {
		c.counts.FirstTry++
	}
	if m.Try > 0 {
		// Its first send never got here: the bus or the network lost it, a resend repaired it.
		c.counts.TakenOnResend++
		c.event(Event{NS: now, Kind: "taken-on-resend", Conv: m.Conv, Turn: last.N, Detail: strconv.Itoa(m.Try)})
	}
	if len(m.Trail) >= 2 {
		c.hist.RecordUS((now - m.Trail[len(m.Trail)-2].SentNS) / 1e3)
	}
	r := &cv.rep
	r.Received++
	if r.FirstNS == 0 {
		r.FirstNS = now
	} else if now-r.LastNS > StallNS {
		if len(r.Stalls) < maxStalls {
			r.Stalls = append(r.Stalls, [2]int64{r.LastNS, now})
		} else {
			r.StallsTruncated = true
		}
	}
	r.LastNS = now
	if v == Reorder {
		return // an old turn: the conversation has already moved past it
	}
	cv.pend = nil // the conversation came back: what we said was heard
	if cv.spec.Turns > 0 && last.N >= cv.spec.Turns-1 {
		cv.done = true
		c.counts.Done++
		_ = c.link.Send(from, Msg{K: KindFin, Phase: c.phase, Conv: m.Conv})
		if c.cfg.Lab != "" {
			_ = c.link.Send(c.cfg.Lab, Msg{K: KindDone, Phase: c.phase, Conv: m.Conv})
		}
		return
	}
	c.say(cv, last.Hash, last.N+1, m.Trail)
}

// report prints the phase's report as one line (c.mu held).
func (c *converser) report(phase string) {
	r := Report{Agent: c.cfg.ID, Phase: phase, Counts: c.counts, Latency: c.hist, Events: c.events, Dropped: c.dropped,
		Convs: []ConvReport{}}
	r.Counts.Link = c.link.Counts()
	if phase != c.phase {
		r.Counts, r.Latency, r.Events = Counts{BusErrors: map[string]int64{}, Link: c.link.Counts()}, stats.NewHist(), nil
	} else {
		for _, cv := range c.sortedConvs() {
			cr := cv.rep
			cr.Done, cr.Lost = cv.done, cv.tracker.Lost()
			cr.Head, _ = cv.tracker.Head()
			r.Counts.Lost += int64(cr.Lost)
			r.Convs = append(r.Convs, cr)
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	fmt.Fprintf(c.cfg.Out, "%s%s\n", ReportPrefix, b)
}

// DecodeReports finds the report lines in an agent's output.
func DecodeReports(out []byte) ([]Report, error) {
	var rs []Report
	for _, line := range splitLines(out) {
		if len(line) <= len(ReportPrefix) || string(line[:len(ReportPrefix)]) != ReportPrefix {
			continue
		}
		var r Report
		if err := json.Unmarshal(line[len(ReportPrefix):], &r); err != nil {
			return rs, fmt.Errorf("decode agent report: %w", err)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		out = append(out, b[:i])
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return out
}
