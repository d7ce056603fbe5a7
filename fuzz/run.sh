#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in their own build
# directory and fuzzes each for SECONDS (default 30) on its seed corpus.
#
#   fuzz/run.sh [SECONDS]           build, then fuzz every target
#   fuzz/run.sh --regress BIN_DIR   run every target once over its seed
#                                   corpus (-runs=0), no fuzzing: what the
#                                   CTest test fuzz_smoke does
#
# Environment: CDC_FUZZ_BUILD_DIR (default build-fuzz), CDC_FUZZ_TARGETS
# (default all four), CDC_FUZZ_JOBS (parallel fuzzing jobs per target,
# default 1). New inputs go to BUILD/fuzz-corpus/<target>, crashes to
# BUILD/fuzz-artifacts/. The committed corpus is never written to: copy an
# interesting input into fuzz/corpus/<target>/ by hand.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
read -r -a TARGETS <<<"${CDC_FUZZ_TARGETS:-connect_status_fuzzer records_fuzzer config_fuzzer web_config_fuzzer}"

# The seed directories of a target.
seeds() {
  case $1 in
    config_fuzzer)
      echo "$HERE/corpus/config_fuzzer $ROOT/config/testdata/good $ROOT/config/testdata/bad $ROOT/config/examples" ;;
    *) echo "$HERE/corpus/$1" ;;
  esac
}

dict() {
  case $1 in
    config_fuzzer) echo "-dict=$HERE/config.dict" ;;
    web_config_fuzzer) echo "-dict=$HERE/web_config.dict" ;;
  esac
}

if [ "${1:-}" = "--regress" ]; then
  BIN=$(cd "${2:?usage: fuzz/run.sh --regress BIN_DIR}" && pwd)
  status=0
  for t in "${TARGETS[@]}"; do
    # shellcheck disable=SC2046
    if ! "$BIN/$t" -runs=0 -timeout=30 -rss_limit_mb=2048 -artifact_prefix="$BIN/$t-" \
        $(seeds "$t") >"$BIN/$t.regress.log" 2>&1; then
      echo "fuzz regress: $t FAILED (log: $BIN/$t.regress.log)" >&2
      tail -40 "$BIN/$t.regress.log" >&2
      status=1
    else
      echo "fuzz regress: $t ok ($(grep -oE 'Done [0-9]+ runs' "$BIN/$t.regress.log" | tail -1))"
    fi
  done
  exit $status
fi

SECS=${1:-30}
BUILD=${CDC_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
JOBS=${CDC_FUZZ_JOBS:-1}
command -v clang++ >/dev/null || { echo "fuzz: clang++ not found (Debian package clang)" >&2; exit 2; }
CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD" -DCDC_FUZZ=ON \
  -DCDC_BUILD_SANDBOX=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" --target "${TARGETS[@]}" -j"$(nproc)"

status=0
for t in "${TARGETS[@]}"; do
  work="$BUILD/fuzz-corpus/$t"
  mkdir -p "$work" "$BUILD/fuzz-artifacts"
  echo "fuzz: $t for ${SECS}s" >&2
  # shellcheck disable=SC2046
  if ! "$BUILD/fuzz/$t" -max_total_time="$SECS" -timeout=10 \
      -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -jobs="$JOBS" -workers="$JOBS" \
      -artifact_prefix="$BUILD/fuzz-artifacts/$t-" $(dict "$t") \
      "$work" $(seeds "$t") 2>"$BUILD/fuzz-$t.log"; then
    echo "fuzz: $t found a problem: $BUILD/fuzz-$t.log, $BUILD/fuzz-artifacts/" >&2
    tail -60 "$BUILD/fuzz-$t.log" >&2
    status=1
  else
    grep -E '^stat::number_of_executed_units|^stat::new_units_added' \
      "$BUILD/fuzz-$t.log" | sed "s/^/fuzz: $t /" >&2 || true
  fi
done
exit $status
