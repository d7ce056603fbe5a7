#!/usr/bin/env bash
# The field report's monitoring method, reimplemented for the sandbox (see
# docs/background.md): every FIELD_INTERVAL seconds, one check inserts a row
# with the `mariadb` client and looks for it with `kcat` in each connector's
# topic (-C -o end, bounded by FIELD_TIMEOUT), printing FOUND / NOT_FOUND per
# connector. It is the field's monitor_tls_comparison.sh loop in shape: one
# shell iteration per check, fresh client processes (a TLS MySQL connection,
# one Kafka consumer per connector) every time.
#
# One detail the method needs to work at all: kcat -o end must be positioned
# before the row is written, or a healthy pipeline that delivers within
# milliseconds looks like a miss. The consumers are started first and the
# INSERT follows after FIELD_SETTLE seconds.
#
# Environment: CDC_SANDBOX_DIR (the sandbox), FIELD_INTERVAL (90; start to
# start), FIELD_TIMEOUT (30), FIELD_SETTLE (2), FIELD_CHECKS (0 = forever).
# Output, one line per event (epoch seconds with fractions):
#   CHECK <n> start=<t> insert=<t>
#   RESULT <n> connector=<name> result=FOUND|NOT_FOUND at=<t> latency=<s after insert>
#   CPU <n> child_cpu_s=<user+sys of every process the check ran> wall_s=<check duration>
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
sb=${CDC_SANDBOX_DIR:-$here/../.sandbox}
# shellcheck disable=SC1091
. "$sb/env"
interval=${FIELD_INTERVAL:-90}
timeout_s=${FIELD_TIMEOUT:-30}
settle=${FIELD_SETTLE:-2}
max_checks=${FIELD_CHECKS:-0}

IFS=, read -r -a tags <<<"$CONNECTORS"
names=() topics=()
for t in "${tags[@]}"; do
  T=${t^^}
  n=CONNECTOR_${T}_NAME p=CONNECTOR_${T}_TOPIC_PREFIX
  names+=("${!n}")
  topics+=("${!p}.inventory.customers")
done

now() { date +%s.%N; }

# children CPU (user+sys, seconds) of this shell so far, from `times`.
# `times` must run in this shell (not in a $(...) subshell) to see them.
times_file=$(mktemp)
trap 'rm -f "$times_file"' EXIT
# Sets CHILD_CPU; call it directly, never as $(child_cpu).
child_cpu() {
  times >"$times_file" # line 2: children's "XmY.YYYs XmZ.ZZZs"
  local u s
  read -r u s < <(sed -n 2p "$times_file")
  CHILD_CPU=$(awk -v u="$u" -v s="$s" 'function sec(t, a) { split(t, a, "m"); sub("s", "", a[2]); return a[1] * 60 + a[2] } BEGIN { printf "%.3f", sec(u) + sec(s) }')
}

# look_for TOPIC TOKEN: FOUND once a record containing TOKEN arrives, or
# NOT_FOUND FIELD_TIMEOUT seconds after the INSERT (the consumer starts
# FIELD_SETTLE seconds before it).
look_for() {
  local r=NOT_FOUND kp
  exec 3< <(exec timeout "$((timeout_s + settle))" kcat -C -b "$KAFKA_BOOTSTRAP" -t "$1" -o end -u -q -f '%s\n' 2>/dev/null)
  kp=$!
  if grep -m1 -qF -- "$2" <&3; then r=FOUND; fi
  exec 3<&-
  kill "$kp" 2>/dev/null
  wait "$kp" 2>/dev/null
  echo "$r $(now)"
}

check=0
next=$(date +%s)
while [ "$max_checks" = 0 ] || [ "$check" -lt "$max_checks" ]; do
  check=$((check + 1))
  child_cpu
  cpu0=$CHILD_CPU
  start=$(now)
  token="fieldcheck-$$-$check-$RANDOM$RANDOM"
  tmp=$(mktemp -d)
  pids=()
  for i in "${!topics[@]}"; do
    look_for "${topics[$i]}" "$token" >"$tmp/$i" &
    pids+=($!)
  done
  sleep "$settle"
  ins=$(now)
  mariadb --defaults-file="$MYSQL_ROOT_CNF" -e \
    "INSERT INTO inventory.customers (first_name, last_name, email) VALUES ('field', 'check', '$token@example.com')" ||
    echo "INSERT_FAILED $check at=$(now)"
  echo "CHECK $check start=$start insert=$ins"
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}"
    read -r res at <"$tmp/$i"
    echo "RESULT $check connector=${names[$i]} result=$res at=$at latency=$(awk -v a="$at" -v b="$ins" 'BEGIN { printf "%.3f", a - b }')"
  done
  rm -rf "$tmp"
  child_cpu
  echo "CPU $check child_cpu_s=$(awk -v a="$CHILD_CPU" -v b="$cpu0" 'BEGIN { printf "%.3f", a - b }') wall_s=$(awk -v a="$(now)" -v b="$start" 'BEGIN { printf "%.3f", a - b }')"
  next=$((next + interval))
  wait_s=$((next - $(date +%s)))
  if [ "$wait_s" -gt 0 ]; then sleep "$wait_s"; else next=$(date +%s); fi
done
