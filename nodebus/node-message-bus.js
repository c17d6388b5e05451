#!/usr/bin/env node
// agentlab's Node.js message bus: the seed suite's node-message-bus.js design (one process, the `ws` library, a
// Map of agents) written for docs/protocol.md, so it runs in the same conformance suite, bus-load and
// agent-messaging as the Go and Rust buses.
//
// payload, seq and ts are carried as the sender's raw JSON text, never parsed into JS numbers: a seq above 2^53,
// a ts in nanoseconds and a payload's number spellings and whitespace arrive byte for byte.
//
//   node node-message-bus.js [--addr :8080] [--max-message-bytes 65536] [--queue-len 256] [--max-connections 20000]
//   (or BUS_ADDR, BUS_MAX_MESSAGE_BYTES, BUS_QUEUE_LEN, BUS_MAX_CONNECTIONS; flags win)
//   [--plant-delay-ms N] [--plant-drop-every N] (BUS_PLANT_DELAY_MS, BUS_PLANT_DROP_EVERY): PLANTED FAULTS for the
//   lab's calibration, not tuning: every msg delivery held N ms, every Nth msg delivery dropped
'use strict';

const http = require('http');
const buffer = require('buffer');
const { WebSocketServer, WebSocket } = require('ws');

// --- options ---------------------------------------------------------------------------------------------------

const FLAGS = {
  addr: ['BUS_ADDR', ':8080'],
  'max-message-bytes': ['BUS_MAX_MESSAGE_BYTES', '65536'],
  'queue-len': ['BUS_QUEUE_LEN', '256'],
  'max-connections': ['BUS_MAX_CONNECTIONS', '20000'],
  'plant-delay-ms': ['BUS_PLANT_DELAY_MS', '0'],
  'plant-drop-every': ['BUS_PLANT_DROP_EVERY', '0'],
};

function options(argv, env) {
  const o = {};
  for (const [k, [e, d]] of Object.entries(FLAGS)) o[k] = env[e] !== undefined && env[e] !== '' ? env[e] : d;
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (eq > 0) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const name = a.replace(/^--?/, '');
    if (name === a || !(name in FLAGS)) throw new Error(`unknown flag ${argv[i]}`);
    if (v === undefined) {
      if (i + 1 >= argv.length) throw new Error(`flag needs an argument: ${a}`);
      v = argv[++i];
    }
    o[name] = v;
  }
  for (const k of ['max-message-bytes', 'queue-len', 'max-connections']) {
    if (!/^[1-9][0-9]*$/.test(String(o[k]))) throw new Error(`--${k} ${o[k]}: want a positive integer`);
    o[k] = Number(o[k]);
  }
  for (const k of ['plant-delay-ms', 'plant-drop-every']) {
    if (!/^[0-9]+$/.test(String(o[k]))) throw new Error(`--${k} ${o[k]}: want an integer >= 0`);
    o[k] = Number(o[k]);
  }
  const i = o.addr.lastIndexOf(':');
  if (i < 0 || !/^[0-9]+$/.test(o.addr.slice(i + 1))) throw new Error(`--addr ${o.addr}: want HOST:PORT`);
  o.host = o.addr.slice(0, i).replace(/^\[|\]$/g, '') || undefined;
  o.port = Number(o.addr.slice(i + 1));
  return o;
}

// --- metrics -----------------------------------------------------------------------------------------------------

const IN_TYPES = ['register', 'send', 'broadcast', 'group', 'ping', 'invalid'];
const OUT_TYPES = ['msg', 'registered', 'pong', 'error'];
const MODES = ['direct', 'broadcast', 'group'];
const CODES = ['malformed', 'not_registered', 'already_registered', 'duplicate_id', 'unknown_target', 'unknown_group',
  'too_large'];

const zero = (keys) => Object.fromEntries(keys.map((k) => [k, 0]));
const m = {
  connections: 0, accepted: 0, rejected: 0, noHead: 0, registered: 0, bytesIn: 0, bytesOut: 0, dropped: 0, planted: 0, droppedPong: 0,
  in: zero(IN_TYPES), out: zero(OUT_TYPES), deliveries: zero(MODES), errors: zero(CODES),
};

function metricsText() {
  const lines = [];
  const one = (name, type, help, series) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of series) lines.push(`${name}${labels} ${v}`);
  };
  const vec = (label, obj) => Object.entries(obj).map(([k, v]) => [`{${label}="${k}"}`, v]);
  one('bus_connections', 'gauge', 'Open WebSocket connections.', [['', m.connections]]);
  one('bus_connections_accepted_total', 'counter', 'WebSocket connections accepted.', [['', m.accepted]]);
  one('bus_rejected_connections_total', 'counter', 'WebSocket upgrades refused.',
    [['{reason="max_connections"}', m.rejected], ['{reason="no_request_head"}', m.noHead]]);
  one('bus_registered_agents', 'gauge', 'Connections holding a registered agent id.', [['', m.registered]]);
  one('bus_messages_in_total', 'counter', 'Client frames received, by type.', vec('type', m.in));
  one('bus_messages_out_total', 'counter', 'Frames queued for writing, by type.', vec('type', m.out));
  one('bus_deliveries_total', 'counter', 'msg frames queued to recipients, by routing mode.', vec('mode', m.deliveries));
  one('bus_bytes_in_total', 'counter', 'Payload bytes of text frames received.', [['', m.bytesIn]]);
  one('bus_bytes_out_total', 'counter', 'Payload bytes of text frames queued for writing.', [['', m.bytesOut]]);
  one('bus_dropped_total', 'counter', 'Frames dropped.', [['{reason="slow_consumer"}', m.dropped], ['{reason="planted"}', m.planted], ['{reason="pong"}', m.droppedPong]]);
  one('bus_errors_total', 'counter', 'Errors, by code.', vec('code', m.errors));
  one('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', [['', process.memoryUsage.rss()]]);
  return lines.join('\n') + '\n';
}

// --- JSON: the top-level fields' raw text -------------------------------------------------------------------------

// skipValue returns the index just past the JSON value starting at i of valid JSON text s.
function skipValue(s, i) {
  const c = s.charCodeAt(i);
  if (c === 0x22) { // string
    i++;
    for (;;) {
      const d = s.charCodeAt(i);
      if (d === 0x5c) i += 2;
      else if (d === 0x22) return i + 1;
      else i++;
    }
  }
  if (c === 0x7b || c === 0x5b) { // object or array: count brackets outside strings
    let depth = 0;
    for (;;) {
      const d = s.charCodeAt(i);
      if (d === 0x22) {
        i = skipValue(s, i);
        continue;
      }
      if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d || d === 0x5d) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
  }
  while (i < s.length && !/[\s,}\]]/.test(s[i])) i++; // number, true, false, null
  return i;
}

const isWS = (c) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

// rawFields maps each top-level key of the valid JSON object text s to its value's exact text (a repeated key: the
// last one, as JSON.parse does).
function rawFields(s) {
  const out = new Map();
  let i = s.indexOf('{') + 1;
  for (;;) {
    while (isWS(s.charCodeAt(i)) || s[i] === ',') i++;
    if (s[i] === '}' || i >= s.length) return out;
    const kEnd = skipValue(s, i);
    const key = JSON.parse(s.slice(i, kEnd));
    i = kEnd;
    while (isWS(s.charCodeAt(i)) || s[i] === ':') i++;
    const vEnd = skipValue(s, i);
    out.set(key, s.slice(i, vEnd));
    i = vEnd;
  }
}

const U64 = 1n << 64n;
const I64 = 1n << 63n;
// A carried integer field: absent (undefined or null) → undefined; valid → its raw text; invalid → false.
function intField(raw, signed) {
  if (raw === undefined || raw === 'null') return undefined;
  if (!(signed ? /^-?(0|[1-9][0-9]*)$/ : /^(0|[1-9][0-9]*)$/).test(raw)) return false;
  const v = BigInt(raw);
  return (signed ? v >= -I64 && v < I64 : v < U64) ? raw : false;
}

const validUTF8 = buffer.isUtf8 ? (b) => buffer.isUtf8(b) : (() => {
  const dec = new TextDecoder('utf-8', { fatal: true });
  return (b) => {
    try {
      dec.decode(b);
      return true;
    } catch (e) {
      return false;
    }
  };
})();

// --- routing ------------------------------------------------------------------------------------------------------

const agents = new Map(); // id → conn
// MAX_CTRL_BACKLOG bounds the unsent bytes beyond which a pong is dropped (go-netpoll's maxCtrlBacklog).
const MAX_CTRL_BACKLOG = 1 << 20;

const groups = new Map(); // name → { name, json, members: [conn], cursor }
const conns = new Set();
let opts;

const nameOK = (v) => typeof v === 'string' && v.length > 0 && Buffer.byteLength(v) <= 128;

// push queues frame (a string) to c unless its queue is full: then the frame is dropped (the newest, older ones stay).
// A frame counts as queued until ws has handed it to the socket (its write callback): the kernel's socket buffer
// comes first, queue_len frames wait behind it.
function push(c, frame, outType) {
  if (c.ws.readyState !== WebSocket.OPEN) return false;
  // A frame counts as queued until ws's write callback for it; but when nothing is buffered in the process
  // (bufferedAmount 0) every frame has reached the kernel and the callbacks only lag behind a busy event loop:
  // the queue is not full then.
  if (c.queued >= opts['queue-len'] && c.ws.bufferedAmount > 0) {
    m.dropped++;
    return false;
  }
  c.queued++;
  const b = typeof frame === 'string' ? Buffer.from(frame) : frame;
  c.ws.send(b, { binary: false }, () => c.queued--);
  m.out[outType]++;
  m.bytesOut += b.length;
  return true;
}

// deliver queues one msg delivery, counted by mode, unless a planted fault takes it: dropped (counted as planted),
// or held --plant-delay-ms and queued, and counted, when due (one delay for all: Node's timers keep their order).
let plantN = 0;
function deliver(c, frame, mode) {
  if (opts['plant-drop-every'] > 0 && ++plantN % opts['plant-drop-every'] === 0) {
    m.planted++;
    return;
  }
  if (opts['plant-delay-ms'] > 0) {
    setTimeout(() => {
      if (push(c, frame, 'msg')) m.deliveries[mode]++;
    }, opts['plant-delay-ms']);
    return;
  }
  if (push(c, frame, 'msg')) m.deliveries[mode]++;
}

function sendError(c, code, seq, message) {
  m.errors[code]++;
  let f = `{"type":"error","code":"${code}"`;
  if (seq !== undefined) f += `,"seq":${seq}`;
  push(c, f + `,"message":${JSON.stringify(message)}}`, 'error');
}

function malformed(c, seq, why) {
  m.in.invalid++;
  sendError(c, 'malformed', seq, why);
}

// carried is the delivered frame's tail: seq, ts and payload as the sender spelled them, absent ones absent.
function carried(f) {
  let s = '';
  if (f.seq !== undefined) s += `,"seq":${f.seq}`;
  if (f.ts !== undefined) s += `,"ts":${f.ts}`;
  if (f.payload !== undefined) s += `,"payload":${f.payload}`;
  return s + '}';
}

function register(c, id, names) {
  agents.set(id, c);
  c.id = id;
  c.idJSON = JSON.stringify(id);
  for (const n of names) {
    let g = groups.get(n);
    if (!g) {
      g = { name: n, json: JSON.stringify(n), members: [], cursor: 0 };
      groups.set(n, g);
    }
    g.members.push(c);
    c.groups.push(g);
  }
  m.registered++;
}

// unregister releases c's id and group places at once; a group's cursor keeps pointing at the member that was next.
function unregister(c) {
  if (c.id === undefined) return;
  agents.delete(c.id);
  for (const g of c.groups) {
    const j = g.members.indexOf(c);
    if (j >= 0) {
      g.members.splice(j, 1);
      if (j < g.cursor) g.cursor--;
      if (g.cursor >= g.members.length) g.cursor = 0;
    }
    if (g.members.length === 0) groups.delete(g.name);
  }
  c.groups = [];
  c.id = undefined;
  m.registered--;
}

function handleText(c, data) {
  m.bytesIn += data.length;
  if (!validUTF8(data)) return malformed(c, undefined, 'frame is not valid UTF-8');
  const text = data.toString('utf8');
  let obj;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    return malformed(c, undefined, 'frame is not one JSON object');
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    return malformed(c, undefined, 'frame is not one JSON object');
  }
  const raw = rawFields(text);
  const f = { payload: raw.get('payload') };
  f.seq = intField(raw.get('seq'), false);
  if (f.seq === false) return malformed(c, undefined, 'seq must be an integer >= 0');
  f.ts = intField(raw.get('ts'), true);
  if (f.ts === false) return malformed(c, f.seq, 'ts must be an integer (Unix nanoseconds)');
  const type = obj.type;
  switch (type) {
    case 'ping':
      m.in.ping++;
      return push(c, '{"type":"pong"' + carried(f), 'pong');
    case 'register':
      return handleRegister(c, obj, f);
    case 'send':
    case 'broadcast':
    case 'group':
      if (c.id === undefined) {
        m.in[type]++;
        return sendError(c, 'not_registered', f.seq, 'register first');
      }
      if (type === 'send') return handleSend(c, obj, f);
      if (type === 'broadcast') return handleBroadcast(c, f);
      return handleGroup(c, obj, f);
    default:
      return malformed(c, f.seq, 'type must be one of "register", "send", "broadcast", "group", "ping"');
  }
}

function handleRegister(c, obj, f) {
  if (!nameOK(obj.id)) return malformed(c, f.seq, 'register needs id: a non-empty string of at most 128 bytes');
  const names = [];
  if (obj.groups !== undefined && obj.groups !== null) {
    if (!Array.isArray(obj.groups) || !obj.groups.every(nameOK)) {
      return malformed(c, f.seq, 'groups must be an array of non-empty strings of at most 128 bytes');
    }
    for (const n of obj.groups) if (!names.includes(n)) names.push(n);
  }
  m.in.register++;
  if (c.id !== undefined) return sendError(c, 'already_registered', f.seq, `this connection is already registered as ${c.idJSON}`);
  if (agents.has(obj.id)) return sendError(c, 'duplicate_id', f.seq, `another connection holds id ${JSON.stringify(obj.id)}`);
  register(c, obj.id, names);
  push(c, `{"type":"registered","id":${c.idJSON}}`, 'registered');
}

function handleSend(c, obj, f) {
  if (typeof obj.to !== 'string' || obj.to === '') return malformed(c, f.seq, 'send needs to: a non-empty string');
  m.in.send++;
  const target = agents.get(obj.to);
  if (!target) return sendError(c, 'unknown_target', f.seq, `no agent with id ${JSON.stringify(obj.to)}`);
  const frame = `{"type":"msg","mode":"direct","from":${c.idJSON},"to":${target.idJSON}` + carried(f);
  deliver(target, frame, 'direct');
}

function handleBroadcast(c, f) {
  m.in.broadcast++;
  const frame = Buffer.from(`{"type":"msg","mode":"broadcast","from":${c.idJSON}` + carried(f));
  for (const r of agents.values()) {
    if (r !== c) deliver(r, frame, 'broadcast');
  }
}

function handleGroup(c, obj, f) {
  if (typeof obj.group !== 'string' || obj.group === '') {
    return malformed(c, f.seq, 'group needs group: a non-empty string');
  }
  m.in.group++;
  const g = groups.get(obj.group);
  let target;
  if (g) {
    const n = g.members.length;
    for (let k = 0; k < n; k++) {
      const idx = (g.cursor + k) % n;
      if (g.members[idx] !== c) {
        target = g.members[idx];
        g.cursor = (idx + 1) % n;
        break;
      }
    }
  }
  if (!target) {
    return sendError(c, 'unknown_group', f.seq, `no member other than the sender in group ${JSON.stringify(obj.group)}`);
  }
  const frame = `{"type":"msg","mode":"group","from":${c.idJSON},"group":${g.json},"to":${target.idJSON}` + carried(f);
  deliver(target, frame, 'group');
}

// --- server -------------------------------------------------------------------------------------------------------

function main() {
  try {
    opts = options(process.argv.slice(2), process.env);
  } catch (e) {
    process.stderr.write(`nodebus: ${e.message}\n`);
    process.exit(2);
  }
  if (opts['plant-delay-ms'] > 0 || opts['plant-drop-every'] > 0) {
    process.stderr.write(`nodebus: PLANTED FAULTS (calibration, not tuning): delay ${opts['plant-delay-ms']} ms per msg, drop every ${opts['plant-drop-every']}\n`);
  }
  // No compression, no subprotocol (handleProtocols refuses every offer), UTF-8 checked here so invalid text is
  // answered with malformed instead of closing (1007); maxPayload closes with 1009 after reassembly.
  const wss = new WebSocketServer({
    noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: opts['max-message-bytes'],
    skipUTF8Validation: true, handleProtocols: () => false,
  });
  let upgrading = 0;
  const server = http.createServer((req, res) => {
    const path = req.url.split('?')[0];
    if (req.method === 'GET' && path === '/health') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(`{"status":"ok","connections":${m.connections}}`);
    } else if (req.method === 'GET' && path === '/metrics') {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(metricsText());
    } else if (path === '/ws') {
      res.writeHead(426, { 'Content-Type': 'text/plain' });
      res.end('WebSocket upgrade required\n');
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('404 page not found\n');
    }
  });
  // Connections that never send a request head (docs/protocol.md, resource limits): the head must arrive within
  // 10 s, as the Go bus's ReadHeaderTimeout; a connection closed before any request is counted.
  server.headersTimeout = 10000;
  server.requestTimeout = 0; // a WebSocket lives on: only the head has a deadline
  server.on('connection', (socket) => {
    socket.agentlabHead = false;
    socket.once('close', () => {
      if (!socket.agentlabHead) m.noHead++;
    });
  });
  server.on('request', (req) => {
    req.socket.agentlabHead = true;
  });
  server.on('upgrade', (req, socket, head) => {
    socket.agentlabHead = true;
    socket.on('error', () => {});
    if (req.url.split('?')[0] !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    if (m.connections + upgrading >= opts['max-connections']) {
      m.rejected++;
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    upgrading++;
    let done = false;
    const settle = () => {
      if (!done) {
        done = true;
        upgrading--;
      }
    };
    socket.once('close', settle);
    wss.handleUpgrade(req, socket, head, (ws) => {
      settle();
      accept(ws);
    });
  });

  function accept(ws) {
    const c = { ws, id: undefined, idJSON: undefined, groups: [], queued: 0 };
    // ws (8.11, Debian's) answers every ping itself, with no bound: a peer that floods pings and never reads had
    // every pong buffered in this process (+115 MiB in TestExhaustion) and the event loop writing them. Its receiver
    // calls ws.pong for each ping, so this connection's pong drops the answer when more than MAX_CTRL_BACKLOG is
    // unsent, as go-netpoll and rust-epoll do, and counts it (bus_dropped_total{reason="pong"}).
    ws.pong = function pong(data, mask, cb) {
      if (this._socket && this._socket.writableLength + this.bufferedAmount > MAX_CTRL_BACKLOG) {
        m.droppedPong++;
        if (typeof cb === 'function') process.nextTick(cb);
        return;
      }
      WebSocket.prototype.pong.call(this, data, mask, cb);
    };
    conns.add(c);
    m.connections++;
    m.accepted++;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return malformed(c, undefined, 'binary frames are not messages');
      handleText(c, Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data));
    });
    // ws's UTF-8 check is off (so invalid text gets malformed, not 1007), which also lets a close frame's reason
    // through unchecked: a close whose reason is not UTF-8 is a protocol error, answered with 1002 as the other buses
    // do (TestDifferential). Runs before ws echoes the peer's close code.
    if (ws._receiver) {
      ws._receiver.prependListener('conclude', (code, reason) => {
        if (code !== 1005 && !validUTF8(reason)) ws.close(1002);
      });
    }
    ws.on('error', (e) => {
      if (e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') m.errors.too_large++;
    });
    ws.on('close', () => {
      conns.delete(c);
      m.connections--;
      unregister(c);
    });
  }

  // SIGTERM/SIGINT: stop accepting, close 1001 to everyone, exit 0 once all are closed or after 2 s (protocol: 5).
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    server.close();
    const exit = () => process.exit(0);
    const timer = setTimeout(() => {
      for (const c of conns) c.ws.terminate();
      setTimeout(exit, 50);
    }, 2000);
    timer.unref();
    if (conns.size === 0) return exit();
    for (const c of conns) {
      c.ws.close(1001, 'going away');
      c.ws.on('close', () => {
        if (conns.size === 0) exit();
      });
    }
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  server.on('error', (e) => {
    process.stderr.write(`nodebus: ${e.message}\n`);
    process.exit(1);
  });
  server.listen({ host: opts.host, port: opts.port }, () => {
    const a = server.address();
    process.stdout.write(`nodebus listening on ${a.address}:${a.port} (node ${process.version}, ws ${wsVersion()})\n`);
  });
}

function wsVersion() {
  try {
    return require('ws/package.json').version;
  } catch (e) {
    return '?';
  }
}

if (require.main === module) main();

module.exports = { rawFields, intField, skipValue };
