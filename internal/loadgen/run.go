package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/agentlab/agentlab/internal/prom"
)

// maxBatch bounds how many frames one agent writes with one syscall.
const maxBatch = 64

// gen is one generator run.
type gen struct {
	cfg Config
	url *url.URL
	log io.Writer

	byNum []*agent // by agent number; nil where the connection failed
	live  atomic.Pointer[liveSet]

	lat, lag, connect, register *shardedHist

	// The measured window, by ts (Unix ns). Before traffic it is empty (start > end), so nothing counts.
	msStart, msEnd atomic.Int64

	sent, sentTotal, recv, recvTotal atomic.Int64
	readErrs, writeErrs, malformed   atomic.Int64
	late, overdue                    atomic.Int64
	errFrames                        atomic.Int64
	// pool holds the closed model's slots over all agents (Config.InFlight): a slot is taken per message sent
	// and given back only when the message arrives or is refused.
	pool     *semaphore.Weighted
	rx       *rxLoop // nil: a reader goroutine per connection
	poolSize int
	want     int64 // the closed model's batch: free window slots a sender waits for
	closing  atomic.Bool
	readers  sync.WaitGroup

	mu         sync.Mutex
	errs       map[string]int64
	failures   map[string]int
	firstError string
	notes      []string

	// gate, when set (a coordinated run), replaces the bus-metrics barrier: it is called with the registered
	// agents and returns when traffic may start, at an absolute time on this generator's clock.
	gate func(ctx context.Context, registered int) (time.Time, error)
}

// liveSet is the registered agents, fixed before traffic starts; readers find senders' window slots through it.
type liveSet struct {
	list     []*agent
	groupIDs [][]byte
}

type agent struct {
	g     *gen
	num   int // agent number: its id
	pos   int // position in liveSet.list (set before the liveSet is published)
	group int
	id    []byte
	c     *wsConn

	regCh      chan error
	registered atomic.Bool
	dead       atomic.Bool

	inflight atomic.Int64
	wake     chan struct{}
}

// Run connects cfg.Agents agents, drives the traffic and returns what it measured. Progress lines go to log. An
// error means no usable measurement (e.g. fewer than two agents connected); the partial Result is still returned.
func Run(ctx context.Context, cfg Config, log io.Writer) (*Result, error) {
	return run(ctx, cfg, log, nil)
}

func run(ctx context.Context, cfg Config, log io.Writer, gate func(context.Context, int) (time.Time, error)) (*Result, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.URL)
	g := &gen{
		cfg: cfg, url: u, log: log, gate: gate,
		lat: newSharded(), lag: newSharded(), connect: newSharded(), register: newSharded(),
		errs: map[string]int64{}, failures: map[string]int{},
	}
	g.msStart.Store(math.MaxInt64)
	return g.run(ctx)
}

func (g *gen) run(ctx context.Context) (*Result, error) {
	cfg := g.cfg
	res := &Result{SchemaVersion: ResultSchemaVersion, Config: cfg}
	defer g.finish(res)

	if rx, err := newRx(cfg.Agents); err == nil {
		g.rx = rx
	} else {
		g.note("receiving with a goroutine per connection: %v", err)
	}
	res.Times.ConnectStart = time.Now().UnixNano()
	if err := g.connectSteps(ctx, res); err != nil {
		g.abandon()
		return res, err
	}
	ls := &liveSet{}
	for _, a := range g.byNum {
		if a != nil && a.registered.Load() {
			a.pos = len(ls.list)
			ls.list = append(ls.list, a)
		}
	}
	for k := 0; k < numGroups(cfg); k++ {
		ls.groupIDs = append(ls.groupIDs, []byte(GroupID(cfg.Generator, k)))
	}
	inflight := cfg.InFlight
	if inflight == 0 {
		inflight = len(ls.list) * cfg.Window
	}
	// Set before the live set is published: readers reach the pool through it.
	g.poolSize = inflight
	g.want = min(max(1, int64(cfg.Batch)), int64(max(1, cfg.Window)), int64(inflight))
	g.pool = semaphore.NewWeighted(int64(inflight))
	g.live.Store(ls)
	fmt.Fprintf(g.log, "loadgen %d: %d/%d agents registered in %v\n", cfg.Generator, len(ls.list), cfg.Agents,
		time.Since(time.Unix(0, res.Times.ConnectStart)).Round(time.Millisecond))
	if err := ctx.Err(); err != nil {
		g.abandon()
		return res, err
	}
	if len(ls.list) < 2 {
		g.abandon()
		return res, fmt.Errorf("only %d of %d agents registered (first error: %s)", len(ls.list), cfg.Agents, g.firstError)
	}
	if cfg.Model == ModelIdle {
		// Nothing to send: the idle model ends once every agent is connected (and every step was read).
		res.Times.Connected = time.Now().UnixNano()
		res.Times.End = res.Times.Connected
		res.Sessions.ActiveAtEnd = len(ls.list)
		g.abandon()
		return res, ctx.Err()
	}
	switch {
	case g.gate != nil:
		start, err := g.gate(ctx, len(ls.list))
		if err == nil {
			err = sleepUntil(ctx, start)
		}
		if err != nil {
			g.abandon()
			return res, err
		}
	case cfg.Generators > 1:
		g.barrier(ctx)
	}
	now := time.Now()
	res.Times.Connected = now.UnixNano()
	t0 := now.Add(cfg.Hold)
	ms := t0.Add(cfg.Warmup)
	me := ms.Add(cfg.Duration)
	res.Times.TrafficStart, res.Times.MeasureStart, res.Times.MeasureEnd = t0.UnixNano(), ms.UnixNano(), me.UnixNano()
	g.msEnd.Store(me.UnixNano())
	g.msStart.Store(ms.UnixNano())

	cpuDone := make(chan CPU, 1)
	go func() { cpuDone <- g.measureCPU(ctx, ms, me) }()

	var senders sync.WaitGroup
	sched := Schedule{Start: t0, Rate: cfg.Rate, Agents: len(ls.list), End: me}
	// Closed-model senders stop waiting for a slot when the measured window ends.
	ectx, cancelEnd := context.WithDeadline(ctx, me)
	defer cancelEnd()
	for _, a := range ls.list {
		senders.Go(func() {
			if cfg.Model == ModelOpen {
				g.openSend(ctx, a, ls, sched)
			} else {
				g.closedSend(ectx, a, ls, t0)
			}
		})
	}
	sendersDone := make(chan struct{})
	go func() { senders.Wait(); close(sendersDone) }()

	deadline := me.Add(cfg.Drain)
	dl := time.NewTimer(time.Until(deadline))
	defer dl.Stop()
	res.DrainEnd = DrainDeadline
	select {
	case <-sendersDone:
		res.DrainEnd = g.drain(ctx, ls, deadline)
	case <-dl.C:
		g.note("senders still blocked at the drain deadline (the bus stopped reading)")
	case <-ctx.Done():
	}
	if exp := g.expected(ls); exp != math.MaxInt64 {
		res.Outstanding = max(0, exp-g.recvTotal.Load()-g.errFrames.Load())
	}
	res.PresumedLost = g.overdue.Load() + max(0, g.sent.Load()-g.recv.Load())
	if g.cfg.Pattern == PatternBroadcast {
		res.PresumedLost = g.overdue.Load() // the window's expected deliveries depend on every generator
	}
	// The bus's counters now, before any agent leaves: once connections close, the sends the bus still holds
	// for them are answered unknown_target — an artefact of the teardown, not of the run.
	if m, err := ScrapeBus(ctx, &http.Client{Timeout: 5 * time.Second}, cfg.MetricsURL); err == nil {
		res.BusAtDrainEnd = m
	} else {
		res.BusScrapeErr = err.Error()
	}
	// The open model's last message is due just before the window ends; the window (and the CPU reading over it)
	// still ends at MeasureEnd.
	res.CPU = <-cpuDone
	res.Times.End = time.Now().UnixNano()
	for _, a := range ls.list {
		if !a.dead.Load() {
			res.Sessions.ActiveAtEnd++
		}
	}
	// Closing unblocks any sender stuck in a write and ends every reader.
	g.closeAll()
	senders.Wait()
	g.readers.Wait()
	if g.rx != nil {
		g.rx.close()
	}
	return res, ctx.Err()
}

// closeAll closes every agent's connection; the run's counting stops first (closing), so what the teardown
// causes is not counted.
func (g *gen) closeAll() {
	g.closing.Store(true)
	for _, a := range g.byNum {
		if a != nil {
			a.c.closeGracefully()
		}
	}
}

// abandon ends a run that stops before its traffic: connections closed, readers and the rx loop gone.
func (g *gen) abandon() {
	g.closeAll()
	g.readers.Wait()
	if g.rx != nil {
		g.rx.close()
	}
}

// finish copies the counters into res.
func (g *gen) finish(res *Result) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := &res.Sessions
	s.Attempted = len(g.byNum)
	for _, a := range g.byNum {
		if a != nil {
			s.Connected++
			if a.registered.Load() {
				s.Registered++
			}
		}
	}
	for _, n := range g.failures {
		s.Failed += n
	}
	s.Failures, s.FirstError = g.failures, g.firstError
	res.Connecting, res.Register = g.connect.merged(), g.register.merged()
	res.Latency, res.SendLag = g.lat.merged(), g.lag.merged()
	res.Sent, res.SentTotal = g.sent.Load(), g.sentTotal.Load()
	res.Received, res.ReceivedTotal = g.recv.Load(), g.recvTotal.Load()
	res.Errors = g.errs
	res.ReadErrors, res.WriteErrors = g.readErrs.Load(), g.writeErrs.Load()
	res.Malformed = g.malformed.Load()
	res.Late = g.late.Load()
	res.Notes = g.notes
	res.LatencySummary = res.Latency.Summary()
}

func numGroups(cfg Config) int { return max(1, cfg.Agents/cfg.GroupSize) }

func (g *gen) note(format string, a ...any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.notes = append(g.notes, fmt.Sprintf(format, a...))
}

func (g *gen) fail(kind string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failures[kind]++
	if g.firstError == "" {
		g.firstError = err.Error()
	}
}

// --- connection ramp ---------------------------------------------------------------------------------------------

// connectSteps opens every agent's connection, pausing at each of Config.IdleSteps for the gate (a step the
// gate let time out is noted and the ramp goes on; any other gate error ends the run).
func (g *gen) connectSteps(ctx context.Context, res *Result) error {
	cfg := g.cfg
	g.byNum = make([]*agent, cfg.Agents)
	from := 0
	for i, target := range cfg.IdleSteps {
		g.connectAll(ctx, from, target)
		from = target
		if err := ctx.Err(); err != nil {
			return err
		}
		st := Step{Generator: cfg.Generator, Index: i, Steps: len(cfg.IdleSteps), Target: target, AtNs: time.Now().UnixNano()}
		for _, a := range g.byNum[:target] {
			if a != nil && a.registered.Load() {
				st.Registered++
			}
		}
		sr := StepResult{Step: st}
		var err error
		if cfg.Gate != nil {
			err = cfg.Gate(ctx, st)
		}
		sr.ReleasedNs = time.Now().UnixNano()
		if err != nil {
			sr.Error = err.Error()
		}
		res.Steps = append(res.Steps, sr)
		switch {
		case errors.Is(err, ErrStepTimeout):
			g.note("idle step %d (%d agents): %v after %v; went on", i, target, err, cfg.StepTimeout)
		case err != nil:
			return fmt.Errorf("idle step %d (%d agents): %w", i, target, err)
		}
	}
	g.connectAll(ctx, from, cfg.Agents)
	return nil
}

// connectAll opens the connections of agents [from, to) at ConnectRate per second, at most ConnectConcurrency
// handshakes at once, and registers each.
func (g *gen) connectAll(ctx context.Context, from, to int) {
	n := to - from
	if n <= 0 {
		return
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(g.cfg.ConnectConcurrency, n); w++ {
		wg.Go(func() {
			for k := range work {
				if a := g.connectOne(ctx, k); a != nil {
					g.byNum[k] = a
				}
			}
		})
	}
	start := time.Now()
	tm := time.NewTimer(0)
	<-tm.C
feed:
	for k := from; k < to; k++ {
		if d := time.Until(start.Add(time.Duration(float64(k-from) / g.cfg.ConnectRate * float64(time.Second)))); d > 0 {
			tm.Reset(d)
			select {
			case <-tm.C:
			case <-ctx.Done():
				break feed
			}
		}
		select {
		case work <- k:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
}

func (g *gen) connectOne(ctx context.Context, k int) *agent {
	cfg := g.cfg
	a := &agent{g: g, num: k, id: []byte(AgentID(cfg.Generator, k)), regCh: make(chan error, 1),
		wake: make(chan struct{}, 1)}
	if cfg.Pattern == PatternRoundRobin {
		a.group = k % numGroups(cfg)
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	t := time.Now()
	c, err := dialWS(cctx, g.url)
	if err != nil {
		var he *HandshakeError
		switch {
		case errors.As(err, &he):
			g.fail("http_"+strconv.Itoa(he.StatusCode), err)
		case cctx.Err() != nil:
			g.fail("timeout", err)
		default:
			g.fail("dial", err)
		}
		return nil
	}
	g.connect.record(k, time.Since(t).Microseconds())
	a.c = c
	if g.rx != nil {
		if err := c.detach(); err != nil {
			c.nc.Close()
			g.fail("dial", fmt.Errorf("detach: %w", err))
			return nil
		}
		g.readers.Add(1)
		if err := g.rx.add(a); err != nil {
			g.readers.Done()
			c.closeFD()
			g.fail("dial", err)
			return nil
		}
	} else {
		g.readers.Add(1)
		go a.readLoop()
	}

	reg := `{"type":"register","id":"` + string(a.id) + `"`
	var group []byte
	if cfg.Pattern == PatternRoundRobin {
		group = []byte(GroupID(cfg.Generator, a.group))
		reg += `,"groups":["` + string(group) + `"]`
	}
	reg += "}"
	t = time.Now()
	if err := c.register([]byte(reg), a.id, group); err != nil {
		g.fail("register", fmt.Errorf("register write: %w", err))
		return a
	}
	select {
	case err := <-a.regCh:
		if err != nil {
			g.fail("register", err)
			return a
		}
	case <-cctx.Done():
		g.fail("register", fmt.Errorf("no reply to register within %v", cfg.ConnectTimeout))
		return a
	}
	g.register.record(k, time.Since(t).Microseconds())
	a.registered.Store(true)
	return a
}

// barrier waits until the bus reports every generator's agents registered, so all generators start traffic
// together; after BarrierTimeout it goes on and says so.
func (g *gen) barrier(ctx context.Context) {
	cl := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(g.cfg.BarrierTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if n, err := registeredAgents(ctx, cl, g.cfg.MetricsURL); err == nil && n >= g.cfg.TotalAgents {
			return
		}
		if time.Now().After(deadline) {
			g.note("barrier: fewer than %d agents registered after %v; started anyway", g.cfg.TotalAgents, g.cfg.BarrierTimeout)
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// sleepUntil waits for t on this clock (a coordinated start), or ctx.
func sleepUntil(ctx context.Context, t time.Time) error {
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// registeredAgents reads bus_registered_agents from the bus's /metrics (NATS: connections from /varz).
func registeredAgents(ctx context.Context, cl *http.Client, u string) (int, error) {
	m, err := ScrapeBus(ctx, cl, u)
	if err != nil {
		return 0, err
	}
	v, ok := m[prom.Key("bus_registered_agents")]
	if !ok {
		return 0, fmt.Errorf("no bus_registered_agents in %s", u)
	}
	return int(v), nil
}

// --- receiving -----------------------------------------------------------------------------------------------------

// readLoop is a connection's reader goroutine where there is no rx loop (off Linux).
func (a *agent) readLoop() {
	defer a.g.readers.Done()
	for {
		msg, err := a.c.readMessage()
		if err != nil {
			a.readFailed(err)
			return
		}
		a.handle(msg, time.Now().UnixNano())
	}
}

// readFailed ends a's reading: a dead agent unless the run is closing its connections.
func (a *agent) readFailed(err error) {
	g := a.g
	if !g.closing.Load() {
		a.dead.Store(true)
		if a.registered.Load() {
			g.readErrs.Add(1)
			g.noteOnce("read", err)
		}
	}
	select {
	case a.regCh <- fmt.Errorf("connection lost before registration: %w", err):
	default:
	}
}

// handle takes one message the bus sent to a, received at now (Unix ns).
func (a *agent) handle(msg []byte, now int64) {
	g := a.g
	m, err := scanFrame(msg)
	if err != nil {
		g.malformed.Add(1)
		return
	}
	closed := g.cfg.Model == ModelClosed
	switch string(m.typ) {
	case "msg":
		g.recvTotal.Add(1)
		if me := g.msEnd.Load(); m.hasTS && m.ts >= g.msStart.Load() && m.ts < me {
			g.recv.Add(1)
			g.lat.record(a.num, (now-m.ts)/1000)
			if now >= me {
				g.late.Add(1)
			}
			if now-m.ts > int64(g.cfg.TokenTimeout) {
				g.overdue.Add(1)
			}
		}
		if closed && m.hasSeq {
			a.returnSlot(m.seq, true)
		}
	case "registered":
		select {
		case a.regCh <- nil:
		default:
		}
	case "error":
		if !a.registered.Load() {
			select {
			case a.regCh <- fmt.Errorf("register: bus error %q", m.code):
			default:
			}
			return
		}
		if g.closing.Load() {
			// The teardown: sends still queued in the bus for agents that already left come back
			// unknown_target. Not the run's (the bus's own count of them is errors_after_drain).
			return
		}
		g.errFrames.Add(1)
		g.mu.Lock()
		g.errs[string(m.code)]++
		g.mu.Unlock()
		if closed && m.hasSeq {
			a.returnSlot(m.seq, false)
		}
	}
}

// returnSlot gives a closed-model sender back one window slot when its message arrived (or was refused). A
// broadcast reaches everyone: only the sender's successor in the live list returns the slot.
func (a *agent) returnSlot(seq uint64, delivery bool) {
	gen, sender, ok := DecodeSeq(seq)
	ls := a.g.live.Load()
	if !ok || gen != a.g.cfg.Generator || ls == nil || sender >= len(ls.list) {
		return
	}
	if delivery && a.g.cfg.Pattern == PatternBroadcast && a.pos != (sender+1)%len(ls.list) {
		return
	}
	s := ls.list[sender]
	var left int64
	for {
		v := s.inflight.Load()
		if v <= 0 {
			return // not a message of the closed traffic (a slot is never given back twice)
		}
		if s.inflight.CompareAndSwap(v, v-1) {
			left = v - 1
			break
		}
	}
	a.g.pool.Release(1)
	// Wake the sender only when it can send a batch: waking it for every returned slot costs a goroutine
	// switch per message.
	if int64(a.g.cfg.Window)-left >= a.g.want {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (g *gen) noteOnce(kind string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, n := range g.notes {
		if strings.HasPrefix(n, kind+": ") {
			return
		}
	}
	g.notes = append(g.notes, kind+": "+err.Error())
}

// --- sending -------------------------------------------------------------------------------------------------------

// sender is one agent's sending state: its own template copy, random source, mask keys and frame buffer.
type sender struct {
	a     *agent
	ls    *liveSet
	tmpl  template
	rng   *rand.Rand
	mask  uint64
	buf   []byte
	count uint64
}

func (g *gen) newSender(a *agent, ls *liveSet) *sender {
	t, _ := newTemplate(g.cfg.Pattern, g.cfg.PayloadBytes) // the pattern was validated
	if a.c.nats {
		t.retype()
	}
	return &sender{a: a, ls: ls, tmpl: t, rng: rand.New(rand.NewPCG(g.cfg.Seed, uint64(g.cfg.Generator)<<32|uint64(a.num))),
		mask: uint64(a.num)*0x9E3779B97F4A7C15 | 1}
}

// add appends the next message, with ts, to the batch.
func (s *sender) add(ts int64) {
	var to []byte
	switch s.a.g.cfg.Pattern {
	case PatternTargeted:
		n := len(s.ls.list)
		k := s.rng.IntN(n - 1)
		if k >= s.a.pos {
			k++
		}
		to = s.ls.list[k].id
	case PatternRoundRobin:
		n := len(s.ls.groupIDs)
		k := 0
		if n > 1 {
			k = s.rng.IntN(n - 1)
			if k >= s.a.group {
				k++
			}
		}
		to = s.ls.groupIDs[k]
	}
	s.tmpl.set(to, EncodeSeq(s.a.g.cfg.Generator, s.a.pos, s.count), ts)
	s.count++
	x := s.mask
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	s.mask = x
	s.buf = s.a.c.appendMessage(s.buf, to, s.tmpl.b, uint32(x))
}

// flush writes the batch; false when the connection is unusable.
func (s *sender) flush() bool {
	if len(s.buf) == 0 {
		return true
	}
	err := s.a.c.writeRaw(s.buf)
	s.buf = s.buf[:0]
	if err != nil {
		g := s.a.g
		if !g.closing.Load() {
			s.a.dead.Store(true)
			g.writeErrs.Add(1)
			g.noteOnce("write", err)
		}
		return false
	}
	return true
}

func (g *gen) inWindow(ts int64) bool { return ts >= g.msStart.Load() && ts < g.msEnd.Load() }

// openSend sends agent a's share of the schedule: each message at its due time, with the due time as ts. An agent
// that is behind sends what is due at once, in one write, and keeps the due times.
func (g *gen) openSend(ctx context.Context, a *agent, ls *liveSet, sched Schedule) {
	s := g.newSender(a, ls)
	it := sched.iter(a.pos)
	tm := time.NewTimer(time.Hour)
	defer tm.Stop()
	for {
		t, ok := it.due()
		if !ok {
			return
		}
		if d := time.Until(t); d > 0 {
			tm.Reset(d)
			select {
			case <-tm.C:
			case <-ctx.Done():
				return
			}
		}
		now := time.Now()
		for n := 0; n < maxBatch; n++ {
			t, ok := it.due()
			if !ok || t.After(now) {
				break
			}
			ts := t.UnixNano()
			s.add(ts)
			g.sentTotal.Add(1)
			if g.inWindow(ts) {
				g.sent.Add(1)
				g.lag.record(a.num, now.Sub(t).Microseconds())
			}
			it.next()
		}
		if !s.flush() {
			return
		}
	}
}

// closedSend keeps agent a sending from start until ctx ends (the measured window's end): each message takes a slot
// of its own window (Config.Window) and one of the generator's pool (Config.InFlight), both given back only when
// the message arrives or the bus refuses it. A sender waits until Config.Batch slots of its window are free, takes
// that many from the pool at once (first come, first served) and writes them with one syscall: the generator's
// write cost per message falls by the batch size while the bound on messages in flight stays the same. Messages
// are stamped with their send time.
func (g *gen) closedSend(ctx context.Context, a *agent, ls *liveSet, start time.Time) {
	s := g.newSender(a, ls)
	w := int64(g.cfg.Window)
	want := g.want
	tm := time.NewTimer(time.Until(start))
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
		return
	}
	for {
		for w-a.inflight.Load() < want {
			select {
			case <-a.wake:
			case <-ctx.Done():
				return
			}
		}
		n := min(w-a.inflight.Load(), maxBatch)
		if g.pool.Acquire(ctx, n) != nil {
			return
		}
		ts := time.Now().UnixNano()
		for range n {
			s.add(ts)
		}
		a.inflight.Add(n)
		g.sentTotal.Add(n)
		if g.inWindow(ts) {
			g.sent.Add(n)
		}
		if !s.flush() {
			return
		}
	}
}

// expected is every delivery the run's sends should bring (MaxInt64 when unknown: broadcasts of several
// generators arrive everywhere).
func (g *gen) expected(ls *liveSet) int64 {
	if g.cfg.Pattern == PatternBroadcast {
		if g.cfg.Generators > 1 {
			return math.MaxInt64
		}
		return g.sentTotal.Load() * int64(len(ls.list)-1)
	}
	return g.sentTotal.Load()
}

// drain waits after the last send until every expected delivery (or error frame) arrived, deliveries stopped for
// a while, or the deadline, and says which (DrainComplete, DrainQuiet, DrainDeadline).
func (g *gen) drain(ctx context.Context, ls *liveSet, deadline time.Time) string {
	const quiet = 300 * time.Millisecond
	last, lastChange := g.recvTotal.Load(), time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		got := g.recvTotal.Load()
		now := time.Now()
		if exp := g.expected(ls); exp != math.MaxInt64 && got+g.errFrames.Load() >= exp {
			return DrainComplete
		}
		if now.After(deadline) {
			return DrainDeadline
		}
		if got != last {
			last, lastChange = got, now
		} else if now.Sub(lastChange) > quiet {
			return DrainQuiet
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return DrainDeadline
		}
	}
}

// measureCPU reads getrusage at the measured window's start and end.
func (g *gen) measureCPU(ctx context.Context, start, end time.Time) CPU {
	c := CPU{AllowanceCores: g.cfg.CPUAllowance}
	wait := func(t time.Time) bool {
		tm := time.NewTimer(time.Until(t))
		defer tm.Stop()
		select {
		case <-tm.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if !wait(start) {
		return c
	}
	r0, w0s, ioOK := ioSyscalls()
	u0, s0 := cpuTime()
	w0 := time.Now()
	if !wait(end) {
		return c
	}
	u1, s1 := cpuTime()
	if r1, w1, ok := ioSyscalls(); ok && ioOK {
		dr, dw := r1-r0, w1-w0s
		c.ReadSyscalls, c.WriteSyscalls = &dr, &dw
	}
	c.UserS, c.SysS, c.WallS = u1-u0, s1-s0, time.Since(w0).Seconds()
	if c.WallS > 0 {
		c.Utilization = (c.UserS + c.SysS) / c.WallS / c.AllowanceCores
	}
	c.Saturated = c.Utilization > g.cfg.SaturationThreshold
	return c
}

// Main is the loadgen binary: flags → Run → one JSON line on stdout. Exit status 2 for bad flags, 1 when the run
// produced no usable measurement (the JSON is printed all the same).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "coordinate" {
		return CoordinatorMain(ctx, args[1:], stdout, stderr)
	}
	cfg, err := Parse(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	if cfg.CPUProfile != "" {
		stopProfile, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 2
		}
		defer stopProfile()
	}
	if len(cfg.IdleSteps) > 0 {
		gate, stop := SignalGate(stderr, cfg.StepTimeout)
		defer stop()
		cfg.Gate = gate
	}
	var res *Result
	var runErr error
	if cfg.Coordinator != "" {
		res, runErr = RunCoordinated(ctx, cfg.Coordinator, cfg.Node, stderr)
	} else {
		res, runErr = Run(ctx, cfg, stderr)
	}
	code := 0
	if runErr != nil {
		fmt.Fprintln(stderr, "loadgen:", runErr)
		code = 1
	}
	if res != nil {
		if err := writeJSON(stdout, res); err != nil {
			fmt.Fprintln(stderr, "loadgen: write result:", err)
			return 1
		}
	}
	return code
}

// startCPUProfile starts pprof's CPU profile into path; the returned func stops it and closes the file.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func writeJSON(w io.Writer, res *Result) error {
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
