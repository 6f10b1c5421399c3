#!/usr/bin/env bash
# The echo benchmark (see BUILD): each server alone on 127.0.0.1, pinned to
# CPU 0, the load client pinned to CPU 1; 50 connections; 64 B and 1 KiB
# messages. Then the figures noise does not move: user-space instructions
# per round trip (callgrind, startup subtracted) and system calls per round
# trip (strace -c -f, startup subtracted too), over a fixed number of
# round trips.
# "Several cores": corio's MultiLoopServer (echo_corio --loops=N) with 1
# and with 2 loops sharing the port, the same load, nothing pinned (the
# client shares the machine's cores with the server's loops).
#   bash net/benchmark/run.sh [--round_trips=N] [--servers="corio epoll asio"] [--no-counts]
#                             [--no-scaling] [--only-scaling]
#                             [--no-memory] [--idle_connections=N]
#                             [--clients="level edge uring uring_poll"] [--client_flags=--detail]
# The timed part runs every server with the load client in each of its
# modes: level-triggered (its sockets in level-triggered epoll, as in every
# run before), edge-triggered (--edge_triggered: replies read in the
# order they came; the level-triggered client's own order makes the p99
# of a server faster than the client, see docs/benchmarks.md, echo section) and
# io_uring (--uring: one recv outstanding per connection, completions in
# arrival order, one io_uring_enter per batch; cheap enough per round trip
# that the turns wait in the server rather than in the client, so the
# server's own order decides its tail) and io_uring busy-polling
# (uring_poll: --uring --busy_poll, the client never sleeps, so no reply
# has to wake it).
# --clients picks one; --client_flags adds flags (--detail: see
# echo_load.cc). A server may be given as epoll@ORDER to run echo_epoll
# with that batch order (echo_epoll.c lists them).
# The last part is memory per idle connection: the idle_* servers (corio's
# start_server, and Asio) each take --idle_connections (10,000) connections
# from idle_load, in another process; each makes one exchange and then
# waits in readline. The server's VmRSS growth divided by the count.
# ONLY_COUNTS=1 skips the timed part. RT=1 runs the timed part's server and
# client SCHED_FIFO (chrt -f 10), so that other work on the machine (builds)
# does not preempt them: their figures then move much less between runs. Instructions are callgrind's
# "totals:" line (the file's "summary:" line repeats it: counting both, as
# this script once did, doubled every figure).
set -euo pipefail
cd "$(dirname "$0")/../.."
round_trips=200000
servers="corio epoll asio"
counts=1
scaling=1
only_scaling=0
memory=1
idle=10000
client_flags=""
clients="level edge uring uring_poll"
for a in "$@"; do
  case "$a" in
    --round_trips=*) round_trips=${a#*=} ;;
    --servers=*) servers=${a#*=} ;;
    --no-counts) counts=0 ;;
    --no-scaling) scaling=0 ;;
    --only-scaling) only_scaling=1 ;;
    --no-memory) memory=0 ;;
    --idle_connections=*) idle=${a#*=} ;;
    --client_flags=*) client_flags=${a#*=} ;;
    --clients=*) clients=${a#*=} ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done
# BIN_DIR=dir runs the binaries found there instead (to compare builds).
if [ -z "${BIN_DIR:-}" ]; then
  bazel build -c opt //net/benchmark:echo_corio //net/benchmark:echo_epoll //net/benchmark:echo_asio \
    //net/benchmark:echo_load //net/benchmark:idle_corio //net/benchmark:idle_asio //net/benchmark:idle_load \
    >/dev/null 2>&1
fi
bin=${BIN_DIR:-bazel-bin/net/benchmark}
# server_cmd NAME[@ORDER]: the server's command line (echo_epoll takes the
# port, 0, then the order).
server_cmd() {
  case "$1" in
    *@*) echo "$bin/echo_${1%%@*} 0 ${1#*@}" ;;
    *) echo "$bin/echo_$1" ;;
  esac
}
rt=()
[ "${RT:-0}" = 1 ] && rt=(chrt -f 10)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# start WRAPPER... SERVER: starts it, sets $pid and $port.
start() {
  # Removed first: a grep between the last server's stop and this one's
  # truncating the file could read the last server's "listening" line.
  rm -f "$work/out"
  "$@" >"$work/out" 2>&1 &
  pid=$!
  for _ in $(seq 2400); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.05; done
  port=$(awk '/listening/ {print $3}' "$work/out")
  if [ -z "$port" ]; then
    echo "$* did not start listening within 120 s:" >&2
    cat "$work/out" >&2
    exit 1
  fi
}
stop() {
  pkill -TERM -P "$pid" 2>/dev/null || true  # the server itself when it runs under strace
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

if [ "$only_scaling" = 0 ] && [ "${ONLY_COUNTS:-0}" = 0 ] && [ "${ONLY_MEMORY:-0}" = 0 ]; then echo "round trips/s, 50 connections, server on CPU 0, client on CPU 1"
echo "(client level: echo_load's sockets level-triggered, as in every run before; edge: --edge_triggered, replies"
echo " read in the order they came; uring: --uring, io_uring with completions in arrival order, one system call a"
echo " batch, so the turns wait in the server; uring_poll: the same, busy-polling. See docs/benchmarks.md, echo section,"
echo " for why p99 differs.)"
for size in 64 1024; do
  for client in $clients; do
    edge_flag=""
    [ "$client" = edge ] && edge_flag=--edge_triggered
    [ "$client" = uring ] && edge_flag=--uring
    [ "$client" = uring_poll ] && edge_flag="--uring --busy_poll"
    for s in $servers; do
      # shellcheck disable=SC2046  # the command's words
      start taskset -c 0 "${rt[@]}" $(server_cmd "$s")
      printf '%-6s %5s B  client %-10s  ' "$s" "$size" "$client"
      # shellcheck disable=SC2086  # the flags' words
      taskset -c 1 "${rt[@]}" "$bin/echo_load" --port="$port" --connections=50 --size="$size" --round_trips="$round_trips" \
        $edge_flag $client_flags
      stop
    done
  done
done
fi

if [ "$scaling" = 1 ] && [ "${ONLY_COUNTS:-0}" = 0 ] && [ "${ONLY_MEMORY:-0}" = 0 ]; then
  echo
  echo "several cores: MultiLoopServer, 1 loop vs 2 loops on one port (SO_REUSEPORT), 50 connections, $(nproc) CPUs shared with the client"
  echo "(cpu: user+system CPU time per round trip of the server and of the client, from /proc and time)"
  tck=$(getconf CLK_TCK)
  cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
  for size in 64 1024; do
    for loops in 1 2; do
      start "$bin/echo_corio" --loops="$loops"
      printf 'corio --loops=%d %5s B  ' "$loops" "$size"
      t0=$(cpu_ticks "$pid")
      /usr/bin/time -f '%U %S' -o "$work/client_cpu" \
        "$bin/echo_load" --port="$port" --connections=50 --size="$size" --round_trips="$round_trips" | tr -d '\n'
      t1=$(cpu_ticks "$pid")
      stop
      awk -v a="$t0" -v b="$t1" -v hz="$tck" -v n="$round_trips" '{
        printf "  cpu: server %.2f us, client %.2f us\n", (b - a) / hz * 1e6 / n, ($1 + $2) * 1e6 / n }' "$work/client_cpu"
    done
  done
fi
[ "$only_scaling" = 0 ] || exit 0
if [ "$counts" = 1 ] && [ "${ONLY_MEMORY:-0}" = 0 ]; then

echo
echo "per round trip, 64 B, 50 connections, 20,000 round trips (startup subtracted)"
n=20000
for s in $servers; do
  # Instructions: a run with no load, then one with n round trips.
  irs=()
  for k in 0 "$n"; do
    rm -f "$work"/cg.*
    # shellcheck disable=SC2046
    start valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" $(server_cmd "$s")
    if [ "$k" -gt 0 ]; then "$bin/echo_load" --port="$port" --connections=50 --size=64 --round_trips="$k" >/dev/null; fi
    stop
    sleep 1
    irs+=("$(cat "$work"/cg.* | awk '/^totals:/ {s += $2} END {print s}')")
  done
  # System calls: a run with no load, then one with n round trips, as for
  # instructions (the servers' startup differs: shared libraries, flags).
  # What is left besides the round trips is the 50 connections' accept,
  # setsockopt, epoll_ctl and close.
  syss=()
  for k in 0 "$n"; do
    # shellcheck disable=SC2046
    start strace -c -f -o "$work/strace" $(server_cmd "$s")
    if [ "$k" -gt 0 ]; then "$bin/echo_load" --port="$port" --connections=50 --size=64 --round_trips="$k" >/dev/null; fi
    stop
    syss+=("$(awk '$NF == "total" {print $(NF-2)}' "$work/strace")")
  done
  awk -v s="$s" -v a="${irs[0]}" -v b="${irs[1]}" -v c0="${syss[0]}" -v c="${syss[1]}" -v n="$n" \
    'BEGIN {printf "%-6s %8.0f instructions  %6.3f syscalls\n", s, (b - a) / n, (c - c0) / n}'
done
fi

[ "$memory" = 1 ] && [ "${ONLY_COUNTS:-0}" = 0 ] || exit 0
echo
echo "memory per idle connection, $idle connections (one exchange each, then waiting in readline)"
for s in corio asio; do
  start "$bin/idle_$s"
  before=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  # The client holds its connections until its stdin (a fifo we hold) closes.
  mkfifo "$work/hold"
  "$bin/idle_load" --port="$port" --connections="$idle" <"$work/hold" >"$work/client" 2>&1 &
  cpid=$!
  exec 9>"$work/hold"
  for _ in $(seq 1200); do grep -q ready "$work/client" && break; sleep 0.05; done
  if ! grep -q ready "$work/client"; then
    echo "idle_load did not get its connections up:" >&2
    cat "$work/client" >&2
  fi
  sleep 0.5
  after=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  exec 9>&-
  wait "$cpid" || true
  rm -f "$work/hold"
  stop
  awk -v s="$s" -v a="$before" -v b="$after" -v n="$idle" \
    'BEGIN {printf "%-6s VmRSS %6d KiB -> %7d KiB  %6.0f bytes per idle connection\n", s, a, b, (b - a) * 1024 / n}'
done
