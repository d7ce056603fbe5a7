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

# --- exporter's dedicated uid and its iptables rules ----------------------------
# Tests run the exporter under this system user (created by up when run as
# root) so that `fault exporter-kafka drop|reset` can cut its connections to
# Kafka alone with an iptables owner match. Machine-wide, shared by sandboxes.
EXPORTER_TEST_USER=${CDC_SANDBOX_EXPORTER_USER:-cdc-exporter-test}

# The comment on every iptables rule this sandbox adds for fault KIND: rules
# of other sandboxes on the same machine are never touched.
ipt_tag() { echo "cdc-sandbox:$1:$SB"; }

# Deletes every OUTPUT rule tagged `ipt_tag KIND`; quiet when there is none
# (or no iptables). Deletes by rule spec, never by number, so concurrent
# sandboxes cannot shift each other's rules.
ipt_delete_tagged() {
  local tag line a i
  tag=$(ipt_tag "$1")
  command -v iptables >/dev/null 2>&1 || return 0
  [ "$(id -u)" = 0 ] || return 0
  local -a rules=() args
  while IFS= read -r line; do rules+=("$line"); done < <(iptables -w 5 -S OUTPUT 2>/dev/null | grep -F -- "$tag" || true)
  for line in "${rules[@]}"; do
    read -r -a args <<<"$line"
    for i in "${!args[@]}"; do
      a=${args[i]}
      a=${a#\"}
      args[i]=${a%\"}
    done
    # Only rules whose comment is exactly the tag.
    local match=0
    for i in "${!args[@]}"; do
      if [ "${args[i]}" = --comment ] && [ "${args[i + 1]:-}" = "$tag" ]; then match=1; fi
    done
    [ "$match" = 1 ] || continue
    args[0]=-D
    iptables -w 5 "${args[@]}" || warn "could not delete iptables rule: $line"
  done
}

# Every iptables rule any sandbox fault of this sandbox added.
ipt_delete_all_sandbox_rules() {
  ipt_delete_tagged exporter-kafka
  ipt_delete_tagged connectors-kafka
}

# --- the pause fault (SIGSTOP/SIGCONT of cdc-sim) ---------------------------------
# Ends a running pauser (its TERM trap resumes cdc-sim) and SIGCONTs cdc-sim
# whatever state it is in: nothing stays stopped.
resume_sim() {
  local p i
  if daemon_alive pauser; then
    # Its own group (setsid): the pauser and its sleep. Waits for the pauser
    # pid only (stop_daemons' scan of /proc is slow on a busy machine).
    p=$(daemon_pid pauser)
    kill -TERM -- "-$p" 2>/dev/null || true
    for i in $(seq 1 50); do
      daemon_alive pauser || break
      sleep 0.1
    done
    if daemon_alive pauser; then kill -KILL -- "-$p" 2>/dev/null || true; fi
  fi
  rm -f "$SB/pids/pauser.pid"
  if daemon_alive cdc-sim; then
    kill -CONT "$(daemon_pid cdc-sim)" 2>/dev/null || true
  fi
}
