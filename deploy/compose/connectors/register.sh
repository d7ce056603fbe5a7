#!/bin/sh
# Registers one Debezium connector on each Kafka Connect worker (run once by the
# register-connectors service of ../docker-compose.yml; safe to run again).
#
#   register <worker service> <connector JSON file>
#
# The worker of each connector must be the connect_clusters[] entry that ../cdc-sentinel/config.yaml
# names for it (test/deploy_test.py checks that).
set -eu

register() {
  worker=$1 file=/connectors/$2
  url=http://$worker:8083
  i=0
  until curl -fsS -o /dev/null "$url/connectors"; do
    i=$((i + 1))
    if [ "$i" -gt 120 ]; then echo "register: $url did not come up" >&2; exit 1; fi
    sleep 2
  done
  code=$(curl -sS -o /tmp/register.out -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' --data @"$file" "$url/connectors")
  case $code in
    201) echo "register: $2 created on $worker" ;;
    409) echo "register: $2 already exists on $worker" ;;
    *) echo "register: $2 on $worker: HTTP $code" >&2; cat /tmp/register.out >&2; exit 1 ;;
  esac
}

register connect-tls13 inventory-tls13.json
register connect-tls12 inventory-tls12.json
