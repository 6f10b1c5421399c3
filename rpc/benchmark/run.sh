#!/usr/bin/env bash
# The rpc benchmark: each server in turn (corio, plain completion queue,
# callback API) on 127.0.0.1, pinned to CPU 0 (CPUs 0-1 with --threads=2),
# driven by h2load pinned apart, with gRPC framing, 100-byte payloads and 50
# concurrent streams. Every run is bounded in requests. Then server
# streaming (messages/s) and the memory per idle Watch-style stream: the
# server's RSS growth over --idle=N open streams that got one message each.
# Last, the client side: corio's client and a plain CQ client, in turn,
# driving the plain CQ server (unary, 50 in flight), each twice in mirrored
# order by default (--clients="corio cq cq corio"), so that drift over the
# run falls on both; with --callgrind the client
# instructions per call as well (repeatable where timings are not).
#   bash rpc/benchmark/run.sh [--requests=N] [--threads=1|2] [--kinds="corio cq callback"] [--idle=N (0 skips it)]
#     [--clients="corio cq cq corio"] [--callgrind]
set -euo pipefail
cd "$(dirname "$0")/../.."
requests=200000
threads=1
kinds="corio cq callback"
idle=10000
clients="corio cq cq corio"
callgrind=0
for a in "$@"; do
  case "$a" in
    --requests=*) requests=${a#*=} ;;
    --threads=*) threads=${a#*=} ;;
    --kinds=*) kinds=${a#*=} ;;
    --idle=*) idle=${a#*=} ;;
    --clients=*) clients=${a#*=} ;;
    --callgrind) callgrind=1 ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done
bazel build -c opt //rpc/benchmark:server //rpc/benchmark:stream_load //rpc/benchmark:idle_streams //rpc/benchmark:unary_load >/dev/null 2>&1
bin=bazel-bin/rpc/benchmark/server
ncpu=$(nproc)
if [ "$threads" -ge "$ncpu" ]; then server_cpus=0-$((ncpu - 1)); load_cpus=0-$((ncpu - 1)); else server_cpus=0-$((threads - 1)); load_cpus=$threads-$((ncpu - 1)); fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# One gRPC message: uncompressed flag, 4-byte length, then Msg{text: 100 x}.
python3 - "$work/req.bin" <<'PY'
import struct, sys
body = b"\x0a\x64" + b"x" * 100
open(sys.argv[1], "wb").write(b"\x00" + struct.pack(">I", len(body)) + body)
PY
# cpu/call: the server process's user + system CPU time (every thread: the
# callback API's run on gRPC's own) over the measured run, per call; busy:
# that time over the run's wall time (100% of --threads CPUs = saturated).
ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
printf '%-9s %12s %10s %10s %10s %12s %8s\n' server "req/s" "p50" "p99" "failed" "cpu/call" "busy"
for kind in $kinds; do
  taskset -c "$server_cpus" "$bin" --kind="$kind" --threads="$threads" --port=0 >"$work/$kind.out" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$work/$kind.out" 2>/dev/null && break; sleep 0.05; done
  port=$(awk '/listening/ {print $3}' "$work/$kind.out")
  # Warm-up, then the measured run.
  taskset -c "$load_cpus" h2load -n 5000 -c 1 -m 50 -t 1 -d "$work/req.bin" -H 'content-type: application/grpc' \
    -H 'te: trailers' "http://127.0.0.1:$port/corio.rpc.testing.Tester/Unary" >/dev/null 2>&1
  c0=$(cpu_ticks "$pid"); t0=$(date +%s%N)
  taskset -c "$load_cpus" h2load -n "$requests" -c 1 -m 50 -t 1 -d "$work/req.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' --log-file="$work/$kind.log" \
    "http://127.0.0.1:$port/corio.rpc.testing.Tester/Unary" >"$work/$kind.h2load" 2>&1
  c1=$(cpu_ticks "$pid"); t1=$(date +%s%N)
  cpu=$(awk -v c=$((c1 - c0)) -v hz="$ticks" -v n="$requests" 'BEGIN {printf "%.2fus", 1e6 * c / hz / n}')
  busy=$(awk -v c=$((c1 - c0)) -v hz="$ticks" -v ns=$((t1 - t0)) -v th="$threads" \
    'BEGIN {printf "%.0f%%", 100 * (c / hz) / (ns / 1e9) / th}')
  kill -TERM "$pid"; wait "$pid" || true
  rps=$(awk '/^finished in/ {print $4}' "$work/$kind.h2load")
  failed=$(awk '/^requests:/ {print $10}' "$work/$kind.h2load")
  # --log-file: one line per request, "start(us) HTTP-status duration(us)".
  read -r p50 p99 non200 < <(python3 - "$work/$kind.log" <<'PY'
import sys
d = []; bad = 0
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 3:
        d.append(int(f[2]))
        bad += f[1] != "200"
d.sort()
pick = lambda q: d[min(len(d) - 1, int(q * len(d)))] / 1000.0
print("%.2fms %.2fms %d" % (pick(0.50), pick(0.99), bad))
PY
)
  printf '%-9s %12s %10s %10s %10s %12s %8s\n' "$kind" "$rps" "$p50" "$p99" "$((failed + non200))" "$cpu" "$busy"
done
echo
echo "server streaming: 4 streams of 100,000 100-byte messages, gRPC's sync client"
for kind in $kinds; do
  taskset -c "$server_cpus" "$bin" --kind="$kind" --threads="$threads" --port=0 >"$work/$kind.out" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$work/$kind.out" 2>/dev/null && break; sleep 0.05; done
  port=$(awk '/listening/ {print $3}' "$work/$kind.out")
  printf '%-9s ' "$kind"
  taskset -c "$load_cpus" bazel-bin/rpc/benchmark/stream_load --server="127.0.0.1:$port" --streams=4 --messages=100000
  kill -TERM "$pid"; wait "$pid" || true
done
if [ "$idle" -gt 0 ]; then
echo
echo "memory per idle stream: $idle Watch-style streams over 10 connections, one message each, then idle"
for kind in $kinds; do
  taskset -c "$server_cpus" "$bin" --kind="$kind" --threads="$threads" --port=0 >"$work/$kind.out" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$work/$kind.out" 2>/dev/null && break; sleep 0.05; done
  port=$(awk '/listening/ {print $3}' "$work/$kind.out")
  printf '%-9s ' "$kind"
  taskset -c "$load_cpus" bazel-bin/rpc/benchmark/idle_streams --server="127.0.0.1:$port" --server_pid="$pid" \
    --streams="$idle" --channels=10 || true
  kill -TERM "$pid"; wait "$pid" || true
done
fi
echo
echo "client: unary, 50 in flight on one channel, $requests calls, each client in turn against the plain CQ server"
taskset -c "$server_cpus" "$bin" --kind=cq --threads="$threads" --port=0 >"$work/client.out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q listening "$work/client.out" 2>/dev/null && break; sleep 0.05; done
port=$(awk '/listening/ {print $3}' "$work/client.out")
for client in $clients; do
  taskset -c "$load_cpus" bazel-bin/rpc/benchmark/unary_load --client="$client" --server="127.0.0.1:$port" \
    --requests="$requests" --concurrency=50 || true
done
if [ "$callgrind" = 1 ]; then
  # Instructions per call: callgrind totals at 2,000 and 6,000 calls,
  # differenced so that start-up and teardown cancel out.
  for client in corio cq; do
    for n in 2000 6000; do
      valgrind --tool=callgrind --callgrind-out-file="$work/cg.$client.$n" bazel-bin/rpc/benchmark/unary_load \
        --client="$client" --server="127.0.0.1:$port" --requests=$n >/dev/null 2>&1 || true
    done
    a=$(awk '/^totals:/ {print $2}' "$work/cg.$client.2000"); b=$(awk '/^totals:/ {print $2}' "$work/cg.$client.6000")
    echo "$client client: $(( (b - a) / 4000 )) instructions/call (callgrind)"
  done
fi
kill -TERM "$pid"; wait "$pid" || true
