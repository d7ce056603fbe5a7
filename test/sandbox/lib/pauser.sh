#!/usr/bin/env bash
# Started by `fault ... pause|pause-every` as the sandbox daemon "pauser":
# stops process PID (STARTTIME from /proc/PID/stat guards against a recycled
# PID) for MS ms, COUNT times (0 = until stopped), one pause every PERIOD_MS
# (0: once), the first at once. SIGTERM/SIGINT/SIGHUP resume PID and exit.
# usage: pauser.sh PID STARTTIME MS PERIOD_MS COUNT
set -u
pid=$1 start=$2 ms=$3 period=$4 count=$5

alive() {
  local stat rest
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  rest=${stat##*) }
  # shellcheck disable=SC2086
  set -- $rest
  [ "${20}" = "$start" ]
}
resume() { alive && kill -CONT "$pid" 2>/dev/null; }
trap 'resume; echo "$(date -u +%FT%T.%3NZ) pauser: stopped, pid $pid resumed"; exit 0' TERM INT HUP
# MS as seconds for sleep(1), computed once (no work between STOP and CONT).
secs() { printf '%d.%03d' "$(($1 / 1000))" "$(($1 % 1000))"; }
pause_s=$(secs "$ms")
gap_s=$(secs "$((period > ms ? period - ms : 0))")
# Sleeps in the background so the trap runs as soon as a signal arrives.
nap() {
  sleep "$1" &
  wait $!
}

n=0
while :; do
  alive || exit 0
  kill -STOP "$pid"
  echo "$(date -u +%FT%T.%3NZ) pauser: pid $pid stopped for ${ms} ms (pause $((n + 1)))"
  nap "$pause_s"
  resume
  echo "$(date -u +%FT%T.%3NZ) pauser: pid $pid resumed"
  n=$((n + 1))
  if [ "$period" = 0 ] || { [ "$count" != 0 ] && [ "$n" -ge "$count" ]; }; then exit 0; fi
  nap "$gap_s"
done
