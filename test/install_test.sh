#!/usr/bin/env bash
# Checks the install layout of cmake/install.cmake:
#   cmake --install BUILD --prefix TMP, then
#   - TMP/bin/cdc-sentinel runs (--version) and accepts the installed minimal example
#     (--config.check --config.file=TMP/share/cdc-sentinel/examples/minimal.yaml);
#   - every config/examples/*.yaml, dashboards/*.json, dashboards/provisioning/*.yaml,
#     alerts/*.yml, docs/*.md and README.md of the source tree is installed, byte for byte;
#   - the systemd unit is at TMP/lib/systemd/system/cdc-sentinel.service, its ExecStart names
#     TMP/bin/cdc-sentinel, it reads /etc/cdc-sentinel/config.yaml and keeps its hardening;
#     `systemd-analyze verify` accepts it when systemd-analyze is installed.
#
#   test/install_test.sh BUILD_DIR        # ctest: install_layout
# Exits 0 on success, 1 with a message per problem otherwise.
set -euo pipefail

build=${1:?usage: install_test.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/.." && pwd)
cmake=${CMAKE_COMMAND:-cmake}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fails=0
fail() { echo "FAIL  $*"; fails=$((fails + 1)); }
ok() { echo "ok    $*"; }

if ! "$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log"
  echo "FAIL  cmake --install $build --prefix $prefix"
  exit 1
fi
ok "cmake --install --prefix"

bin=$prefix/bin/cdc-sentinel
if out=$("$bin" --version 2>&1) && [[ $out == "cdc-sentinel "* ]]; then
  ok "bin/cdc-sentinel --version: $out"
else
  fail "bin/cdc-sentinel --version: $out"
fi
example=$prefix/share/cdc-sentinel/examples/minimal.yaml
if out=$("$bin" --config.check --config.file="$example" 2>&1); then
  ok "--config.check of the installed minimal.yaml"
else
  fail "--config.check --config.file=$example: $out"
fi

# Every source file of each group is installed unchanged.
same() { # same SOURCE_GLOB DEST_DIR WHAT
  local f n=0 bad=0
  for f in $1; do
    [ -e "$f" ] || continue
    n=$((n + 1))
    if ! cmp -s "$f" "$2/$(basename "$f")"; then
      fail "$3: $(basename "$f") missing or different in ${2#"$prefix"/}"
      bad=1
    fi
  done
  if [ "$n" = 0 ]; then
    fail "$3: no source files match $1"
  elif [ "$bad" = 0 ]; then
    ok "$3 ($n file(s)) in ${2#"$prefix"/}"
  fi
}
share=$prefix/share/cdc-sentinel
same "$src/config/examples/*.yaml" "$share/examples" "examples"
same "$src/dashboards/*.json" "$share/dashboards" "dashboards"
same "$src/dashboards/provisioning/*.yaml" "$share/dashboards/provisioning" "dashboard provisioning"
same "$src/alerts/*.yml" "$share/alerts" "alert rules"
same "$src/docs/*.md" "$prefix/share/doc/cdc-sentinel" "docs"
same "$src/README.md" "$prefix/share/doc/cdc-sentinel" "README"

unit=$prefix/lib/systemd/system/cdc-sentinel.service
if [ ! -f "$unit" ]; then
  fail "systemd unit: $unit not installed"
else
  exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
  if [[ $exec_start == "$bin --config.file=/etc/cdc-sentinel/config.yaml"* ]]; then
    ok "systemd unit ExecStart: $exec_start"
  else
    fail "systemd unit ExecStart is '$exec_start', want '$bin --config.file=/etc/cdc-sentinel/config.yaml ...'"
  fi
  missing=""
  # shellcheck disable=SC2016  # $MAINPID is literal text of the unit
  for want in 'DynamicUser=yes' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
      'Restart=on-failure' 'ExecReload=/bin/kill -HUP $MAINPID'; do
    grep -qxF "$want" "$unit" || missing+=" '$want'"
  done
  if [ -z "$missing" ]; then ok "systemd unit hardening and reload"; else fail "systemd unit lacks$missing"; fi
  if command -v systemd-analyze >/dev/null 2>&1; then
    # Warnings about the host (no running systemd in a container) are not about the unit: only
    # lines naming the unit file count.
    out=$(systemd-analyze verify "$unit" 2>&1) || true
    problems=$(grep -F "cdc-sentinel.service" <<<"$out" || true)
    if [ -z "$problems" ]; then
      ok "systemd-analyze verify"
    else
      fail "systemd-analyze verify: $problems"
    fi
  else
    echo "skip  systemd-analyze verify: systemd-analyze not installed"
  fi
fi

if [ "$fails" -gt 0 ]; then
  echo "install_test.sh: $fails check(s) failed"
  exit 1
fi
echo "install_test.sh: all checks passed"
