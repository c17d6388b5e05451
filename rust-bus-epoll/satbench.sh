#!/usr/bin/env bash
# Saturation figures of bus binaries on this host, in one interleaved run: each bus runs pinned to CPU 0, the real
# load generator (cmd/loadgen, bus-load's closed model: targeted, --window 32, --inflight 3000) pinned to CPU 1,
# as bus-load and gobus's BenchmarkSaturation place them. Per run it prints deliveries per bus CPU-second: the
# growth of bus_deliveries_total over the generator's whole run divided by the bus's user+system CPU over the
# same span (/proc/PID/stat), so ramp-up and warm-up are inside both figures, for every bus alike.
#
#   satbench.sh AGENTS REPEATS NAME=CMD...     e.g.  satbench.sh 100 3 'go-netpoll=/tmp/gobus --transport=netpoll'
#
# LOADGEN (default /tmp/rb-loadgen: go build -o /tmp/rb-loadgen ./cmd/loadgen), PORT (default 18080),
# DURATION (default 3s). Output: one "bus=NAME agents=N rep=R deliveries=D cpu_s=C per_cpu_s=P deliv_per_write=…
# deliv_per_read=…" line per run (the bus's read/write syscalls from /proc/PID/io; a Go bus's runtime adds some).
set -euo pipefail
agents="$1"; reps="$2"; shift 2
LOADGEN="${LOADGEN:-/tmp/rb-loadgen}"
PORT="${PORT:-18080}"
DURATION="${DURATION:-3s}"
tick=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
io() { awk -v k="$2" '$1==k":"{print $2}' "/proc/$1/io"; }
delivered() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^bus_deliveries_total/{s+=$2} END{printf "%d", s}'; }
for rep in $(seq 1 "$reps"); do
	for spec in "$@"; do
		name="${spec%%=*}"; cmd="${spec#*=}"
		# shellcheck disable=SC2086
		taskset -c 0 $cmd --addr "127.0.0.1:$PORT" >/tmp/satbench-bus.log 2>&1 &
		pid=$!
		for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.05; done
		d0=$(delivered); c0=$(cpu_ticks "$pid"); w0=$(io "$pid" syscw); r0=$(io "$pid" syscr)
		taskset -c 1 "$LOADGEN" --url "ws://127.0.0.1:$PORT/ws" --agents "$agents" --model closed --window 32 \
			--inflight 3000 --pattern targeted --duration "$DURATION" --warmup 1s --hold 200ms \
			--connect-rate 5000 --cpus 1 >/tmp/satbench-gen.json 2>/tmp/satbench-gen.log || echo "loadgen failed: $(tail -1 /tmp/satbench-gen.log)"
		c1=$(cpu_ticks "$pid"); w1=$(io "$pid" syscw); r1=$(io "$pid" syscr); d1=$(delivered)
		kill -TERM "$pid"; wait "$pid" || true
		awk -v n="$name" -v a="$agents" -v r="$rep" -v d=$((d1 - d0)) -v c=$((c1 - c0)) -v t="$tick" \
			-v w=$((w1 - w0)) -v rd=$((r1 - r0)) \
			'BEGIN{printf "bus=%s agents=%d rep=%d deliveries=%d cpu_s=%.2f per_cpu_s=%.0f deliv_per_write=%.2f deliv_per_read=%.2f\n", n, a, r, d, c/t, (c>0? d/(c/t):0), (w>0? d/w:0), (rd>0? d/rd:0)}'
	done
done
