#!/usr/bin/env bash
# CI smoke version of the scale and speed benchmarks (bench/RESULTS.md has the
# real runs). Under ~2 minutes; asserts only generous bounds:
#   1. detection: 3 stalls with markers every 2 s / timeout 4 s, each detected
#      within interval + timeout + 3 s, no alarm on the other connector;
#   2. REST scale: 1,000 connectors / 4,000 tasks polled every 2 s for 15 s,
#      then 100 scrapes: /metrics p99 < 200 ms, RSS < 150 MB;
#   3. marker scale: 100 simulated connectors with markers every 2 s for 15 s:
#      RSS < 150 MB, as many librdkafka instances as cdc_kafka_consumers (50
#      watched topics per consumer here: five), at least half the checks found.
# Every step starts and stops its own servers in a temporary directory (its
# own sandbox; it does not use the CTest `sandbox` fixture).
#
# usage: bench/smoke.sh [BUILD_DIR]   (default: build; needs the exporter and
#        the sandbox binaries built there, python3, mariadb, c++, pkg-config)
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1 # nothing written into the source tree
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
[ -x "$build/exporter/cdc-sentinel" ] || { echo "smoke: no $build/exporter/cdc-sentinel" >&2; exit 2; }
start=$SECONDS
fail=0
step() {
  local name=$1
  shift
  echo "== $name (load $(cut -d' ' -f1-3 /proc/loadavg))"
  if "$@"; then
    echo "== $name: ok ($((SECONDS - start)) s so far)"
  else
    echo "== $name: FAILED"
    fail=1
  fi
}
step detection python3 "$here/detection.py" --build-dir "$build" \
  --interval 2s --timeout 4s --stalls 3 --bound-slack 3 --seed 1
step rest-scale python3 "$here/rest_scale.py" --build-dir "$build" \
  --connectors 1000 --tasks 4 --poll 2s --minutes 0.25 --scrapes 100 \
  --max-p99-ms 200 --max-rss-mb 150
step marker-scale python3 "$here/marker_scale.py" --build-dir "$build" \
  --counts 100 --interval 2s --timeout 5s --warmup 8 --minutes 0.25 \
  --heartbeat-ms 2000 --offset-flush-ms 5000 \
  --max-rss-mb 150 --min-found-ratio 0.5 --topics-per-consumer 50
echo "smoke: $((SECONDS - start)) s, $([ $fail = 0 ] && echo passed || echo FAILED)"
exit $fail
