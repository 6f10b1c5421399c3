#!/usr/bin/env bash
# Repeatable per-call counts of the unary benchmark's servers, for when
# timings are too noisy to compare (a shared 2-core VM): each server in
# turn (one loop thread), driven by h2load (100-byte payloads, 50 streams):
#   - user-space instructions, mallocs and AsyncNext calls per call
#     (callgrind over 2,000 and 6,000 calls, differenced so that start-up
#     and shutdown cancel out; gRPC now and then hands a batch of its own
#     work to its executor thread, which moves up to ~2,000 instructions a
#     call between runs: compare several runs before trusting a gap that
#     small);
#   - user-space instructions, mallocs and AsyncNext calls per
#     server-streamed message (callgrind while the sync stream client reads
#     20,000, then 60,000 messages);
#   - system calls per call (strace -f -c over --requests calls);
#   - context switches per call, voluntary (a thread blocked: futex, epoll)
#     and involuntary (preempted: mostly other load on the machine), every
#     thread of the server, from /proc over --requests calls.
# With --cache, also cache misses per call (cachegrind's simulation of
# this machine's caches over 2,000 and 6,000 calls, differenced): level-1
# instruction and data misses, of the whole process and of the server's
# own code (functions in namespace corio, less the generated messages).
# gRPC's per-call code and data are far larger than the level-1 caches, so
# each call runs the server's own code and touches its own objects cold:
# these misses are what the instruction counts leave out.
# Then the client side: instructions, mallocs and AsyncNext calls per call
# of corio's client and a plain CQ client (unary_load, 50 in flight on one
# channel, callgrind over 2,000 and 6,000 calls, differenced) against the
# plain CQ server.
#   bash rpc/benchmark/counts.sh [--kinds="corio cq"] [--requests=N] [--no-callgrind] [--cache] [--bin=PATH]
# --bin: a server binary built before (say from another commit, to compare
# against) instead of building this tree's.
set -euo pipefail
cd "$(dirname "$0")/../.."
kinds="corio cq"
requests=20000
callgrind=1
cache=0
bin=
for a in "$@"; do
  case "$a" in
    --kinds=*) kinds=${a#*=} ;;
    --requests=*) requests=${a#*=} ;;
    --no-callgrind) callgrind=0 ;;
    --cache) cache=1 ;;
    --bin=*) bin=${a#*=} ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done
for tool in h2load strace; do command -v $tool >/dev/null || { echo "needs $tool" >&2; exit 2; }; done
[ "$callgrind" = 0 ] || command -v valgrind >/dev/null || { echo "needs valgrind (or --no-callgrind)" >&2; exit 2; }
bazel build -c opt //rpc/benchmark:server //rpc/benchmark:stream_load //rpc/benchmark:unary_load >/dev/null 2>&1
work=$(mktemp -d)
# Copies: a build of another configuration meanwhile repoints bazel-bin.
cp bazel-bin/rpc/benchmark/stream_load bazel-bin/rpc/benchmark/unary_load "$work/"
stream_load=$work/stream_load
unary_load=$work/unary_load
if [ -z "$bin" ]; then
  cp bazel-bin/rpc/benchmark/server "$work/"
  bin=$work/server
fi
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
python3 - "$work/req.bin" <<'PY'
import struct, sys
body = b"\x0a\x64" + b"x" * 100
open(sys.argv[1], "wb").write(b"\x00" + struct.pack(">I", len(body)) + body)
PY
# start KIND [wrapper...]: starts a server (under the wrapper), sets $pid and $port.
start() {
  local kind=$1
  shift
  "$@" "$bin" --kind="$kind" --threads=1 --port=0 >"$work/out" 2>&1 &
  pid=$!
  pids+=("$pid")
  port=
  for _ in $(seq 1800); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
  port=$(awk '/listening/ {print $3}' "$work/out")
  [ -n "$port" ] || { echo "server $kind did not start within three minutes" >&2; cat "$work/out" >&2; exit 1; }
}
load() {
  h2load -n "$1" -c 1 -m 50 -t 1 -d "$work/req.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$port/corio.rpc.testing.Tester/Unary" >"$work/h2" 2>&1
  grep -q "$1 succeeded" "$work/h2" || { echo "h2load: not every call succeeded" >&2; cat "$work/h2" >&2; exit 1; }
}
stop() {
  kill -TERM "$pid"
  wait "$pid" || true
}
# Total instructions and calls of a few functions in a callgrind profile.
cgsum() {
  python3 - "$1" <<'PY'
import re, sys
names, cfn, total = {}, None, 0
want = {"malloc": 0, "grpc::CompletionQueue::AsyncNextInternal(void**, bool*, gpr_timespec)": 0}
for line in open(sys.argv[1], errors="replace"):
    if line.startswith(("fn=", "cfn=")):
        m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.strip())
        if m and m.group(2):
            names[m.group(1)] = m.group(2)
        if line.startswith("cfn=") and m:
            cfn = names.get(m.group(1))
    elif line.startswith("calls=") and cfn in want:
        want[cfn] += int(line.split("=")[1].split()[0])
    elif line.startswith(("totals:", "summary:")):
        total = int(line.split()[1])
print(total, *want.values())
PY
}
printf '%-9s %12s %12s %12s %12s %12s %12s %12s %12s %12s\n' server "instr/call" "malloc/call" "AsyncNext" "syscalls" \
  "vol-cs/call" "invol-cs" "instr/msg" "malloc/msg" "AsyncNext/msg"
for kind in $kinds; do
  ir=- mallocs=- nexts=- sir=- smallocs=- snexts=-
  if [ "$callgrind" = 1 ]; then
    for n in 2000 6000; do
      start "$kind" valgrind --tool=callgrind --callgrind-out-file="$work/cg.$n"
      load "$n"
      stop
      read -r "t$n" "m$n" "a$n" < <(cgsum "$work/cg.$n")
    done
    ir=$(( (t6000 - t2000) / 4000 ))
    mallocs=$(python3 -c "print('%.2f' % (($m6000 - $m2000) / 4000))")
    nexts=$(python3 -c "print('%.2f' % (($a6000 - $a2000) / 4000))")
    for n in 20000 60000; do
      start "$kind" valgrind --tool=callgrind --callgrind-out-file="$work/cg.s$n"
      "$stream_load" --server="127.0.0.1:$port" --streams=1 --messages="$n" >/dev/null 2>&1
      stop
      read -r "s$n" "sm$n" "sa$n" < <(cgsum "$work/cg.s$n")
    done
    sir=$(( (s60000 - s20000) / 40000 ))
    smallocs=$(python3 -c "print('%.2f' % (($sm60000 - $sm20000) / 40000))")
    snexts=$(python3 -c "print('%.2f' % (($sa60000 - $sa20000) / 40000))")
  fi
  # System calls: strace attached after a warm-up, detached after the run.
  start "$kind"
  load 2000
  strace -f -c -p "$pid" -o "$work/strace" 2>/dev/null &
  spid=$!
  sleep 1
  load "$requests"
  kill -INT "$spid"
  wait "$spid" || true
  syscalls=$(awk -v n="$requests" '$NF == "total" {printf "%.3f", $(NF-2) / n}' "$work/strace")
  # Context switches of every thread over a run.
  switches() { cat /proc/"$pid"/task/*/status | awk '/^voluntary_ctxt/ {v += $2} /^nonvoluntary_ctxt/ {n += $2} END {print v, n}'; }
  read -r v0 n0 < <(switches)
  load "$requests"
  read -r v1 n1 < <(switches)
  stop
  vcs=$(python3 -c "print('%.4f' % (($v1 - $v0) / $requests))")
  ncs=$(python3 -c "print('%.4f' % (($n1 - $n0) / $requests))")
  printf '%-9s %12s %12s %12s %12s %12s %12s %12s %12s %12s\n' "$kind" "$ir" "$mallocs" "$nexts" "$syscalls" "$vcs" "$ncs" \
    "$sir" "$smallocs" "$snexts"
done
if [ "$cache" = 1 ]; then
  # Misses per call from two cachegrind profiles: the whole process, then
  # the server's own functions.
  cachesum() {
    python3 - "$1" "$2" <<'PY'
import collections, sys
def read(path):
    events, fn, per = None, None, collections.defaultdict(lambda: None)
    for line in open(path, errors="replace"):
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("fn="):
            fn = line[3:].strip()
        elif line[:1].isdigit() and fn is not None:
            v = [int(x) for x in line.split()[1:]]
            acc = per[fn] or [0] * len(events)
            per[fn] = [a + b for a, b in zip(acc, v + [0] * (len(events) - len(v)))]
    return events, per
ev, a = read(sys.argv[1])
_, b = read(sys.argv[2])
i = {e: k for k, e in enumerate(ev)}
tot = collections.Counter()
for fn in set(a) | set(b):
    va, vb = a.get(fn) or [0] * len(ev), b.get(fn) or [0] * len(ev)
    d = [(y - x) / 4000 for x, y in zip(va, vb)]
    own = fn.startswith("corio::") and not fn.startswith("corio::rpc::testing::")
    for k in ("I1mr", "D1mr", "D1mw"):
        tot[k] += d[i[k]]
        if own:
            tot["own" + k] += d[i[k]]
print("%.1f %.1f %.1f %.1f" % (tot["I1mr"], tot["D1mr"] + tot["D1mw"], tot["ownI1mr"], tot["ownD1mr"] + tot["ownD1mw"]))
PY
  }
  echo
  echo "cache misses per unary call (cachegrind)"
  printf '%-9s %12s %12s %12s %12s\n' server "I1 miss" "D1 miss" "own I1" "own D1"
  for kind in $kinds; do
    for n in 2000 6000; do
      start "$kind" valgrind --tool=cachegrind --cache-sim=yes --cachegrind-out-file="$work/cache.$n"
      load "$n"
      stop
    done
    printf '%-9s %12s %12s %12s %12s\n' "$kind" $(cachesum "$work/cache.2000" "$work/cache.6000")
  done
fi
[ "$callgrind" = 1 ] || exit 0
echo
echo "client: unary, 50 in flight on one channel, against the plain CQ server"
printf '%-9s %12s %12s %12s\n' client "instr/call" "malloc/call" "AsyncNext"
start cq
for client in corio cq; do
  for n in 2000 6000; do
    valgrind --tool=callgrind --callgrind-out-file="$work/cgc.$n" "$unary_load" --client="$client" \
      --server="127.0.0.1:$port" --requests=$n --concurrency=50 >/dev/null 2>&1 || { echo "unary_load $client failed" >&2; exit 1; }
    read -r "c$n" "cm$n" "ca$n" < <(cgsum "$work/cgc.$n")
  done
  printf '%-9s %12s %12s %12s\n' "$client" $(( (c6000 - c2000) / 4000 )) \
    "$(python3 -c "print('%.2f' % (($cm6000 - $cm2000) / 4000))")" "$(python3 -c "print('%.2f' % (($ca6000 - $ca2000) / 4000))")"
done
stop
