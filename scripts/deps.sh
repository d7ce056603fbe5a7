#!/usr/bin/env bash
# Installs the Debian 12 packages cdc-sentinel needs to build, test and run its sandbox.
# Idempotent: packages already present are skipped without touching apt.
#
#   scripts/deps.sh                # everything: build, tests, sandbox, fuzzing (CI, test.sh, demo.sh)
#   scripts/deps.sh --build-only   # only what building needs (toolchain, -dev packages)
set -euo pipefail

usage() {
  cat <<EOT
usage: $(basename "$0") [--build-only]

Installs the missing Debian 12 packages (with sudo when not root).

  (no flag)      build dependencies, plus the servers and tools the tests, the sandbox
                 and fuzzing use (MariaDB, Prometheus, Alertmanager, Chromium, kcat, clang, ...)
  --build-only   only the compiler toolchain, CMake, git and the library -dev packages
                 (GoogleTest included): enough to build the binary, e.g.
                   cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \\
                     -DCDC_BUILD_TESTS=OFF -DCDC_BUILD_SANDBOX=OFF
                   cmake --build build --target cdc-sentinel
                 but not to run the tests or the demo
  -h, --help     this text
EOT
}

BUILD_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build-only) BUILD_ONLY=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "deps: unknown argument '$1'" >&2
      usage >&2
      exit 2
      ;;
  esac
  shift
done

# libboost-dev: Boost.Beast/Asio (header-only) for the HTTP front and the bounded
# upstream HTTP client (probes/upstream_http.h): unlike cpp-httplib they cap the
# request and response heads (docs/security.md).
BUILD_PKGS=(build-essential cmake pkg-config git
  prometheus-cpp-dev libcpp-httplib-dev librdkafka-dev nlohmann-json3-dev libyaml-cpp-dev
  default-libmysqlclient-dev libssl-dev zlib1g-dev libgtest-dev libgmock-dev
  libboost-dev)
# Real servers and tools the tests and the sandbox run: MariaDB, Prometheus' promtool, kcat, openssl.
TEST_PKGS=(mariadb-server mariadb-client openssl kcat curl procps psmisc python3 python3-yaml chromium iptables
  clang libclang-rt-14-dev)  # clang + libFuzzer/sanitizer runtimes: fuzz/ (-DCDC_FUZZ=ON)
# Installed without recommends: Debian's prometheus recommends a node exporter and a web UI we do not use.
# docker.io and debootstrap: the container image built and run by the test `container_image`
# (scripts/image.sh; no registry here, so the base image comes from debootstrap); docker-compose:
# `docker-compose config` of deploy/compose in the test deploy_files.
NORECOMMENDS_PKGS=(prometheus prometheus-alertmanager docker.io debootstrap docker-compose)
if [ "$BUILD_ONLY" = 1 ]; then
  TEST_PKGS=()
  NORECOMMENDS_PKGS=()
fi

missing() {
  local p out=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || out+=("$p")
  done
  echo "${out[@]:-}"
}

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

want=$(missing "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}")
want_nr=$(missing "${NORECOMMENDS_PKGS[@]}")
if [ -z "${want// }" ] && [ -z "${want_nr// }" ]; then
  exit 0
fi
echo "deps: installing Debian packages: ${want} ${want_nr}" >&2
export DEBIAN_FRONTEND=noninteractive
# Debian's prometheus packages try to start their services on install; we run them ourselves.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -qq
if [ -n "${want// }" ]; then
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq $want >/dev/null
fi
if [ -n "${want_nr// }" ]; then
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $want_nr >/dev/null
fi
