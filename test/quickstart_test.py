#!/usr/bin/env python3
"""docs/quickstart.md followed step by step against the running sandbox.

The commands and files are taken from the document itself (its ```sql, ```properties and ```yaml
blocks), so a quickstart that stops working fails here. What the sandbox cannot be is replaced, and
each replacement is printed:
  - step 1: the SQL block runs as root on the sandbox's MariaDB with the user renamed (qs_monitor, so
    the sandbox's own monitoring user is untouched), a generated password, and BINLOG MONITOR for
    REPLICATION CLIENT, exactly as the paragraph under the block says for MariaDB 10.5+;
  - step 2: the canary SQL runs as written;
  - step 3: the simulated Kafka Connect (cdc-sim) cannot change a connector's config over REST, so
    the connector's config is read back and must carry what the block adds (the canary table in
    table.include.list, heartbeat.interval.ms), and both topics the section names must exist;
  - step 4: the YAML block with the sandbox's addresses, ports, users and files put in the place of
    the example values (the mock Kafka broker speaks PLAINTEXT, so `properties` goes); then the
    document's --config.check;
  - step 5 (binary): the built binary on a free port instead of :9877; the status page must show
    every connector OK, with a latency and a TLS version, within marker.interval + marker.timeout
    (40 s at the defaults the quickstart keeps; allowed 40 s plus 20 s for the first REST poll,
    marker write and scrape);
  - step 7: the iptables rule of the document on the connector's binlog address (in the sandbox,
    the connector's fault proxy, which is its `database.hostname:database.port`), as root;
    cdc_silent_failure must turn 1 for that connector only, while REST still says RUNNING, "within
    about a minute" (allowed 75 s: a 10 s marker interval plus the 30 s stall window of a freshly
    started exporter, measured 49 s); after the rule is deleted it must be OK again.

  CDC_SANDBOX_DIR=build/sandbox-test python3 test/quickstart_test.py build/exporter/cdc-sentinel

Needs root (iptables, as the document's step 7). Exit 0 if every step passed, 1 otherwise.
"""

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandbox_checks import (Checks, http_get, read_env, scrape, start_exporter,  # noqa: E402
                            stop_exporter, value, wait)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(REPO, "docs", "quickstart.md")
QS_USER = "qs_monitor"

step = Checks()


def note(text):
    print("      (sandbox) " + text, flush=True)


def blocks(text):
    """[(section heading, language, body)] for every fenced block, in order."""
    out, section = [], ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:].strip()
        m = re.match(r"^```(\w*)\s*$", line)
        if m:
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append((section, m.group(1), "\n".join(lines[i + 1:j])))
            i = j
        i += 1
    return out


def the_block(all_blocks, section_prefix, lang):
    found = [b for s, l, b in all_blocks if s.startswith(section_prefix) and l == lang]
    if not found:
        sys.exit("quickstart_test: no ```%s block in section '%s' of %s" %
                 (lang, section_prefix, DOC))
    return found[0]


def root_sql(env, sql):
    return subprocess.run(["mariadb", "--defaults-file=" + env["MYSQL_ROOT_CNF"], "-N", "-B"],
                          input=sql, text=True, capture_output=True, timeout=30)





def status(port):
    try:
        return json.loads(http_get("http://127.0.0.1:%d/api/v1/status" % port))
    except Exception:  # noqa: BLE001
        return {}


def verdicts(port):
    return {c.get("connector"): c for c in status(port).get("connectors", [])}



def main():
    if len(sys.argv) != 2:
        sys.exit("usage: quickstart_test.py PATH/TO/cdc-sentinel")
    binary = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        sys.exit("quickstart_test: needs root (step 7 is an iptables rule, as in the document)")
    sb = os.environ.get("CDC_SANDBOX_DIR") or os.path.join(REPO, ".sandbox")
    env = read_env(sb)
    if env.get("SIM_ENABLED") != "1":
        sys.exit("quickstart_test: the sandbox runs without cdc-sim; nothing to follow")
    text = open(DOC).read()
    all_blocks = blocks(text)
    tls13 = env["CONNECTOR_TLS13_NAME"]
    tls12 = env["CONNECTOR_TLS12_NAME"]
    work = tempfile.mkdtemp(prefix="cdc-quickstart-")

    # ---- 1. A monitoring user on MySQL ----
    sql = the_block(all_blocks, "1.", "sql")
    password = secrets.token_hex(12)
    if "REPLICATION CLIENT" not in sql or "BINLOG MONITOR" not in text:
        step("1. the MariaDB note (BINLOG MONITOR for REPLICATION CLIENT) still applies", False,
             "the SQL block or the note changed; update this test with the document")
    sql = (sql.replace("'cdc_monitor'", "'%s'" % QS_USER).replace("<password>", password)
           .replace("REPLICATION CLIENT", "BINLOG MONITOR"))
    note("SQL block of step 1 as root, user %s, BINLOG MONITOR (MariaDB)" % QS_USER)
    r = root_sql(env, "DROP USER IF EXISTS '%s'@'%%';\n%s" % (QS_USER, sql))
    step("1. the monitoring user and its grants", r.returncode == 0, r.stderr.strip())
    pw_file = os.path.join(work, "mysql-monitor")
    with open(pw_file, "w") as f:
        f.write(password)  # printf '%s' 'secret' > ... : no newline, as the document says
    os.chmod(pw_file, 0o400)

    # ---- 2. The canary table ----
    r = root_sql(env, the_block(all_blocks, "2.", "sql"))
    step("2. the canary table SQL runs as written", r.returncode == 0, r.stderr.strip())

    # ---- 3. The connector: capture the canary table, send heartbeats ----
    props = dict(line.split("=", 1) for line in the_block(all_blocks, "3.", "properties")
                 .splitlines() if line and not line.startswith("#"))
    canary = [t for t in props.get("table.include.list", "").split(",") if "cdc_canary" in t]
    step("3. the document adds the canary table and heartbeats",
         canary == ["cdc_canary.markers"] and "heartbeat.interval.ms" in props, str(props))
    note("cdc-sim's connector configs are read-only: checking they carry what step 3 adds")
    # The mock broker creates topics on first write: canary rows written as root make the marker
    # topics, and (Debezium sends a heartbeat with the binlog traffic, once heartbeat.interval.ms
    # has passed) the heartbeat topics, as pre-creating them would on a real cluster.
    note("the mock broker creates topics on first write: a canary row written as root every 1 s")
    writes = []

    def write_row():
        r = root_sql(env, "INSERT INTO cdc_canary.markers (id, token) VALUES ('quickstart-test', "
                          "'%d') ON DUPLICATE KEY UPDATE token = VALUES(token);" % len(writes))
        writes.append(r.returncode == 0 or r.stderr.strip())
    prefixes = [json.loads(http_get("%s/connectors/%s/config" % (env["CONNECT_URL"], n)))
                ["topic.prefix"] for n in (tls13, tls12)]
    wanted = {t % p for p in prefixes for t in ("%s.cdc_canary.markers", "__debezium-heartbeat.%s")}

    def topic_names():
        write_row()
        topics = subprocess.run(["kcat", "-b", env["KAFKA_BOOTSTRAP"], "-L", "-J"],
                                capture_output=True, text=True, timeout=30)
        got = {t["topic"] for t in json.loads(topics.stdout or "{}").get("topics", [])}
        return got if wanted <= got else None

    names = wait(topic_names, 30) or topic_names() or set()
    step("3. (sandbox) %d canary row(s) written" % len(writes), all(w is True for w in writes),
         str([w for w in writes if w is not True][:1]))
    connectors = {}
    for name in (tls13, tls12):
        cfg = json.loads(http_get("%s/connectors/%s/config" % (env["CONNECT_URL"], name)))
        connectors[name] = cfg
        tables = cfg.get("table.include.list", "").split(",")
        step("3. %s captures %s and sends heartbeats" % (name, canary[0] if canary else "?"),
             bool(canary) and canary[0] in tables and "heartbeat.interval.ms" in cfg,
             "table.include.list=%s" % cfg.get("table.include.list"))
        prefix = cfg["topic.prefix"]
        for topic in ("%s.cdc_canary.markers" % prefix, "__debezium-heartbeat.%s" % prefix):
            step("3. topic %s exists" % topic, topic in names, "kcat -L: %s" % sorted(names))

    # ---- 4. The configuration ----
    cfg = yaml.safe_load(the_block(all_blocks, "4.", "yaml"))
    cc, src, kc = cfg["connect_clusters"][0], cfg["sources"][0], cfg["kafka_clusters"][0]
    example = cfg["connectors"][0]
    cc["url"] = env["CONNECT_URL"]
    src.update(host=env["MYSQL_HOST"], port=int(env["MYSQL_PORT"]), user=QS_USER,
               password_file=pw_file)
    src["tls"]["ca_file"] = env["MYSQL_CA"]
    kc["bootstrap_servers"] = env["KAFKA_BOOTSTRAP"]
    kc.pop("properties", None)
    step("4. the offsets topic the document names is the workers' one",
         cc.get("offsets_topic") == env["KAFKA_OFFSETS_TOPIC"], str(cc.get("offsets_topic")))
    step("4. the Connect cluster names the Kafka cluster",
         cc.get("kafka_cluster") == kc["name"], str(cc.get("kafka_cluster")))
    cfg["connectors"] = []
    for name, c in connectors.items():
        entry = dict(example)
        entry.update(name=name, topic_prefix=c["topic.prefix"], binlog_user=c["database.user"])
        cfg["connectors"].append(entry)
    note("YAML of step 4 with the sandbox's addresses; tls.mode %s kept; no Kafka properties "
         "(PLAINTEXT mock broker); one entry per sandbox connector" % src["tls"].get("mode"))
    config = os.path.join(work, "config.yaml")
    with open(config, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    r = subprocess.run([binary, "--config.file=" + config, "--config.check"],
                       capture_output=True, text=True, timeout=30)
    step("4. --config.check", r.returncode == 0, (r.stdout + r.stderr).strip())

    # ---- 5. Run it (the binary) ----
    log_path = os.path.join(work, "exporter.log")
    exporter, port = start_exporter(binary, config, log_path)
    rule = None
    try:
        if not step("5. the binary starts", bool(port), "no start line in %s" % log_path):
            return
        note("the binary on 127.0.0.1:%d (a free port) instead of :9877" % port)
        t0 = time.time()

        def all_ok():
            v = verdicts(port)
            return all(v.get(n, {}).get("verdict_state") == "ok" for n in connectors) and v

        ok = wait(all_ok, 60)
        step("5. every connector OK within %.0f s (status API)" % (time.time() - t0), bool(ok),
             json.dumps({n: (c.get("verdict_state"), c.get("reason"))
                         for n, c in verdicts(port).items()}))
        page = ""
        try:
            page = http_get("http://127.0.0.1:%d/" % port)
        except Exception as e:  # noqa: BLE001
            page = str(e)
        for name in connectors:
            step("5. the status page has a row for %s" % name, name in page, page[:200])
        m = scrape(port)
        for name in connectors:
            tls = [l.get("tls_version") for l, _ in m.get("cdc_marker_last_latency_seconds", [])
                   if l.get("connector") == name]
            step("5. %s has a marker latency and a TLS version" % name,
                 bool(tls) and tls[0] not in ("", "unknown"), "tls_version %s" % tls)

        # ---- 7. Test it: make a connector go silent ----
        host, dport = connectors[tls13]["database.hostname"], connectors[tls13]["database.port"]
        rule = ["OUTPUT", "-p", "tcp", "-d", host, "--dport", dport, "-j", "DROP"]
        note("step 7's rule on %s's binlog address %s:%s (its fault proxy)" % (tls13, host, dport))
        r = subprocess.run(["iptables", "-I"] + rule, capture_output=True, text=True)
        if not step("7. iptables -I OUTPUT ... -j DROP", r.returncode == 0, r.stderr.strip()):
            rule = None
            return
        t0 = time.time()

        def silent():
            return value(scrape(port), "cdc_silent_failure", connector=tls13) == 1

        detected = wait(silent, 75)
        took = time.time() - t0
        step("7. cdc_silent_failure{connector=%s} 1 within %.0f s" % (tls13, took), detected,
             json.dumps(verdicts(port).get(tls13, {}).get("reason")))
        rest = json.loads(http_get("%s/connectors/%s/status" % (env["CONNECT_URL"], tls13)))
        step("7. the Connect REST API still says RUNNING",
             rest.get("connector", {}).get("state") == "RUNNING", json.dumps(rest)[:200])
        step("7. the other connector is not silent",
             value(scrape(port), "cdc_silent_failure", connector=tls12) == 0)
        subprocess.run(["iptables", "-D"] + rule, check=False)
        rule = None
        ok = wait(all_ok, 120)
        step("7. OK again after the rule is deleted", bool(ok),
             json.dumps({n: c.get("verdict_state") for n, c in verdicts(port).items()}))
    finally:
        if rule:
            subprocess.run(["iptables", "-D"] + rule, check=False)
        stop_exporter(exporter)
        root_sql(env, "DROP USER IF EXISTS '%s'@'%%';" % QS_USER)
        if step.failures:
            print("exporter log: %s" % log_path)


if __name__ == "__main__":
    main()
    sys.exit(step.summary())
