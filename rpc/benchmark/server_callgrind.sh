#!/usr/bin/env bash
# Server instructions per call, counted by callgrind (repeatable where
# timings on a shared machine are not): the benchmark server of each kind
# runs under callgrind while the plain CQ load client makes N1, then N2
# unary calls (and the sync stream client N1, then N2 server-streaming
# messages); the totals are differenced, so start-up and teardown cancel
# out.
#   bash rpc/benchmark/server_callgrind.sh [--kinds="corio cq"] [--n1=2000] [--n2=6000] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/../.."
kinds="corio cq"
n1=2000
n2=6000
build=1
for a in "$@"; do
  case "$a" in
    --kinds=*) kinds=${a#*=} ;;
    --n1=*) n1=${a#*=} ;;
    --n2=*) n2=${a#*=} ;;
    --no-build) build=0 ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done
if [ "$build" = 1 ]; then
  bazel build -c opt //rpc/benchmark:server //rpc/benchmark:stream_load //rpc/benchmark:unary_load >/dev/null 2>&1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Copies: a build of another configuration meanwhile repoints bazel-bin.
bin=$work/bin
mkdir "$bin"
cp "$(bazel info -c opt bazel-bin 2>/dev/null)"/rpc/benchmark/{server,stream_load,unary_load} "$bin/"
# count KIND WHAT N: the server's callgrind total over N calls (WHAT: unary
# or stream).
count() {
  local out="$work/cg.$1.$2.$3" log="$work/$1.$2.$3.out"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin/server" --kind="$1" --port=0 >"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 600); do grep -q listening "$log" 2>/dev/null && break; sleep 0.1; done
  local port
  port=$(awk '/listening/ {print $3}' "$log")
  if [ "$2" = unary ]; then
    "$bin/unary_load" --client=cq --server="127.0.0.1:$port" --requests="$3" --concurrency=50 >/dev/null 2>&1
  else
    "$bin/stream_load" --server="127.0.0.1:$port" --streams=1 --messages="$3" >/dev/null 2>&1
  fi
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || true
  awk '/^totals:/ {print $2}' "$out"
}
printf '%-8s %18s %22s\n' server "unary instr/call" "stream instr/message"
for kind in $kinds; do
  u1=$(count "$kind" unary "$n1"); u2=$(count "$kind" unary "$n2")
  s1=$(count "$kind" stream "$((n1 * 10))"); s2=$(count "$kind" stream "$((n2 * 10))")
  printf '%-8s %18d %22d\n' "$kind" $(((u2 - u1) / (n2 - n1))) $(((s2 - s1) / ((n2 - n1) * 10)))
done
