#!/bin/bash
# Runs an example program and checks that it ends well: exit status 0 and
# the line its run must print (an extended regex), e.g. its closing summary.
#   smoke_test.sh PROGRAM EXPECTED_REGEX [ARGS...]
set -u
program=$1
expected=$2
shift 2
out=$("$program" "$@" 2>&1)
status=$?
printf '%s\n' "$out"
if [ "$status" -ne 0 ]; then
  echo "FAIL: $program exited with status $status" >&2
  exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq -- "$expected"; then
  echo "FAIL: $program printed no line matching: $expected" >&2
  exit 1
fi
