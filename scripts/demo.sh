#!/usr/bin/env bash
# Builds cdc-sentinel and runs it against the local sandbox (MariaDB with a
# real binlog over TLS, a Kafka-protocol broker, and simulated Debezium
# connectors), then prints where to look. Stop with Ctrl-C.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${CDC_BUILD_DIR:-$repo/build}
listen=${CDC_DEMO_LISTEN:-127.0.0.1:9877}

"$repo/scripts/deps.sh"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target cdc-sentinel

config="$repo/config/examples/minimal.yaml"
if [ -x "$repo/test/sandbox/up" ] && [ -x "$repo/test/sandbox/demo-config" ]; then
  CDC_BUILD_DIR="$build" "$repo/test/sandbox/up"
  config=$("$repo/test/sandbox/demo-config")
fi

cat <<EOT

cdc-sentinel is starting on http://$listen/ with $config
  metrics:       curl -s http://$listen/metrics | grep ^cdc_
  landing page:  http://$listen/
EOT
if [ -x "$repo/test/sandbox/fault" ]; then
cat <<EOT
  stall the TLS 1.3 connector:  $repo/test/sandbox/fault tls13 blackhole
  heal it:                      $repo/test/sandbox/fault tls13 pass
  stop the sandbox afterwards:  $repo/test/sandbox/down
EOT
fi
echo
exec "$build/exporter/cdc-sentinel" --config.file="$config" --web.listen-address="$listen"
