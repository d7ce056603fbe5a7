#!/usr/bin/env bash
# Runs every cdc-sentinel test on a Debian 12 machine: installs the Debian
# packages it needs, builds, then runs the unit and integration tests with
# CTest (which starts and stops every server the tests use).
#
#   scripts/test.sh                 # all tests
#   CDC_BUILD_DIR=out scripts/test.sh -L unit    # extra args go to ctest
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${CDC_BUILD_DIR:-$repo/build}
jobs=$(nproc 2>/dev/null || echo 2)

"$repo/scripts/deps.sh"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${CDC_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j"$jobs"
cd "$build"
ctest --output-on-failure --timeout 600 "$@"
