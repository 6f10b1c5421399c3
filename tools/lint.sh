#!/usr/bin/env bash
# Formats the tree: clang-format for C++ (style in .clang-format) and
# buildifier for Bazel files (from the npm package @bazel/buildifier).
#   tools/lint.sh          rewrite files in place
#   tools/lint.sh --check  only report files that would change (exit 1 if any)
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
[ "${1:-}" = "--check" ] && check=1

BUILDIFIER_DIR="${BUILDIFIER_DIR:-$HOME/.cache/corio-buildifier}"
if [ ! -x "$BUILDIFIER_DIR/node_modules/.bin/buildifier" ]; then
  mkdir -p "$BUILDIFIER_DIR"
  (cd "$BUILDIFIER_DIR" && npm install --silent --no-audit --no-fund @bazel/buildifier >/dev/null)
fi
buildifier="$BUILDIFIER_DIR/node_modules/.bin/buildifier"

mapfile -t bazel_files < <(git ls-files 'WORKSPACE' '*BUILD' '*.bzl' '*.bazel')
mapfile -t cc_files < <(git ls-files '*.h' '*.cc')
status=0
if [ "$check" -eq 1 ]; then
  "$buildifier" --mode=check "${bazel_files[@]}" || status=1
  for f in "${cc_files[@]}"; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then echo "not formatted: $f"; status=1; fi
  done
else
  "$buildifier" "${bazel_files[@]}"
  clang-format -i "${cc_files[@]}"
fi
exit $status
