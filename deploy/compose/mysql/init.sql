-- Runs once, when the mysql container starts with an empty data directory
-- (/docker-entrypoint-initdb.d). `docker compose down` discards the data; the next `up` runs it again.
--
-- Passwords: the placeholder values of ../secrets/ (mysql-monitor.txt and the `password=` line of
-- debezium-tls13.properties / debezium-tls12.properties). They are committed on purpose because
-- this environment is local and disposable; test/deploy_test.py checks that both sides agree.
-- Never reuse them anywhere else.

-- Application data the connectors capture.
CREATE DATABASE IF NOT EXISTS inventory;
CREATE TABLE IF NOT EXISTS inventory.orders (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer VARCHAR(64) NOT NULL,
  amount DECIMAL(10, 2) NOT NULL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
);
INSERT INTO inventory.orders (customer, amount) VALUES ('sally', 12.50), ('george', 99.00);

-- The canary table of docs/configuration.md ("The canary table"). cdc-sentinel would create it
-- (canary.create: true), but creating it here puts it in the connectors' initial snapshot.
CREATE DATABASE IF NOT EXISTS cdc_canary;
CREATE TABLE IF NOT EXISTS cdc_canary.markers (
  id VARCHAR(64) NOT NULL PRIMARY KEY,
  token VARCHAR(64) NOT NULL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)
);

-- One replication user per connector (connectors[].binlog_user), so that cdc-sentinel can tell
-- their binlog sessions apart. TLS required: the server negotiates 1.3 or 1.2 per client.
-- Privileges: Debezium's MySQL connector documentation.
CREATE USER 'debezium_tls13'@'%' IDENTIFIED BY 'placeholder-debezium-tls13-NOT-A-SECRET' REQUIRE SSL;
GRANT SELECT, RELOAD, SHOW DATABASES, LOCK TABLES, REPLICATION SLAVE, REPLICATION CLIENT
  ON *.* TO 'debezium_tls13'@'%';
CREATE USER 'debezium_tls12'@'%' IDENTIFIED BY 'placeholder-debezium-tls12-NOT-A-SECRET' REQUIRE SSL;
GRANT SELECT, RELOAD, SHOW DATABASES, LOCK TABLES, REPLICATION SLAVE, REPLICATION CLIENT
  ON *.* TO 'debezium_tls12'@'%';

-- cdc-sentinel's monitoring user, with the privileges of docs/configuration.md (sources[]):
-- PROCESS (the connectors' sessions), REPLICATION CLIENT (SHOW MASTER STATUS, SHOW BINARY LOGS),
-- SELECT on performance_schema (the TLS version of each session), and the canary table.
CREATE USER 'cdc_monitor'@'%' IDENTIFIED BY 'placeholder-cdc-monitor-NOT-A-SECRET' REQUIRE SSL;
GRANT PROCESS, REPLICATION CLIENT ON *.* TO 'cdc_monitor'@'%';
GRANT SELECT ON performance_schema.* TO 'cdc_monitor'@'%';
GRANT SELECT, INSERT, UPDATE, CREATE ON cdc_canary.* TO 'cdc_monitor'@'%';
