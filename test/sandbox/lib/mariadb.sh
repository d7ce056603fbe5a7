# shellcheck shell=bash
# MariaDB for the sandbox: Debian's mariadbd as a plain process with a private
# datadir under $SB/mysql, binlog in ROW format (GTIDs are always on in
# MariaDB), TLS 1.2 + 1.3 with certificates made here, performance_schema on.
# Sourced by test/sandbox/up after lib/common.sh.

MYSQL_DIR="$SB/mysql"
TLS_DIR="$SB/tls"
SECRETS_DIR="$SB/secrets"
MYSQL_CNF="$MYSQL_DIR/my.cnf"
ROOT_CNF="$MYSQL_DIR/root.cnf"
MONITOR_CNF="$MYSQL_DIR/monitor.cnf"
MYSQL_LOG="$SB/logs/mariadb.log"

mariadb_socket_path() {
  local sock="$SB/run/mysqld.sock"
  # sun_path holds 107 bytes; long build directories need a short alias.
  if [ "${#sock}" -gt 100 ]; then
    sock="${TMPDIR:-/tmp}/cdc-sandbox-$(printf '%s' "$SB" | md5sum | cut -c1-12).sock"
  fi
  echo "$sock"
}

find_mariadb_tool() {
  local t
  for t in "$@"; do
    if command -v "$t" >/dev/null 2>&1; then
      command -v "$t"
      return 0
    fi
    if [ -x "/usr/sbin/$t" ]; then
      echo "/usr/sbin/$t"
      return 0
    fi
  done
  die "none of '$*' found; run scripts/deps.sh (Debian package mariadb-server)"
}

# Random password written to $SECRETS_DIR/NAME.password (mode 0600), once.
ensure_password() {
  local file="$SECRETS_DIR/$1.password"
  if [ ! -s "$file" ]; then
    (umask 077 && openssl rand -hex 20 >"$file")
  fi
  chmod 600 "$file"
}

# CA, server certificate (SAN IP:127.0.0.1, DNS:localhost) and a client
# certificate, all made with openssl the first time.
mariadb_certs() {
  [ -s "$TLS_DIR/server-cert.pem" ] && [ -s "$TLS_DIR/client-cert.pem" ] && return 0
  log "generating TLS certificates in $TLS_DIR"
  rm -rf "$TLS_DIR"
  mkdir -p "$TLS_DIR"
  (
    cd "$TLS_DIR"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
      -keyout ca-key.pem -out ca.pem -subj "/CN=cdc-sentinel sandbox CA" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -sha256 -keyout server-key.pem \
      -out server.csr -subj "/CN=localhost" 2>/dev/null
    printf '%s\n' "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,DNS:localhost" >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem \
      -CAcreateserial -days 3650 -sha256 -extfile server.ext \
      -out server-cert.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -sha256 -keyout client-key.pem \
      -out client.csr -subj "/CN=cdc-sandbox-client" 2>/dev/null
    printf '%s\n' "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=clientAuth" >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem \
      -CAcreateserial -days 3650 -sha256 -extfile client.ext \
      -out client-cert.pem 2>/dev/null
    rm -f ./*.csr ./*.ext ca.srl
    chmod 644 ca.pem server-cert.pem client-cert.pem
    openssl verify -CAfile ca.pem server-cert.pem client-cert.pem >/dev/null
  ) || die "certificate generation failed"
}

# Writes my.cnf for PORT.
mariadb_write_cnf() {
  local port=$1 sock user_line=""
  sock=$(mariadb_socket_path)
  if [ "$(id -u)" = 0 ]; then user_line="user=root"; fi
  mkdir -p "$SB/run" "$MYSQL_DIR/tmp"
  cat >"$MYSQL_CNF" <<EOF
# Written by test/sandbox/up; regenerated at every start.
[mariadbd]
datadir=$MYSQL_DIR/data
socket=$sock
pid-file=$MYSQL_DIR/mariadbd.pid
tmpdir=$MYSQL_DIR/tmp
port=$port
bind-address=127.0.0.1
$user_line
skip-name-resolve
# Binlog for CDC: ROW events, full images; GTIDs are always on in MariaDB.
server-id=1
log-bin=mariadb-bin
log-bin-index=mariadb-bin.index
binlog-format=ROW
binlog-row-image=FULL
# TLS: the two connectors pin TLSv1.3 and TLSv1.2 respectively.
ssl-ca=$TLS_DIR/ca.pem
ssl-cert=$TLS_DIR/server-cert.pem
ssl-key=$TLS_DIR/server-key.pem
tls_version=TLSv1.2,TLSv1.3
# performance_schema shows every session's TLS version to the monitor user.
performance_schema=ON
innodb_buffer_pool_size=64M
max_connections=300
character-set-server=utf8mb4
collation-server=utf8mb4_general_ci
EOF
}

# Client option files (mode 0600) for root and the monitoring user, usable as
# mariadb --defaults-file=FILE.
mariadb_write_client_cnfs() {
  local port=$1 sock
  sock=$(mariadb_socket_path)
  (
    umask 077
    cat >"$ROOT_CNF" <<EOF
[client]
user=root
password=$(cat "$SECRETS_DIR/root.password")
socket=$sock
host=127.0.0.1
port=$port
ssl-ca=$TLS_DIR/ca.pem
ssl-verify-server-cert
EOF
    cat >"$MONITOR_CNF" <<EOF
[client]
user=cdc_monitor
password=$(cat "$SECRETS_DIR/cdc_monitor.password")
host=127.0.0.1
port=$port
ssl-ca=$TLS_DIR/ca.pem
ssl-verify-server-cert
EOF
  )
}

# Runs SQL from stdin as root over the socket. $1: "fresh" right after
# mariadb-install-db (root has no password yet), else uses the root password.
mariadb_root_sql() {
  local client sock
  client=$(find_mariadb_tool mariadb mysql)
  sock=$(mariadb_socket_path)
  if [ "${1:-}" = fresh ]; then
    "$client" --no-defaults --protocol=socket --socket="$sock" -uroot \
      --batch --skip-column-names
  else
    "$client" --defaults-file="$ROOT_CNF" --protocol=socket --batch \
      --skip-column-names
  fi
}

mariadb_alive_ping() {
  local admin
  admin=$(find_mariadb_tool mariadb-admin mysqladmin)
  # ping exits 0 whenever the server answers, even with "access denied".
  "$admin" --no-defaults --protocol=socket --socket="$(mariadb_socket_path)" \
    --connect-timeout=2 ping >/dev/null 2>&1
}

# Users, grants, the demo and canary databases. Idempotent.
mariadb_setup() {
  local mode=$1 pw_root pw_mon pw13 pw12 h
  pw_root=$(cat "$SECRETS_DIR/root.password")
  pw_mon=$(cat "$SECRETS_DIR/cdc_monitor.password")
  pw13=$(cat "$SECRETS_DIR/debezium_tls13.password")
  pw12=$(cat "$SECRETS_DIR/debezium_tls12.password")
  local drops=""
  # mariadb-install-db also makes root@127.0.0.1, root@::1, root@HOSTNAME and
  # maybe anonymous users, all without passwords: keep only root@localhost.
  while read -r h; do
    [ -n "$h" ] && drops+="DROP USER IF EXISTS $h;"$'\n'
  done < <(echo "SELECT CONCAT(QUOTE(user), '@', QUOTE(host)) FROM mysql.global_priv
                 WHERE (user = 'root' AND host NOT IN ('localhost', '%')) OR user = '';" |
    mariadb_root_sql "$mode")
  mariadb_root_sql "$mode" <<EOF
SET SESSION sql_log_bin = 0;
$drops
ALTER USER 'root'@'localhost' IDENTIFIED BY '$pw_root';
CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '$pw_root';
ALTER USER 'root'@'%' IDENTIFIED BY '$pw_root';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;

-- One replication user per simulated Debezium connector (TLS required).
CREATE USER IF NOT EXISTS 'debezium_tls13'@'%' IDENTIFIED BY '$pw13' REQUIRE SSL;
ALTER USER 'debezium_tls13'@'%' IDENTIFIED BY '$pw13' REQUIRE SSL;
GRANT SELECT, RELOAD, SHOW DATABASES, LOCK TABLES, REPLICATION SLAVE,
      REPLICATION CLIENT, BINLOG MONITOR ON *.* TO 'debezium_tls13'@'%';
CREATE USER IF NOT EXISTS 'debezium_tls12'@'%' IDENTIFIED BY '$pw12' REQUIRE SSL;
ALTER USER 'debezium_tls12'@'%' IDENTIFIED BY '$pw12' REQUIRE SSL;
GRANT SELECT, RELOAD, SHOW DATABASES, LOCK TABLES, REPLICATION SLAVE,
      REPLICATION CLIENT, BINLOG MONITOR ON *.* TO 'debezium_tls12'@'%';

-- Least privilege for the exporter: sessions and their TLS versions
-- (PROCESS + performance_schema), binlog position (BINLOG MONITOR, which
-- REPLICATION CLIENT is an alias of), and the canary markers.
CREATE USER IF NOT EXISTS 'cdc_monitor'@'%' IDENTIFIED BY '$pw_mon';
ALTER USER 'cdc_monitor'@'%' IDENTIFIED BY '$pw_mon';
GRANT PROCESS, BINLOG MONITOR ON *.* TO 'cdc_monitor'@'%';
GRANT SELECT ON performance_schema.* TO 'cdc_monitor'@'%';
GRANT SELECT, INSERT, UPDATE, CREATE ON cdc_canary.* TO 'cdc_monitor'@'%';
SET SESSION sql_log_bin = 1;

CREATE DATABASE IF NOT EXISTS inventory;
CREATE TABLE IF NOT EXISTS inventory.customers (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  first_name VARCHAR(255) NOT NULL,
  last_name VARCHAR(255) NOT NULL,
  email VARCHAR(255) NOT NULL UNIQUE KEY
) AUTO_INCREMENT = 1001;
INSERT IGNORE INTO inventory.customers (id, first_name, last_name, email) VALUES
  (1001, 'Sally', 'Thomas', 'sally.thomas@acme.com'),
  (1002, 'George', 'Bailey', 'gbailey@foobar.com'),
  (1003, 'Edward', 'Walker', 'ed@walker.com'),
  (1004, 'Anne', 'Kretchmar', 'annek@noanswer.org');

CREATE DATABASE IF NOT EXISTS cdc_canary;
CREATE TABLE IF NOT EXISTS cdc_canary.markers (
  id VARCHAR(64) PRIMARY KEY,
  token VARCHAR(64) NOT NULL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
    ON UPDATE CURRENT_TIMESTAMP(6)
);
EOF
}

# Starts MariaDB (initialising the datadir the first time); sets MYSQL_PORT.
mariadb_start() {
  local mariadbd install mode=existing attempt deadline
  mariadbd=$(find_mariadb_tool mariadbd mysqld)
  install=$(find_mariadb_tool mariadb-install-db mysql_install_db)
  mkdir -p "$MYSQL_DIR" "$SECRETS_DIR" "$SB/logs"
  chmod 700 "$SECRETS_DIR"
  local u
  for u in root cdc_monitor debezium_tls13 debezium_tls12; do ensure_password "$u"; done
  mariadb_certs
  if [ ! -d "$MYSQL_DIR/data/mysql" ]; then
    log "initialising MariaDB datadir $MYSQL_DIR/data"
    rm -rf "$MYSQL_DIR/data"
    local user_flag=()
    if [ "$(id -u)" = 0 ]; then user_flag=(--user=root); fi
    "$install" --no-defaults --datadir="$MYSQL_DIR/data" "${user_flag[@]}" \
      --auth-root-authentication-method=normal --skip-test-db \
      >"$SB/logs/mariadb-install.log" 2>&1 ||
      {
        log_tail "$SB/logs/mariadb-install.log"
        die "mariadb-install-db failed"
      }
    mode=fresh
  fi
  for attempt in 1 2 3; do
    MYSQL_PORT=$(free_port)
    mariadb_write_cnf "$MYSQL_PORT"
    log "starting MariaDB on 127.0.0.1:$MYSQL_PORT"
    : >>"$MYSQL_LOG"
    local before
    before=$(wc -l <"$MYSQL_LOG")
    start_daemon mariadb "$MYSQL_LOG" "$mariadbd" --defaults-file="$MYSQL_CNF"
    deadline=$((SECONDS + 30))
    while daemon_alive mariadb && ! mariadb_alive_ping; do
      [ "$SECONDS" -lt "$deadline" ] || break
      sleep 0.1
    done
    if daemon_alive mariadb && mariadb_alive_ping; then break; fi
    stop_daemons 10 mariadb
    if tail -n "+$((before + 1))" "$MYSQL_LOG" | grep -q "Address already in use" &&
      [ "$attempt" -lt 3 ]; then
      warn "port $MYSQL_PORT was taken; retrying"
      continue
    fi
    log_tail "$MYSQL_LOG" 30
    die "MariaDB did not start"
  done
  mariadb_write_client_cnfs "$MYSQL_PORT"
  mariadb_setup "$mode"
  # Prove TCP + TLS + the root password work before going on.
  local client
  client=$(find_mariadb_tool mariadb mysql)
  "$client" --defaults-file="$ROOT_CNF" --protocol=tcp -e "SELECT 1" >/dev/null ||
    die "cannot log in to MariaDB over TLS as root"
}
