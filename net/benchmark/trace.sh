#!/usr/bin/env bash
# The echo p99 study: runs each server, as run.sh does (server on CPU 0,
# client on CPU 1, 50 connections), with it and echo_load under
# io_trace.so, then io_trace.py splits every round trip's latency into the
# time in the server (its ready list, its batch) and in the client.
#   bash net/benchmark/trace.sh [--round_trips=30000] [--size=1024]
#        [--servers="corio epoll asio"] [--client_flags=...] [--pattern=N]
# A server may be epoll@ORDER (see echo_epoll.c). RT=1 runs both processes
# SCHED_FIFO (chrt -f 10), which keeps other work on the machine from
# preempting them: the figures then move less from run to run.
# --client_flags=--uring (echo_load's io_uring mode, whose sends and recvs
# io_trace.so cannot see) runs the client without the shim and has it
# write the same records itself (--trace_out).
set -euo pipefail
cd "$(dirname "$0")/../.."
round_trips=30000
size=1024
servers="corio epoll asio"
client_flags=""
pattern=0
for a in "$@"; do
  case "$a" in
    --round_trips=*) round_trips=${a#*=} ;;
    --size=*) size=${a#*=} ;;
    --servers=*) servers=${a#*=} ;;
    --client_flags=*) client_flags=${a#*=} ;;
    --pattern=*) pattern=${a#*=} ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done
if [ -z "${BIN_DIR:-}" ]; then
  bazel build -c opt //net/benchmark:echo_corio //net/benchmark:echo_epoll //net/benchmark:echo_asio \
    //net/benchmark:echo_load //net/benchmark:io_trace.so >/dev/null 2>&1
fi
bin=${BIN_DIR:-bazel-bin/net/benchmark}
shim=$(realpath "${SHIM:-bazel-bin/net/benchmark/io_trace.so}")
rt=()
[ "${RT:-0}" = 1 ] && rt=(chrt -f 10)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for s in $servers; do
  case "$s" in
    *@*) cmd=("$bin/echo_${s%%@*}" 0 "${s#*@}") ;;
    *) cmd=("$bin/echo_$s") ;;
  esac
  rm -f "$work"/*
  IO_TRACE_OUT="$work/server" LD_PRELOAD="$shim" taskset -c 0 "${rt[@]}" "${cmd[@]}" >"$work/out" 2>&1 &
  pid=$!
  for _ in $(seq 2400); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.05; done
  port=$(awk '/listening/ {print $3}' "$work/out")
  echo "== $s, $size B"
  client_env=(env IO_TRACE_OUT="$work/client" LD_PRELOAD="$shim")
  trace_flag=""
  case " $client_flags " in
    *" --uring "*) client_env=(env) trace_flag="--trace_out=$work/client.uring" ;;
  esac
  # shellcheck disable=SC2086  # the flags' words
  "${client_env[@]}" taskset -c 1 "${rt[@]}" "$bin/echo_load" --port="$port" \
    --connections=50 --size="$size" --round_trips="$round_trips" --detail $client_flags $trace_flag
  kill -TERM "$pid"
  wait "$pid" || true
  python3 net/benchmark/io_trace.py "$work"/server.* "$work"/client.* --pattern="$pattern"
done
