#!/usr/bin/env python3
"""agentlab's agent in Python: the same task protocol as the Go agent (internal/agent).

  python3 agent.py once [--task JSON] [--kib N]      task from --task or stdin; one JSON result line on stdout
  python3 agent.py serve [--addr HOST:PORT] [--kib N]  first line "listening ADDR", then one JSON task per line in,
                                                      one JSON result per line out, any number per connection

Task {"id":u64,"kib":int,"seed":u64}; the data is a xorshift64 stream seeded from seed, hashed with SHA-256, 1 KiB
at a time (Python's ints are exact: seeds beyond 2^53 need no care here). Only the standard library's json,
hashlib, socket, struct, os, sys, signal, time and threading are used: the image carries a trimmed stdlib.
"""
import hashlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

MAX_KIB = 1 << 20
U64 = (1 << 64) - 1
USAGE = ("usage: agent.py once [--task JSON] [--kib N]   (task from --task or stdin)\n"
         "       agent.py serve [--addr HOST:PORT] [--kib N]")


class BadTask(Exception):
    pass


def _u(obj, name, hi):
    v = obj.get(name)
    if v is None:
        return 0
    if type(v) is not int:  # bool is not int here, nor is 1.0
        raise BadTask(f"bad task: {name} is not an integer")
    if v < 0 or v > hi:
        raise BadTask(f"bad task: {name} {v} out of range")
    return v


def parse_task(text, def_kib):
    """Decode and validate a task; def_kib applies when it names no size (as internal/agent.ParseTask)."""
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadTask(f"bad task: {e}") from None
    if not isinstance(obj, dict):
        raise BadTask("bad task: not a JSON object")
    tid, seed = _u(obj, "id", U64), _u(obj, "seed", U64)
    kib = _u(obj, "kib", MAX_KIB) or def_kib
    return tid, kib, seed


_pack = struct.Struct("<128Q").pack


def digest(seed, kib):
    """internal/agent.Digest: xorshift64 (13, 7, 17) from seed*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019, little-endian
    words, SHA-256 hex."""
    x = (seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & U64
    if x == 0:
        x = 1
    h = hashlib.sha256()
    words = [0] * 128
    for _ in range(kib):
        for j in range(128):
            x ^= (x << 13) & U64
            x ^= x >> 7
            x ^= (x << 17) & U64
            words[j] = x
        h.update(_pack(*words))
    return h.hexdigest()


def do_task(tid, kib, seed):
    start = time.perf_counter_ns()
    s = digest(seed, kib)
    return {"id": tid, "sha256": s, "bytes": kib * 1024, "work_ns": time.perf_counter_ns() - start}


def _read_int(path, prefix=None):
    try:
        with open(path) as f:
            for line in f if prefix else [f.read()]:
                if prefix is None:
                    return int(line.strip())
                if line.startswith(prefix):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def self_memory(r):
    """The own-memory figures `once` reports (as the Go agent's selfMemory)."""
    hwm = _read_int("/proc/self/status", "VmHWM:") * 1024
    if hwm:
        r["peak_rss_bytes"] = hwm
    if os.getpid() == 1:
        for p in ("/sys/fs/cgroup/memory.peak", "/sys/fs/cgroup/memory/memory.max_usage_in_bytes"):
            v = _read_int(p)
            if v > 0:
                r["cgroup_peak_bytes"] = v
                r["cgroup_peak_source"] = "cgroup " + p.rsplit("/", 1)[1]
                break


def parse_args(argv):
    o = {"kib": "64", "task": "", "addr": ":9000"}
    i = 0
    while i < len(argv):
        a, v = argv[i], None
        if "=" in a:
            a, v = a.split("=", 1)
        name = a.lstrip("-")
        if name not in o or name == a:
            raise ValueError(f"unknown flag {argv[i]}")
        if v is None:
            i += 1
            if i >= len(argv):
                raise ValueError(f"flag needs an argument: {a}")
            v = argv[i]
        o[name] = v
        i += 1
    if not o["kib"].isdigit() or int(o["kib"]) > MAX_KIB:
        raise ValueError(f"--kib {o['kib']} out of range 0..{MAX_KIB}")
    o["kib"] = int(o["kib"])
    return o


def once(o):
    text = o["task"]
    if text == "":
        try:
            text = sys.stdin.buffer.read(1 << 20)
        except OSError as e:
            print(f"agent: read task: {e}", file=sys.stderr)
            return 1
    try:
        t = parse_task(text, o["kib"])
    except BadTask as e:
        print(f"agent: {e}", file=sys.stderr)
        return 2
    r = do_task(*t)
    self_memory(r)
    sys.stdout.write(json.dumps(r, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return 0


def _serve_conn(c, def_kib):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = c.makefile("rb")
    try:
        for line in f:
            try:
                r = do_task(*parse_task(line, def_kib))
            except BadTask as e:
                r = {"id": 0, "error": str(e)}
            c.sendall((json.dumps(r, separators=(",", ":")) + "\n").encode())
    except OSError:
        pass
    finally:
        f.close()
        c.close()


def serve(o):
    host, _, port = o["addr"].rpartition(":")
    host = host.strip("[]")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    ln = socket.socket(fam, socket.SOCK_STREAM)
    ln.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        ln.bind((host, int(port)))
        ln.listen(128)
    except (OSError, ValueError) as e:
        print(f"agent: {e}", file=sys.stderr)
        return 1
    h, p = ln.getsockname()[:2]
    if fam == socket.AF_INET6:
        h = f"[{h}]"
    sys.stdout.write(f"listening {h}:{p}\n")
    sys.stdout.flush()
    while True:
        try:
            c, _ = ln.accept()
        except OSError:
            return 0
        threading.Thread(target=_serve_conn, args=(c, o["kib"]), daemon=True).start()


def main(argv):
    # As PID 1 in a container a process gets no default SIGTERM action: exit at once, as `docker stop` expects.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if not argv:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        o = parse_args(argv[1:])
    except ValueError as e:
        print(f"agent: {e}\n{USAGE}", file=sys.stderr)
        return 2
    if argv[0] == "once":
        return once(o)
    if argv[0] == "serve":
        try:
            return serve(o)
        except KeyboardInterrupt:
            return 0
    if argv[0] == "converse":
        print("agent: converse is not implemented in the Python agent", file=sys.stderr)
        return 2
    print(f"agent: unknown mode {argv[0]!r}\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
