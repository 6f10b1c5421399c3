#!/usr/bin/env bash
# An independent client for the kv server: Python's grpcio (Debian's
# python3-grpcio) runs kv_python_client.py against the kv server binary.
# Starts the server on a free port, runs the client, then shuts the server
# down with SIGTERM and checks that it stopped gracefully with status 0.
# Every wait is bounded.
# Args: the kv server binary, the client script, the generated kv_pb2.py.
set -euo pipefail
server="$1"
client="$2"
pb2="$3"
log="${TEST_TMPDIR:-$(mktemp -d)}/kv_server.log"

"$server" --port=0 --grace_ms=1000 >"$log" 2>&1 &
pid=$!
trap 'kill -KILL "$pid" 2>/dev/null || true' EXIT

port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/^kv server listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$log")
  [ -n "$port" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "kv server exited before listening:"; cat "$log"; exit 1
  fi
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "kv server did not print its port within 10 s:"; cat "$log"; exit 1
fi
echo "kv server on port $port"

PYTHONPATH="$(dirname "$pb2")" timeout 60 /usr/bin/python3 "$client" "127.0.0.1:$port"

kill -TERM "$pid"
# Until it has exited (a zombie of this shell's) or 10 s have passed.
exited=""
for _ in $(seq 1 100); do
  state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$pid/stat" 2>/dev/null || echo gone)
  if [ "$state" = Z ] || [ "$state" = gone ]; then exited=1; break; fi
  sleep 0.1
done
if [ -z "$exited" ]; then
  echo "kv server still running 10 s after SIGTERM:"; cat "$log"; exit 1
fi
rc=0
wait "$pid" || rc=$?
cat "$log"
if [ "$rc" -ne 0 ]; then echo "kv server exited with status $rc"; exit 1; fi
grep -q '^stopped$' "$log" || { echo "kv server did not report a graceful stop"; exit 1; }
echo "kv server stopped gracefully"
