#!/usr/bin/env bash
# Installs every Debian 12 package corio's build, tests and benchmarks need.
# Idempotent: when everything is present it does nothing (no apt-get update).
# Run as root, or with sudo available.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap
  g++
  clang
  libabsl-dev
  libgrpc++-dev
  protobuf-compiler
  protobuf-compiler-grpc
  grpc-proto
  libprotobuf-dev
  libgtest-dev
  libgmock-dev
  libbenchmark-dev
  liburing-dev
  libboost1.81-dev
  python3-grpcio
  nghttp2-client
  wrk
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "tools/setup.sh: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
