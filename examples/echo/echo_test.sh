#!/bin/bash
# Starts the echo server on a free port, runs the client against it, then
# stops the server with SIGTERM and checks that it shut down cleanly.
#   echo_test.sh SERVER CLIENT [SERVER FLAGS...]
set -u
server=$1
client=$2
shift 2
out=$(mktemp)
"$server" --port=0 --grace=1 "$@" >"$out" 2>&1 &
pid=$!
for _ in $(seq 100); do
  grep -q '^listening on ' "$out" && break
  sleep 0.05
done
addr=$(sed -n 's/^listening on //p' "$out")
port=${addr##*:}
if [ -z "$port" ]; then
  echo "FAIL: the server printed no address" >&2
  cat "$out"
  kill "$pid"
  exit 1
fi
"$client" --port="$port" one two three || { echo "FAIL: client" >&2; kill "$pid"; exit 1; }
kill -TERM "$pid"
wait "$pid"
status=$?
cat "$out"
if [ "$status" -ne 0 ]; then
  echo "FAIL: the server exited with status $status" >&2
  exit 1
fi
grep -q '^stopped: 1 connections served$' "$out" || { echo "FAIL: no clean stop" >&2; exit 1; }
