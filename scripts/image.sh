#!/usr/bin/env bash
# Builds the container image from the repository's Dockerfile with Debian's Docker engine, on a
# machine without registry access (Debian 12, root):
#
#   scripts/image.sh build [TAG]     # default TAG cdc-sentinel:dev; prints size and build time
#   scripts/image.sh start           # only start the private daemon; prints DOCKER_HOST=...
#   scripts/image.sh stop            # stop the private daemon (images stay in its data root)
#
# What it does: installs docker.io and debootstrap if missing; starts a private dockerd (its own
# data root, socket and pid file under CDC_DOCKER_DIR, default /var/tmp/cdc-sentinel-docker; no
# bridge, no iptables rules of its own) unless one already answers there; makes the base images
# `debian:12` and `debian:12-slim` the Dockerfile starts from, if missing, with `debootstrap
# --variant=minbase bookworm` from the machine's own Debian mirror piped into `docker import`
# (no registry is reachable here); then `docker build --network host` (the build's apt-get reaches
# the same mirror), with REVISION and CREATED as build arguments. Talk to the daemon with
# DOCKER_HOST=unix://$CDC_DOCKER_DIR/docker.sock and /usr/bin/docker (Debian's client).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${CDC_DOCKER_DIR:-/var/tmp/cdc-sentinel-docker}
sock="$dir/docker.sock"
export DOCKER_HOST="unix://$sock"
docker=/usr/bin/docker

die() { echo "image.sh: $*" >&2; exit 1; }
log() { echo "image.sh: $*" >&2; }

ensure_packages() {
  [ "$(id -u)" = 0 ] || die "needs root (it starts dockerd)"
  local missing=()
  [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "${missing[@]}" >/dev/null || {
      apt-get update -q >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >/dev/null
    }
  fi
}

daemon_up() { "$docker" info >/dev/null 2>&1; }

start_daemon() {
  ensure_packages
  if daemon_up; then return 0; fi
  mkdir -p "$dir/root" "$dir/exec"
  log "starting dockerd ($dir)"
  # setsid: the daemon outlives this script (the test stops it with `stop`).
  setsid /usr/sbin/dockerd --data-root "$dir/root" --exec-root "$dir/exec" -H "$DOCKER_HOST" \
    --pidfile "$dir/docker.pid" --bridge=none --iptables=false --ip6tables=false \
    >"$dir/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 100); do
    if daemon_up; then return 0; fi
    sleep 0.3
  done
  tail -20 "$dir/dockerd.log" >&2
  die "dockerd did not answer on $sock within 30 s (log: $dir/dockerd.log)"
}

stop_daemon() {
  local pid
  pid=$(cat "$dir/docker.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  kill -9 "$pid" 2>/dev/null || true
}

mirror() {
  local m
  m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$m" ] || m=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  echo "${m:-http://deb.debian.org/debian}"
}

base_images() {
  if "$docker" image inspect debian:12 >/dev/null 2>&1 &&
    "$docker" image inspect debian:12-slim >/dev/null 2>&1; then
    return 0
  fi
  local rootfs="$dir/rootfs" m t0=$SECONDS
  m=$(mirror)
  log "making the base image debian:12 with debootstrap from $m"
  rm -rf "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$m" >"$dir/debootstrap.log" 2>&1 ||
    { tail -20 "$dir/debootstrap.log" >&2; die "debootstrap failed (log: $dir/debootstrap.log)"; }
  tar -C "$rootfs" -c . | "$docker" import - debian:12 >/dev/null
  "$docker" tag debian:12 debian:12-slim
  rm -rf "$rootfs"
  log "base image made in $((SECONDS - t0)) s"
}

build() {
  local tag=${1:-cdc-sentinel:dev} revision created t0
  start_daemon
  base_images
  revision=$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
  created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  t0=$SECONDS
  log "building $tag (revision $revision)"
  "$docker" build --network host -t "$tag" --build-arg REVISION="$revision" \
    --build-arg CREATED="$created" "$repo" >"$dir/build.log" 2>&1 ||
    { tail -30 "$dir/build.log" >&2; die "docker build failed (log: $dir/build.log)"; }
  local size
  size=$("$docker" image inspect -f '{{.Size}}' "$tag")
  echo "image $tag: $((size / 1000000)) MB, built in $((SECONDS - t0)) s (revision $revision)"
}

case "${1:-build}" in
  build) build "${2:-}" ;;
  start) start_daemon; echo "DOCKER_HOST=$DOCKER_HOST" ;;
  stop) stop_daemon ;;
  *) die "usage: $0 build [TAG] | start | stop" ;;
esac
