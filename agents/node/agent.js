#!/usr/bin/env node
// agentlab's agent in Node.js: the same task protocol as the Go agent (internal/agent), so the lab measures the
// seed's own runtime with the same digest check.
//
//   node agent.js once [--task JSON] [--kib N]     task from --task or stdin; one JSON result line on stdout
//   node agent.js serve [--addr HOST:PORT] [--kib N]  first line "listening ADDR", then one JSON task per line in,
//                                                   one JSON result per line out, any number per connection
//   node agent.js converse --id ID [--bus URL] [--lab ID] [--kib N] [--retransmit D] [--ping D] [--dead D] [--max-run D]
//                                                   conversations with other agents through the bus (converse.js;
//                                                   the Go agent's protocol, docs/agents.md); D is a Go duration
//
// Task {"id":u64,"kib":int,"seed":u64}; the data is a xorshift64 stream seeded from seed, hashed with SHA-256, 1 KiB
// at a time. Seeds and ids exceed 2^53, so the task is read as text: integers become BigInt, never a double
// (JSON.parse would round them and the digest would come out wrong).
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const net = require('net');

const MAX_KIB = 1 << 20;
const U64 = (1n << 64n) - 1n;
const USAGE = 'usage: agent.js once [--task JSON] [--kib N]   (task from --task or stdin)\n' +
  '       agent.js serve [--addr HOST:PORT] [--kib N]\n' +
  '       agent.js converse --id ID [--bus ws://bus:8080/ws] [--lab lab] [--kib N] [--retransmit 500ms] [--ping 1s] [--dead 3s] [--max-run 1h]';

class BadTask extends Error {}

// quoteIntegers rewrites every integer literal outside strings as a string ("i:<digits>"), so JSON.parse keeps
// its digits; numbers with a fraction or exponent stay numbers (and a u64 field holding one is a bad task).
function quoteIntegers(text) {
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      let j = i + 1;
      while (j < n && /[0-9eE+.\-]/.test(text[j])) j++;
      const tok = text.slice(i, j);
      out += /^-?(0|[1-9][0-9]*)$/.test(tok) ? '"i:' + tok + '"' : tok;
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function field(obj, name, max) {
  const v = obj[name];
  if (v === undefined || v === null) return 0n;
  if (typeof v !== 'string' || !v.startsWith('i:')) throw new BadTask(`bad task: ${name} is not an integer`);
  const b = BigInt(v.slice(2));
  if (b < 0n || b > max) throw new BadTask(`bad task: ${name} ${b} out of range`);
  return b;
}

// parseTask decodes and validates a task; defKiB applies when it names no size (as internal/agent.ParseTask).
function parseTask(text, defKiB) {
  let obj;
  try {
    obj = JSON.parse(quoteIntegers(String(text)));
  } catch (e) {
    throw new BadTask(`bad task: ${e.message}`);
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new BadTask('bad task: not a JSON object');
  const id = field(obj, 'id', U64);
  const seed = field(obj, 'seed', U64);
  let kib = obj.kib === undefined || obj.kib === null ? 0n : field(obj, 'kib', BigInt(MAX_KIB));
  if (kib === 0n) kib = BigInt(defKiB);
  return { id, kib: Number(kib), seed };
}

// digest is internal/agent.Digest: xorshift64 (13, 7, 17) from seed*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019,
// little-endian words, SHA-256 hex. The state is kept as two uint32 halves: BigInt per word is ~10x slower.
function digest(seed, kib) {
  let x = (seed * 0x9E3779B97F4A7C15n + 0x632BE59BD9B4E019n) & U64;
  if (x === 0n) x = 1n;
  let hi = Number(x >> 32n) >>> 0;
  let lo = Number(x & 0xFFFFFFFFn) >>> 0;
  const h = crypto.createHash('sha256');
  const chunkKiB = 64;
  const buf = Buffer.allocUnsafe(chunkKiB * 1024);
  const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const le = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  for (let done = 0; done < kib;) {
    const k = Math.min(chunkKiB, kib - done);
    for (let w = 0; w < k * 256; w += 2) {
      // x ^= x << 13
      hi = (hi ^ ((hi << 13) | (lo >>> 19))) >>> 0;
      lo = (lo ^ (lo << 13)) >>> 0;
      // x ^= x >> 7
      lo = (lo ^ ((lo >>> 7) | (hi << 25))) >>> 0;
      hi = (hi ^ (hi >>> 7)) >>> 0;
      // x ^= x << 17
      hi = (hi ^ ((hi << 17) | (lo >>> 15))) >>> 0;
      lo = (lo ^ (lo << 17)) >>> 0;
      if (le) {
        words[w] = lo;
        words[w + 1] = hi;
      } else {
        buf.writeUInt32LE(lo, w * 4);
        buf.writeUInt32LE(hi, w * 4 + 4);
      }
    }
    h.update(k === chunkKiB ? buf : buf.subarray(0, k * 1024));
    done += k;
  }
  return h.digest('hex');
}

function doTask(t) {
  const start = process.hrtime.bigint();
  const sum = digest(t.seed, t.kib);
  const workNS = process.hrtime.bigint() - start;
  return { id: t.id, sha256: sum, bytes: t.kib * 1024, work_ns: workNS };
}

// encode writes a result as JSON with BigInt fields as plain integers (JSON.stringify refuses BigInt).
function encode(r) {
  let s = `{"id":${r.id}`;
  if (r.sha256 !== undefined) s += `,"sha256":"${r.sha256}","bytes":${r.bytes},"work_ns":${r.work_ns}`;
  if (r.error !== undefined) s += `,"error":${JSON.stringify(r.error)}`;
  if (r.peak_rss_bytes) s += `,"peak_rss_bytes":${r.peak_rss_bytes}`;
  if (r.cgroup_peak_bytes) s += `,"cgroup_peak_bytes":${r.cgroup_peak_bytes},"cgroup_peak_source":"${r.cgroup_peak_source}"`;
  return s + '}\n';
}

function readInt(file, re) {
  try {
    const s = fs.readFileSync(file, 'utf8');
    const m = re ? s.match(re) : [null, s.trim()];
    return m ? Number(m[1]) : 0;
  } catch (e) {
    return 0;
  }
}

// selfMemory fills the own-memory figures `once` reports (as the Go agent's selfMemory): VmHWM, and the container's
// cgroup peak when this is its init process.
function selfMemory(r) {
  r.peak_rss_bytes = readInt('/proc/self/status', /VmHWM:\s+(\d+) kB/) * 1024;
  if (process.pid === 1) {
    for (const f of ['/sys/fs/cgroup/memory.peak', '/sys/fs/cgroup/memory/memory.max_usage_in_bytes']) {
      const v = readInt(f);
      if (v > 0) {
        r.cgroup_peak_bytes = v;
        r.cgroup_peak_source = 'cgroup ' + f.slice(f.lastIndexOf('/') + 1);
        break;
      }
    }
  }
}

function parseArgs(argv) {
  // The converse flags and defaults are the Go agent's (internal/agent/converse_main.go).
  const o = { kib: 64, task: '', addr: ':9000', bus: 'ws://bus:8080/ws', id: '', lab: 'lab', retransmit: '500ms',
    ping: '1s', dead: '3s', 'max-run': '1h' };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (eq > 0) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const name = a.replace(/^--?/, '');
    if (!(name in o) || a === name) throw new Error(`unknown flag ${argv[i]}`);
    if (v === undefined) {
      if (i + 1 >= argv.length) throw new Error(`flag needs an argument: ${a}`);
      v = argv[++i];
    }
    o[name] = v;
  }
  const k = Number(o.kib);
  if (!/^[0-9]+$/.test(String(o.kib)) || k > MAX_KIB) throw new Error(`--kib ${o.kib} out of range 0..${MAX_KIB}`);
  o.kib = k;
  return o;
}

function once(o) {
  let text = o.task;
  if (text === '') {
    try {
      text = fs.readFileSync(0, 'utf8');
    } catch (e) {
      process.stderr.write(`agent: read task: ${e.message}\n`);
      return 1;
    }
  }
  let t;
  try {
    t = parseTask(text, o.kib);
  } catch (e) {
    process.stderr.write(`agent: ${e.message}\n`);
    return 2;
  }
  const r = doTask(t);
  selfMemory(r);
  fs.writeSync(1, encode(r));
  return 0;
}

function splitAddr(addr) {
  const i = addr.lastIndexOf(':');
  if (i < 0) throw new Error(`bad --addr ${addr}`);
  let host = addr.slice(0, i);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { host: host || undefined, port: Number(addr.slice(i + 1)) };
}

function serve(o) {
  const { host, port } = splitAddr(o.addr);
  const conns = new Set();
  const srv = net.createServer((c) => {
    conns.add(c);
    c.setNoDelay(true);
    let pending = '';
    c.setEncoding('utf8');
    c.on('data', (chunk) => {
      pending += chunk;
      let nl;
      let out = '';
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        let r;
        try {
          r = doTask(parseTask(line, o.kib));
        } catch (e) {
          r = { id: 0, error: e.message };
        }
        out += encode(r);
      }
      if (out) c.write(out);
      if (pending.length > 1 << 21) c.destroy(); // a line longer than any task: not a client of this protocol
    });
    c.on('error', () => {});
    c.on('close', () => conns.delete(c));
  });
  srv.on('error', (e) => {
    process.stderr.write(`agent: ${e.message}\n`);
    process.exit(1);
  });
  // As PID 1 in a container, node gets no default SIGTERM action: without a handler `docker stop` waits for the kill.
  const stop = () => {
    srv.close();
    for (const c of conns) c.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  srv.listen({ host, port }, () => {
    const a = srv.address();
    const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    process.stdout.write(`listening ${h}:${a.port}\n`);
  });
}

// converse runs conversation mode until SIGTERM/SIGINT or --max-run (exit 0), as the Go agent's converse.
function converse(o) {
  const { Converser, parseDuration } = require('./converse.js');
  if (o.id === '') {
    process.stderr.write(`agent: converse needs --id\n${USAGE}\n`);
    return 2;
  }
  let d;
  try {
    d = { retransmit: parseDuration(o.retransmit), ping: parseDuration(o.ping), dead: parseDuration(o.dead),
      maxRun: parseDuration(o['max-run']) };
  } catch (e) {
    process.stderr.write(`agent: ${e.message}\n${USAGE}\n`);
    return 2;
  }
  const c = new Converser({
    url: o.bus, id: o.id, lab: o.lab, kib: o.kib, retransmitMS: d.retransmit > 0 ? d.retransmit : 500,
    pingMS: d.ping > 0 ? d.ping : 1000, deadMS: d.dead > 0 ? d.dead : 3000,
    work: (seed, kib) => digest(seed, kib),
    out: (line) => fs.writeSync(1, line), // synchronous: a report must survive the exit that may follow
  });
  const stop = () => {
    c.stop();
    process.exit(0);
  };
  process.on('SIGTERM', stop); // as PID 1, node would otherwise ignore docker stop
  process.on('SIGINT', stop);
  setTimeout(stop, d.maxRun).unref();
  c.start();
  return undefined;
}

function main(argv) {
  const mode = argv[0];
  let o;
  try {
    o = parseArgs(argv.slice(1));
  } catch (e) {
    process.stderr.write(`agent: ${e.message}\n${USAGE}\n`);
    return 2;
  }
  switch (mode) {
    case 'once':
      process.on('SIGTERM', () => process.exit(143)); // as PID 1, node would otherwise ignore docker stop
      return once(o);
    case 'serve':
      serve(o);
      return undefined;
    case 'converse':
      return converse(o);
    default:
      process.stderr.write(`agent: unknown mode ${JSON.stringify(mode)}\n${USAGE}\n`);
      return 2;
  }
}

if (require.main === module) {
  const code = main(process.argv.slice(2));
  if (code !== undefined) process.exitCode = code;
}

module.exports = { parseTask, digest, quoteIntegers };
