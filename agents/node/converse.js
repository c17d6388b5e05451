// Conversation mode of the Node.js agent (`node agent.js converse`): the port of internal/agent's converse.go,
// converse_link.go and chain.go, with the same wire format, so Go and Node.js agents can share a ring and the lab's
// controller (agent.Controller) and report decoder (agent.DecodeReports) serve both. See those files for the
// protocol's reasons; this file says only where Node.js differs.
//
// Numbers: sent_ns (Unix ns, ~1.7e18) is above 2^53, so JSON.parse rounds it to a multiple of 256 ns. It is
// measurement, never hashed, so the rounding costs under a microsecond of latency resolution and nothing of the
// chain. The work seed is read from the hash as a BigInt (the digest needs all 64 bits).
'use strict';

const crypto = require('crypto');
const zlib = require('zlib');
const { WebSocket } = require('ws');

// Control kinds (payload "k"), as in converse.go.
const KIND = { turn: 'turn', fin: 'fin', go: 'go', stop: 'stop', report: 'report', ready: 'ready', done: 'done', hello: 'hello' };
const MAX_EVENTS = 2000;
const MAX_STALLS = 20000;
const UNKNOWN_TARGET_RETRY_NS = 100e6;
const STALL_NS = 10e6;
const REPORT_PREFIX = 'REPORT ';

// nowNS is the wall clock in Unix ns with sub-microsecond steps (Date.now() has only milliseconds).
function nowNS() {
  return (performance.timeOrigin + performance.now()) * 1e6;
}

// ---- the hash chain (chain.go) ----

function genesis(conv) {
  return crypto.createHash('sha256').update('agentlab-conversation\x00' + conv).digest('hex');
}

function u64le(n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

// link is chain.go's Link: SHA-256(prev ‖ len(conv) conv ‖ len(from) from ‖ len(body) body ‖ n), lengths and n as
// little-endian u64, hex.
function link(prev, conv, n, from, body) {
  const h = crypto.createHash('sha256');
  h.update(prev);
  for (const s of [conv, from, body]) {
    const b = Buffer.from(s, 'utf8');
    h.update(u64le(b.length));
    h.update(b);
  }
  h.update(u64le(n));
  return h.digest('hex');
}

function nextTurn(prev, conv, n, from, body) {
  return { conv, n, from, body, hash: link(prev, conv, n, from, body), sent_ns: 0 };
}

const V = { ok: 'ok', duplicate: 'duplicate', reorder: 'reorder', gap: 'gap', corrupt: 'corrupt' };

// Tracker is chain.go's Tracker: one agent's view of one conversation.
class Tracker {
  constructor(conv, ring, self) {
    this.conv = conv;
    this.ring = Math.max(ring, 1);
    this.self = self;
    this.anchorN = -1;
    this.anchorHash = genesis(conv);
    this.got = new Map();
    this.missing = new Set();
    this.highest = -1;
  }

  lost() {
    return this.missing.size;
  }

  addressedToMe(n) {
    return (((n + 1) % this.ring) + this.ring) % this.ring === this.self % this.ring;
  }

  said(t) {
    if (t.n > this.anchorN) {
      this.anchorN = t.n;
      this.anchorHash = t.hash;
    }
  }

  // receive returns [verdict, error message].
  receive(trail) {
    if (!Array.isArray(trail) || trail.length === 0) return [V.corrupt, 'empty trail'];
    for (let i = 0; i < trail.length; i++) {
      const tr = trail[i];
      if (tr.conv !== this.conv) return [V.corrupt, `turn ${tr.n} names conversation ${JSON.stringify(tr.conv)}, want ${JSON.stringify(this.conv)}`];
      if (i === 0) continue;
      const p = trail[i - 1];
      if (tr.n !== p.n + 1) return [V.corrupt, `trail jumps from turn ${p.n} to ${tr.n}`];
      if (tr.hash !== link(p.hash, tr.conv, tr.n, tr.from, tr.body)) return [V.corrupt, `turn ${tr.n} does not hash from turn ${p.n}`];
    }
    if (trail[0].n === 0 && trail[0].hash !== link(genesis(this.conv), this.conv, 0, trail[0].from, trail[0].body)) {
      return [V.corrupt, 'turn 0 does not hash from the genesis'];
    }
    const last = trail[trail.length - 1];
    const n = last.n;
    if (n <= this.highest) {
      if (this.got.has(n)) {
        if (this.got.get(n) !== last.hash) return [V.corrupt, `turn ${n} arrived again with another hash`];
        return [V.duplicate];
      }
      if (this.missing.has(n)) {
        this.missing.delete(n);
        this.got.set(n, last.hash);
        return [V.reorder];
      }
      if (n <= this.anchorN) return [V.duplicate];
      return [V.corrupt, `turn ${n} is not one this agent hears`];
    }
    if (this.anchorN >= 0 && n <= this.anchorN) return [V.duplicate];
    for (const tr of trail) {
      if (tr.n === this.anchorN && tr.hash !== this.anchorHash) return [V.corrupt, `turn ${tr.n} differs from the one this agent holds`];
    }
    const anchored = this.anchorN >= trail[0].n - 1;
    if (this.anchorN === trail[0].n - 1 && this.anchorN >= 0) {
      const f = trail[0];
      if (f.hash !== link(this.anchorHash, f.conv, f.n, f.from, f.body)) {
        return [V.corrupt, `turn ${f.n} does not continue turn ${this.anchorN} held here`];
      }
    }
    let v = V.ok;
    if (this.anchorN >= 0 || this.highest >= 0 || trail[0].n === 0) {
      for (let k = this.highest + 1; k < n; k++) {
        if (this.addressedToMe(k) && !this.got.has(k)) {
          this.missing.add(k);
          v = V.gap;
        }
      }
      if (!anchored && v === V.ok) v = V.gap;
    }
    this.got.set(n, last.hash);
    this.highest = n;
    if (n > this.anchorN) {
      this.anchorN = n;
      this.anchorHash = last.hash;
    }
    return [v];
  }
}

// ---- the latency histogram: internal/stats.Hist's geometry (1 µs – 10 min, 3 significant figures), written as
// HdrHistogram's V2 compressed encoding (base64), which stats.Hist decodes and merges exactly ----

const HIST_MIN_US = 1;
const HIST_MAX_US = 600e6;
const SUB_HALF_MAG = 10; // ceil(log2(2·10^3)) − 1
const SUB_HALF_COUNT = 1 << SUB_HALF_MAG;
const SUB_MASK = (1 << (SUB_HALF_MAG + 1)) - 1;

function bitLen(v) {
  return v === 0 ? 0 : Math.floor(Math.log2(v)) + 1;
}

function countsIndexFor(v) {
  const bucket = bitLen(v | SUB_MASK) - (SUB_HALF_MAG + 1); // v < 2^30 here, so | is exact
  const sub = Math.floor(v / 2 ** bucket);
  return ((bucket + 1) << SUB_HALF_MAG) + sub - SUB_HALF_COUNT;
}

class Hist {
  constructor() {
    this.counts = new Map(); // index → count
    this.maxIndex = -1;
  }

  recordUS(us) {
    const v = Math.min(Math.max(Math.round(us), HIST_MIN_US), HIST_MAX_US);
    const i = countsIndexFor(v);
    this.counts.set(i, (this.counts.get(i) || 0) + 1);
    if (i > this.maxIndex) this.maxIndex = i;
  }

  toJSON() {
    const leb = [];
    const put = (signed) => {
      let x = signed < 0 ? -2 * signed - 1 : 2 * signed; // zig-zag
      while (x >= 0x80) {
        leb.push((x % 0x80) | 0x80);
        x = Math.floor(x / 0x80);
      }
      leb.push(x);
    };
    // An empty histogram is written as one zero count, as hdrhistogram-go writes it.
    const top = Math.max(this.maxIndex, 0);
    for (let i = 0; i <= top;) {
      const c = this.counts.get(i) || 0;
      i++;
      if (c !== 0) {
        put(c);
        continue;
      }
      let zeros = 1;
      while (i <= top && !(this.counts.get(i) || 0)) {
        zeros++;
        i++;
      }
      put(zeros > 1 ? -zeros : 0);
    }
    const payload = Buffer.from(leb);
    const head = Buffer.alloc(40);
    head.writeInt32BE(0x1c849303 | 0x10, 0); // V2 encoding cookie
    head.writeInt32BE(payload.length, 4);
    head.writeInt32BE(0, 8); // normalizing index offset
    head.writeInt32BE(3, 12); // significant figures
    head.writeBigInt64BE(BigInt(HIST_MIN_US), 16);
    head.writeBigInt64BE(BigInt(HIST_MAX_US), 24);
    head.writeDoubleBE(1, 32); // integer to double conversion ratio
    const z = zlib.deflateSync(Buffer.concat([head, payload]), { level: 9 });
    const out = Buffer.alloc(8);
    out.writeInt32BE(0x1c849304 | 0x10, 0); // V2 compressed cookie
    out.writeInt32BE(z.length, 4);
    return Buffer.concat([out, z]).toString('base64');
  }
}

// ---- the bus link (converse_link.go): registered, pinged, re-dialled with backoff on a loss ----

class BusLink {
  constructor(cfg) {
    this.cfg = cfg; // {url, id, pingMS, deadMS, onFrame, onUp}
    this.ws = null;
    this.registered = false; // registered at least once
    this.seq = 0;
    this.counts = { disconnects: 0, reconnects: 0, dial_failures: 0, register_retries: 0, send_failures: 0 };
    this.backoff = 50;
    this.stopped = false;
  }

  start() {
    this.dial();
  }

  stop() {
    this.stopped = true;
    if (this.ws) this.ws.terminate();
  }

  retry(lost) {
    if (this.stopped) return;
    if (lost) this.counts.disconnects++;
    else this.counts.dial_failures++;
    const d = this.backoff * (0.8 + 0.4 * Math.random());
    this.backoff = Math.min(2 * this.backoff, 500);
    setTimeout(() => this.dial(), d);
  }

  dial() {
    if (this.stopped) return;
    let ws;
    try {
      ws = new WebSocket(this.cfg.url, { handshakeTimeout: 2000, perMessageDeflate: false });
    } catch (e) {
      this.retry(false);
      return;
    }
    let up = false;
    let ended = false;
    let regPause = 50;
    const dialDeadline = Date.now() + 2000;
    const end = () => {
      if (ended) return;
      ended = true;
      clearInterval(pinger);
      clearTimeout(silence);
      clearTimeout(regTimer);
      if (this.ws === ws) this.ws = null;
      ws.terminate();
      this.retry(up);
    };
    let pinger;
    let silence;
    let regTimer = setTimeout(end, 2000); // dial plus registration, as DialTimeout
    const heard = () => {
      clearTimeout(silence);
      silence = setTimeout(end, this.cfg.deadMS); // a paused bus or a cut network shows only silence
    };
    const register = () => ws.send(JSON.stringify({ type: 'register', id: this.cfg.id }));
    ws.on('open', register);
    ws.on('message', (data) => {
      let f;
      try {
        f = JSON.parse(data.toString('utf8'));
      } catch (e) {
        f = { type: 'invalid' };
      }
      if (!up) {
        if (f.type === 'registered') {
          up = true;
          clearTimeout(regTimer);
          this.backoff = 50;
          this.ws = ws;
          const again = this.registered;
          if (again) this.counts.reconnects++;
          this.registered = true;
          heard();
          pinger = setInterval(() => this.write(ws, { type: 'ping', seq: ++this.seq }), this.cfg.pingMS);
          this.cfg.onUp(again);
        } else if (f.type === 'error' && f.code === 'duplicate_id') {
          // The bus still holds our lost connection: ask again on this one, with backoff, until the dial's time.
          this.counts.register_retries++;
          if (Date.now() + regPause > dialDeadline) return end();
          setTimeout(() => ws.readyState === WebSocket.OPEN && register(), regPause);
          regPause = Math.min(2 * regPause, 500);
        } else if (f.type === 'error') {
          end();
        }
        return;
      }
      heard();
      if (f.type === 'pong') return;
      this.cfg.onFrame(f);
    });
    ws.on('error', () => {});
    ws.on('close', end);
  }

  write(ws, v) {
    if (!ws || ws !== this.ws || ws.readyState !== WebSocket.OPEN) return false;
    try {
      ws.send(JSON.stringify(v));
      return true;
    } catch (e) {
      ws.terminate();
      return false;
    }
  }

  send(to, payload) {
    const msg = to === '' ? { type: 'broadcast', payload } : { type: 'send', to, payload };
    if (!this.write(this.ws, msg)) {
      this.counts.send_failures++;
      return false;
    }
    return true;
  }
}

// ---- the converser (converse.go) ----

function newCounts() {
  return {
    sent: 0, received: 0, first_try: 0, taken_on_resend: 0, duplicate: 0, reorder: 0, gap: 0, corrupt: 0, lost: 0,
    retransmits: 0, resends_up: 0, replies_repeat: 0, after_stop: 0, bus_errors: {}, link: {}, done: 0,
  };
}

class Converser {
  // cfg: {url, id, lab, kib, retransmitMS, pingMS, deadMS, work(seedBigInt, n, kib) → hex, out(line)}
  constructor(cfg) {
    this.cfg = cfg;
    this.retransmitNS = cfg.retransmitMS * 1e6;
    this.phase = '';
    this.stopped = false;
    this.kib = cfg.kib;
    this.convs = new Map();
    this.counts = newCounts();
    this.hist = new Hist();
    this.events = [];
    this.dropped = 0;
    this.link = new BusLink({ url: cfg.url, id: cfg.id, pingMS: cfg.pingMS, deadMS: cfg.deadMS,
      onFrame: (f) => this.onFrame(f), onUp: (again) => this.onUp(again) });
  }

  start() {
    this.link.start();
    this.timer = setInterval(() => this.resender(), Math.max(this.cfg.retransmitMS / 5, 1));
  }

  stop() {
    clearInterval(this.timer);
    this.link.stop();
  }

  event(e) {
    if (this.events.length >= MAX_EVENTS) {
      this.dropped++;
      return;
    }
    this.events.push(e);
  }

  sorted() {
    return [...this.convs.keys()].sort().map((k) => this.convs.get(k));
  }

  onUp(again) {
    if (this.cfg.lab) this.link.send(this.cfg.lab, { k: KIND.ready });
    if (!again) return;
    this.event({ ns: nowNS(), kind: 'reconnect' });
    for (const cv of this.sorted()) {
      if (cv.pend && !cv.done && !this.stopped) {
        this.counts.resends_up++;
        this.resend(cv, 'resend-after-reconnect');
      }
    }
  }

  resender() {
    const now = nowNS();
    for (const cv of this.sorted()) {
      if (cv.pend && !cv.done && !this.stopped && now - cv.pend.lastNS >= this.retransmitNS) {
        this.counts.retransmits++;
        this.resend(cv, 'retransmit');
      }
    }
  }

  resend(cv, kind) {
    const p = cv.pend;
    p.msg.try = (p.msg.try || 0) + 1;
    p.lastNS = nowNS();
    this.event({ ns: p.lastNS, kind, conv: cv.spec.id, turn: p.msg.trail[p.msg.trail.length - 1].n });
    this.link.send(p.to, p.msg);
  }

  onFrame(f) {
    if (f.type === 'error') {
      this.counts.bus_errors[f.code] = (this.counts.bus_errors[f.code] || 0) + 1;
      this.event({ ns: nowNS(), kind: 'bus-error:' + f.code, detail: f.message });
      if (f.code === 'unknown_target') {
        const soon = nowNS() - this.retransmitNS + UNKNOWN_TARGET_RETRY_NS;
        for (const cv of this.convs.values()) {
          if (cv.pend && cv.pend.lastNS > soon) cv.pend.lastNS = soon;
        }
      }
      return;
    }
    if (f.type !== 'msg') return;
    const m = f.payload;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) {
      this.counts.corrupt++;
      this.event({ ns: nowNS(), kind: 'corrupt', detail: 'payload: not a JSON object' });
      return;
    }
    switch (m.k) {
      case KIND.go:
        this.begin(m);
        break;
      case KIND.stop:
        if (m.phase === this.phase) this.stopped = true;
        break;
      case KIND.report:
        this.report(m.phase || '');
        break;
      case KIND.hello:
        if (this.cfg.lab) this.link.send(this.cfg.lab, { k: KIND.ready });
        break;
      case KIND.turn:
        this.turn(f.from, m);
        break;
      case KIND.fin: {
        const cv = this.convs.get(m.conv);
        if (cv && m.phase === this.phase) {
          cv.pend = null;
          cv.done = true;
        }
        break;
      }
      default:
    }
  }

  begin(m) {
    this.enter(m.phase || '');
    if (m.kib > 0) this.kib = m.kib;
    for (const s of m.convs || []) {
      if (this.convs.has(s.id)) continue;
      const self = (s.members || []).lastIndexOf(this.cfg.id);
      if (self < 0 || s.members.length < 2) continue;
      const cv = this.conv({ id: s.id, members: s.members, turns: s.turns || 0 }, self);
      if (self === 0) this.say(cv, genesis(s.id), 0, []);
    }
  }

  enter(phase) {
    if (phase === this.phase) return;
    this.phase = phase;
    this.stopped = false;
    this.counts = newCounts();
    this.hist = new Hist();
    this.events = [];
    this.dropped = 0;
    this.convs = new Map();
  }

  conv(spec, self) {
    const cv = { spec, self, tracker: new Tracker(spec.id, spec.members.length, self), pend: null, done: false,
      rep: { id: spec.id, received: 0, first_sent_ns: 0, first_ns: 0, last_ns: 0, stalls: [], stalls_truncated: false } };
    this.convs.set(spec.id, cv);
    return cv;
  }

  // work is the unit of agent work behind a turn: the lifecycle task seeded by the context's hash (its first 8
  // bytes, little-endian), as converser.work.
  work(prevHash, n) {
    let seed = BigInt(n);
    if (/^[0-9a-fA-F]{16,}$/.test(prevHash) && prevHash.length % 2 === 0) seed = Buffer.from(prevHash, 'hex').readBigUInt64LE(0);
    return this.cfg.work(seed, this.kib);
  }

  say(cv, prevHash, n, prior) {
    const body = this.work(prevHash, n);
    const t = nextTurn(prevHash, cv.spec.id, n, this.cfg.id, body);
    t.sent_ns = nowNS();
    const ring = cv.spec.members.length;
    let trail = prior.concat([t]);
    if (trail.length > ring) trail = trail.slice(trail.length - ring);
    cv.tracker.said(t);
    if (n === 0) cv.rep.first_sent_ns = t.sent_ns;
    const msg = { k: KIND.turn, phase: this.phase || undefined, conv: cv.spec.id, members: cv.spec.members,
      turns: cv.spec.turns || undefined, trail };
    cv.pend = { to: cv.spec.members[(cv.self + 1) % ring], msg, lastNS: t.sent_ns };
    this.counts.sent++;
    this.link.send(cv.pend.to, msg);
  }

  turn(from, m) {
    const trailIn = Array.isArray(m.trail) ? m.trail : [];
    if ((m.phase || '') !== this.phase) {
      if ((this.phase !== '' && !this.stopped) || trailIn.length === 0) return;
      this.enter(m.phase || '');
    }
    if (this.stopped) {
      this.counts.after_stop++;
      return;
    }
    const now = nowNS();
    let cv = this.convs.get(m.conv);
    if (!cv) {
      const members = Array.isArray(m.members) ? m.members : [];
      const self = members.lastIndexOf(this.cfg.id);
      if (self < 0 || members.length < 2) {
        this.counts.corrupt++;
        this.event({ ns: now, kind: 'corrupt', conv: m.conv, detail: 'not a member' });
        return;
      }
      cv = this.conv({ id: m.conv, members, turns: m.turns || 0 }, self);
    }
    const [v, err] = cv.tracker.receive(trailIn);
    const last = trailIn[trailIn.length - 1] || { n: 0 };
    switch (v) {
      case V.duplicate: {
        this.counts.duplicate++;
        this.event({ ns: now, kind: 'duplicate', conv: m.conv, turn: last.n });
        const p = cv.pend;
        if (p && p.msg.trail[p.msg.trail.length - 1].n === last.n + 1 && now - p.lastNS >= this.retransmitNS / 2) {
          this.counts.replies_repeat++;
          this.resend(cv, 'reply-repeat');
        }
        if (cv.done && cv.spec.turns > 0 && last.n === cv.spec.turns - 1) {
          this.link.send(from, { k: KIND.fin, phase: this.phase || undefined, conv: m.conv });
        }
        return;
      }
      case V.corrupt:
        this.counts.corrupt++;
        this.event({ ns: now, kind: 'corrupt', conv: m.conv, turn: last.n, detail: 'context corrupt: ' + err });
        return;
      case V.reorder:
        this.counts.reorder++;
        this.event({ ns: now, kind: 'reorder', conv: m.conv, turn: last.n });
        break;
      case V.gap:
        this.counts.gap++;
        this.event({ ns: now, kind: 'gap', conv: m.conv, turn: last.n });
        break;
      default:
    }
    this.counts.received++;
    const tries = m.try || 0;
    if (tries === 0 && v === V.ok) this.counts.first_try++;
    if (tries > 0) {
      this.counts.taken_on_resend++;
      this.event({ ns: now, kind: 'taken-on-resend', conv: m.conv, turn: last.n, detail: String(tries) });
    }
    if (trailIn.length >= 2) this.hist.recordUS((now - trailIn[trailIn.length - 2].sent_ns) / 1e3);
    const r = cv.rep;
    r.received++;
    if (r.first_ns === 0) {
      r.first_ns = now;
    } else if (now - r.last_ns > STALL_NS) {
      if (r.stalls.length < MAX_STALLS) r.stalls.push([r.last_ns, now]);
      else r.stalls_truncated = true;
    }
    r.last_ns = now;
    if (v === V.reorder) return;
    cv.pend = null;
    if (cv.spec.turns > 0 && last.n >= cv.spec.turns - 1) {
      cv.done = true;
      this.counts.done++;
      this.link.send(from, { k: KIND.fin, phase: this.phase || undefined, conv: m.conv });
      if (this.cfg.lab) this.link.send(this.cfg.lab, { k: KIND.done, phase: this.phase || undefined, conv: m.conv });
      return;
    }
    this.say(cv, last.hash, last.n + 1, trailIn);
  }

  // report prints the phase's report as one line, the shape of agent.Report (integers written whole).
  report(phase) {
    const linkCounts = { ...this.link.counts };
    let counts;
    let hist;
    let events;
    const convs = [];
    if (phase !== this.phase) {
      counts = newCounts();
      hist = new Hist();
      events = [];
    } else {
      counts = { ...this.counts, bus_errors: { ...this.counts.bus_errors } };
      hist = this.hist;
      events = this.events;
      counts.lost = 0;
      for (const cv of this.sorted()) {
        const cr = { ...cv.rep, done: cv.done, lost: cv.tracker.lost(), head: cv.tracker.anchorN };
        if (cr.stalls.length === 0) delete cr.stalls;
        if (!cr.stalls_truncated) delete cr.stalls_truncated;
        counts.lost += cr.lost;
        convs.push(cr);
      }
    }
    counts.link = linkCounts;
    const r = { agent: this.cfg.id, phase, counts, latency_us: hist.toJSON(), convs, events: events.map(cleanEvent) };
    if (phase === this.phase && this.dropped) r.events_dropped = this.dropped;
    this.cfg.out(REPORT_PREFIX + stringifyInts(r) + '\n');
  }
}

function cleanEvent(e) {
  const o = { ns: e.ns, kind: e.kind };
  if (e.conv) o.conv = e.conv;
  if (e.turn) o.turn = e.turn;
  if (e.detail) o.detail = e.detail;
  return o;
}

// stringifyInts is JSON.stringify with every number that holds an integer written as one (ns times above 2^53 are
// Numbers here: written in full digits, never with an exponent or fraction, so Go's int64 fields accept them).
function stringifyInts(v) {
  return JSON.stringify(v, (k, x) => (typeof x === 'number' && Number.isFinite(x) ? Math.round(x) : x));
}

// parseDuration reads a Go duration ("500ms", "1s", "30m0s", "1h") as milliseconds.
function parseDuration(s) {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  const unit = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };
  let total = 0;
  let at = 0;
  let m;
  if (s === '0') return 0;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * unit[m[2]];
    at = re.lastIndex;
  }
  if (at === 0 || at !== s.length) throw new Error(`bad duration ${JSON.stringify(s)}`);
  return total;
}

module.exports = { Converser, Tracker, Hist, genesis, link, nextTurn, parseDuration, countsIndexFor };
