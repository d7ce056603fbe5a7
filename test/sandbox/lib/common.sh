# shellcheck shell=bash
# Shared helpers for test/sandbox/{up,down,fault}. Sourced, never run.
#
# Every daemon the sandbox starts runs in its own session and process group
# (setsid), with stdin/stdout/stderr redirected to a log file, and is recorded
# in $SB/pids/NAME.pid as "PID STARTTIME" (STARTTIME from /proc/PID/stat, so a
# recycled PID is never mistaken for ours).

SANDBOX_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO=$(cd "$SANDBOX_HOME/../.." && pwd)
SB=${CDC_SANDBOX_DIR:-$REPO/.sandbox}
# shellcheck disable=SC2034  # used by up
BUILD=${CDC_BUILD_DIR:-$REPO/build}

log() { printf '%s sandbox: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
warn() { log "WARNING: $*"; }
die() {
  log "ERROR: $*"
  exit 1
}

# Makes SB absolute and refuses paths the env file could not carry.
sandbox_dir_init() {
  case "$SB" in
    /*) ;;
    *) SB="$PWD/$SB" ;;
  esac
  if [[ "$SB" =~ [[:space:]\"\'\$\`\\\;\&\|\<\>\(\)] ]]; then
    die "sandbox dir '$SB' contains spaces or shell metacharacters; set CDC_SANDBOX_DIR to a plain path"
  fi
  SB=${SB%/}
}

# Takes the sandbox lock (fd 9) so that up and down never run at once on the
# same directory. Re-entrant through CDC_SANDBOX_LOCKED.
sandbox_lock() {
  if [ "${CDC_SANDBOX_LOCKED:-}" = "$SB" ]; then return 0; fi
  mkdir -p "$SB"
  exec 9>"$SB/.lock"
  if ! flock -w 120 9; then
    die "another up/down holds $SB/.lock for more than 120 s"
  fi
  export CDC_SANDBOX_LOCKED="$SB"
}

# Prints "STATE STARTTIME PGID" of PID, or nothing if there is no such process.
proc_info() {
  local stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  rest=${stat##*) }  # fields 3.. (comm may contain spaces and parens)
  # shellcheck disable=SC2086
  set -- $rest
  # field 3 = state, 5 = pgrp, 22 = starttime
  echo "$1 ${20} $3"
}

# True if the process recorded under NAME is alive (zombies count as dead).
daemon_alive() {
  local file="$SB/pids/$1.pid" pid start info
  [ -f "$file" ] || return 1
  read -r pid start _ <"$file" || return 1
  info=$(proc_info "$pid")
  [ -n "$info" ] || return 1
  # shellcheck disable=SC2086
  set -- $info
  [ "$1" != Z ] && [ "$1" != X ] && [ "$2" = "$start" ]
}

daemon_pid() {
  local pid
  read -r pid _ <"$SB/pids/$1.pid"
  echo "$pid"
}

# Live (non-zombie) members of process group PGID.
group_members() {
  local pgid=$1 f rest
  for f in /proc/[0-9]*/stat; do
    rest=$(cat "$f" 2>/dev/null) || continue
    rest=${rest##*) }
    # shellcheck disable=SC2086
    set -- $rest
    if [ "$3" = "$pgid" ] && [ "$1" != Z ] && [ "$1" != X ]; then
      f=${f#/proc/}
      echo "${f%/stat}"
    fi
  done
}

# start_daemon NAME LOGFILE CMD... : runs CMD in a new session, records it.
start_daemon() {
  local name=$1 logfile=$2 pid info
  shift 2
  mkdir -p "$SB/pids" "$(dirname "$logfile")"
  # fd 9 is the sandbox lock: the daemon must not keep it.
  setsid "$@" </dev/null >>"$logfile" 2>&1 9>&- &
  pid=$!
  # The child becomes a group leader once setsid has run in it (setsid only
  # forks when it already is one, which never happens here).
  local i
  for i in $(seq 1 100); do
    info=$(proc_info "$pid")
    [ -n "$info" ] || die "$name exited at once; see $logfile"
    # shellcheck disable=SC2086
    set -- $info
    [ "$3" = "$pid" ] && break
    [ "$i" -lt 100 ] || die "$name (pid $pid) did not get its own process group"
    sleep 0.01
  done
  echo "$pid $2 $name" >"$SB/pids/$name.pid"
}

# stop_daemons TIMEOUT NAME... : SIGTERM to each process group, wait, SIGKILL.
stop_daemons() {
  local timeout=$1 name pid deadline left
  shift
  local -a pgids=()
  for name in "$@"; do
    if daemon_alive "$name"; then
      pid=$(daemon_pid "$name")
      log "stopping $name (pid $pid)"
      kill -TERM -- "-$pid" 2>/dev/null || true
      pgids+=("$pid")
    fi
  done
  deadline=$((SECONDS + timeout))
  while :; do
    left=""
    for pid in "${pgids[@]}"; do
      [ -z "$(group_members "$pid")" ] || left="$left $pid"
    done
    [ -n "$left" ] || break
    if [ "$SECONDS" -ge "$deadline" ]; then
      warn "process groups still alive after ${timeout}s:$left; sending SIGKILL"
      for pid in $left; do kill -KILL -- "-$pid" 2>/dev/null || true; done
      sleep 0.5
      for pid in $left; do
        [ -z "$(group_members "$pid")" ] || die "process group $pid survived SIGKILL"
      done
      break
    fi
    sleep 0.1
  done
  for name in "$@"; do rm -f "$SB/pids/$name.pid"; done
}

# wait_for_file FILE TIMEOUT_S NAME : waits until FILE is non-empty while the
# daemon NAME stays alive.
wait_for_file() {
  local file=$1 timeout=$2 name=$3 deadline=$((SECONDS + $2))
  while [ ! -s "$file" ]; do
    daemon_alive "$name" || return 1
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# kv FILE KEY : value of KEY=value in FILE.
kv() { sed -n "s/^$2=//p" "$1" | head -n 1; }

# A TCP port on 127.0.0.1 that nothing listens on right now, outside the
# kernel's ephemeral range (where port-0 binds land).
free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$((20000 + (RANDOM % 12000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

http_ok() { curl -fsS --max-time "${2:-2}" -o /dev/null "$1" 2>/dev/null; }

# Last lines of a log, for error messages.
log_tail() {
  if [ -f "$1" ]; then
    log "--- last lines of $1 ---"
    tail -n "${2:-20}" "$1" >&2 || true
  fi
}
