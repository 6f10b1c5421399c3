#!/usr/bin/env bash
# Runs the kv demo to its end: it must exit 0 and say every RPC kind worked.
set -euo pipefail
out=$(timeout 60 "$1")
echo "$out"
grep -q "demo finished: every RPC kind worked" <<<"$out"
