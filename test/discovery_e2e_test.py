#!/usr/bin/env python3
"""Discovery (issue #15) on the running sandbox, end to end.

The configuration names only the Connect cluster, the source (its monitoring user, and the fault
proxies' addresses as aliases: the simulated connectors reach MariaDB through them) and the Kafka
cluster; test/sandbox/demo-config writes it with CDC_DEMO_DISCOVER=1. Checks:
  1. both sandbox connectors are discovered and judged as with the explicit configuration: the same
     settings (marker interval and timeout, heartbeat max age, source, Kafka cluster, topic prefix),
     ok, and a blackholed binlog connection judged stalled while the other stays ok;
  2. a third connector created through the simulator's REST API (test/sandbox/connector create) is
     monitored within one REST poll (5 s, plus 2 s for the reconcile tick and the scrape), then ok;
  3. a connector whose table.include.list lacks the canary table is counted as canary_not_captured
     and logged with that reason, and never gets a verdict (so it can never page);
  4. the third connector is dropped within one poll of its deletion.

  CDC_SANDBOX_DIR=build/sandbox-test python3 test/discovery_e2e_test.py build/exporter/cdc-sentinel

Exit 0 if every check passed, 1 otherwise. About 2 minutes.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandbox_checks import (Checks, read_env, scrape, start_exporter, stop_exporter,  # noqa: E402
                            value, wait)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SANDBOX = os.path.join(REPO, "test", "sandbox")
POLL = 5.0  # connect_clusters[0].interval in demo-config
SLACK = 2.0  # the reconcile tick (1 s) and the scrape

check = Checks()


def sandbox(*args):
    return subprocess.run([os.path.join(SANDBOX, args[0])] + list(args[1:]), capture_output=True,
                          text=True, timeout=60)


def verdict(m, name):
    for labels, v in m.get("cdc_connector_verdict", []):
        if labels.get("connector") == name and v == 1:
            return labels.get("verdict")
    return None


JUDGED = ("cdc_connector_verdict", "cdc_silent_failure", "cdc_marker_", "cdc_heartbeat_")


def has_series(m, name, families=("cdc_",)):
    """Whether a series of one of `families` (name prefixes) has connector=name."""
    return any(labels.get("connector") == name for family, samples in m.items()
               if family.startswith(families) for labels, _ in samples)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: discovery_e2e_test.py PATH/TO/cdc-sentinel")
    binary = os.path.abspath(sys.argv[1])
    sb = os.environ.get("CDC_SANDBOX_DIR") or os.path.join(REPO, ".sandbox")
    env = read_env(sb)
    tags = env["CONNECTORS"].split(",")
    names = {t: env["CONNECTOR_%s_NAME" % t.upper()] for t in tags}
    prefixes = {t: env["CONNECTOR_%s_TOPIC_PREFIX" % t.upper()] for t in tags}
    work = tempfile.mkdtemp(prefix="cdc-discovery-e2e-")
    config = os.path.join(work, "discover.yaml")
    r = subprocess.run([os.path.join(SANDBOX, "demo-config")], capture_output=True, text=True,
                       env=dict(os.environ, CDC_SANDBOX_DIR=sb, CDC_DEMO_DISCOVER="1",
                                CDC_DEMO_OUT=config))
    if not check("demo-config CDC_DEMO_DISCOVER=1", r.returncode == 0, r.stderr.strip()):
        return check.summary()
    text = open(config).read()
    check("the configuration has no connectors[] entry", "\nconnectors:" not in text)
    r = subprocess.run([binary, "--config.file=" + config, "--config.check"], capture_output=True,
                       text=True)
    check("--config.check", r.returncode == 0, (r.stdout + r.stderr).strip())

    extra, nocanary = "discovered-extra", "discovered-nocanary"
    log_path = os.path.join(work, "exporter.log")
    exporter, port = start_exporter(binary, config, log_path)
    fault_on = None
    try:
        if not check("the exporter starts", bool(port),
                     "" if port else "no start line in %s" % log_path):
            return check.summary()

        # ---- 1. the sandbox's connectors, discovered ----
        def all_ok():
            m = scrape(port)
            return m if all(verdict(m, n) == "ok" for n in names.values()) else None

        t0 = time.time()
        m = wait(all_ok, 60)
        check("1. both connectors discovered and ok within %.0f s" % (time.time() - t0), bool(m),
              json.dumps({n: verdict(scrape(port), n) for n in names.values()}))
        m = m or scrape(port)
        check("1. cdc_discovered_connectors{result=monitored} 2",
              value(m, "cdc_discovered_connectors", connect_cluster="sandbox",
                    result="monitored") == 2)
        for t, n in names.items():
            info = [l for l, _ in m.get("cdc_connector_pipeline_info", [])
                    if l.get("connector") == n]
            want = {"connect_cluster": "sandbox", "source": "sandbox-mariadb",
                    "kafka_cluster": "sandbox", "topic_prefix": prefixes[t]}
            check("1. %s sits where the explicit configuration puts it" % n,
                  bool(info) and all(info[0].get(k) == v for k, v in want.items()),
                  json.dumps(info))
            # demo-config's explicit settings: markers 5 s / 10 s, heartbeat max age 30 s.
            for metric, want_v in (("cdc_marker_interval_seconds", 5),
                                   ("cdc_marker_timeout_seconds", 10),
                                   ("cdc_heartbeat_max_age_seconds", 30)):
                got = value(m, metric, connector=n)
                check("1. %s %s = %s as explicit" % (n, metric, want_v), got == want_v,
                      "got %s" % got)
        victim, other = names[tags[0]], names[tags[-1]]
        proxy = env["CONNECTOR_%s_PROXY" % tags[0].upper()]
        r = sandbox("fault", proxy, "blackhole")
        fault_on = proxy
        check("1. fault %s blackhole" % proxy, r.returncode == 0, r.stderr.strip())
        t0 = time.time()
        stalled = wait(lambda: verdict(scrape(port), victim) == "stalled", 40)
        check("1. %s stalled within %.0f s (its binlog blackholed)" % (victim, time.time() - t0),
              bool(stalled))
        check("1. %s still ok" % other, verdict(scrape(port), other) == "ok")
        sandbox("fault", proxy, "pass")
        fault_on = None
        check("1. %s ok again after the fault" % victim,
              bool(wait(lambda: verdict(scrape(port), victim) == "ok", 90)))

        # ---- 2. a connector created over REST ----
        r = sandbox("connector", "create", extra)
        created = time.time()
        if not check("2. test/sandbox/connector create %s" % extra, r.returncode == 0,
                     (r.stdout + r.stderr).strip()[:300]):
            return check.summary()
        seen = wait(lambda: verdict(scrape(port), extra) is not None, POLL + SLACK, 0.2)
        check("2. %s monitored %.1f s after its creation (one poll: %.0f s + %.0f s)"
              % (extra, time.time() - created, POLL, SLACK), bool(seen))
        check("2. %s ok" % extra, bool(wait(lambda: verdict(scrape(port), extra) == "ok", 60)),
              str(verdict(scrape(port), extra)))

        # ---- 3. a connector that does not capture the canary table ----
        r = sandbox("connector", "create", nocanary, "--tables", "inventory.customers")
        check("3. create %s without the canary table" % nocanary, r.returncode == 0,
              (r.stdout + r.stderr).strip()[:300])
        counted = wait(lambda: value(scrape(port), "cdc_discovered_connectors",
                                     connect_cluster="sandbox",
                                     result="canary_not_captured") == 1, POLL + SLACK, 0.2)
        check("3. cdc_discovered_connectors{result=canary_not_captured} 1", bool(counted))
        with open(log_path) as f:
            logged = [l for l in f if nocanary in l and "canary_not_captured" in l]
        check("3. the log says why", bool(logged) and "table.include.list" in logged[0],
              logged[0].strip() if logged else "no line")
        # Held for two stall windows' worth: it must never get a verdict (nor page).
        end = time.time() + 30
        never = True
        while time.time() < end:
            if has_series(scrape(port), nocanary, JUDGED):
                never = False
                break
            time.sleep(2)
        check("3. %s is never judged (no verdict, marker or heartbeat series; its REST state "
              "series stay)" % nocanary, never)

        # ---- 4. deleted ----
        r = sandbox("connector", "delete", extra)
        deleted = time.time()
        check("4. test/sandbox/connector delete %s" % extra, r.returncode == 0,
              (r.stdout + r.stderr).strip()[:300])
        gone = wait(lambda: not has_series(scrape(port), extra), POLL + SLACK, 0.2)
        check("4. %s dropped %.1f s after its deletion" % (extra, time.time() - deleted),
              bool(gone))
        check("4. the sandbox's connectors still ok",
              bool(wait(all_ok, 30)),
              json.dumps({n: verdict(scrape(port), n) for n in names.values()}))
    finally:
        if fault_on:
            sandbox("fault", fault_on, "pass")
        for name in (extra, nocanary):
            sandbox("connector", "delete", name)
        stop_exporter(exporter)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
