#!/usr/bin/env python3
"""The cases where verdict v2 must NOT page (issue "Verdict v2", Must show).

Starts a private sandbox and cdc-sentinel with the default marker settings
(10 s / 30 s, heartbeat max_age 60 s, silent_failure.window auto) and
auto_restart enabled, the exporter running under the sandbox's own uid
(cdc-exporter-test) so that its Kafka connections can be cut alone. Then,
for each case: waits until both connectors are judged ok, injects the fault
on aurora-cdc-tls12 (or on everything, for the outages), holds it --hold
seconds (default 180) while scraping /metrics every second, heals it and
waits for ok again. Records, per case: every verdict seen per connector and
for how long, the first time the expected verdict showed, stalled seconds,
restarts (cdc_remediation_restarts_total) and silent-failure scrapes.

The case fails if anything is ever judged stalled, or a restart is sent.

With --paging, Debian's Prometheus (the shipped rules, alerts/cdc-sentinel.rules.yml,
scrape and evaluation every 5 s) scrapes the exporter and sends to Debian's
Alertmanager (group_wait 1 s), which notifies a webhook in this process. Each
case then also records every notification received from its injection until
the connectors are ok again (plus 30 s), and Prometheus' own ALERTS history
over that span; it fails on any CdcSilentFailure or critical notification,
or any CdcSilentFailure ALERTS sample (pending included).

  sudo bench/no_false_page.py [--hold 180] [--cases delay12,backlog,...]
      [--paging] [--out bench/results/no-false-page.json]

Cases: delay12 backlog pause exporter_kafka kafka_down source_down
connect_down marker_topic_missing canary_not_captured.
"""

import argparse
import http.server
import json
import os
import pwd
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

TLS12, TLS13 = "aurora-cdc-tls12", "aurora-cdc-tls13"
STATES = ["ok", "lagging", "stalled", "not_running", "misconfigured",
          "unknown"]


class Case:
    def __init__(self, name, expect, inject, heal, exporter_config=None,
                 prepare=None):
        self.name = name
        self.expect = expect          # {connector: acceptable verdicts}
        self.inject = inject          # list of commands (lists)
        self.heal = heal
        self.exporter_config = exporter_config  # fn(path) -> path, or None
        self.prepare = prepare        # fn() before the exporter starts


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--hold", type=float, default=180)
    ap.add_argument("--cases", default="")
    ap.add_argument("--build-dir", default=B.default_build_dir())
    ap.add_argument("--settle-limit", type=float, default=180)
    ap.add_argument("--out", default=None)
    ap.add_argument("--paging", action="store_true",
                    help="count notifications through Prometheus and "
                    "Alertmanager")
    args = ap.parse_args()

    if os.geteuid() != 0:
        sys.exit("no_false_page: needs root (iptables, the exporter's uid)")
    exporter_bin = os.path.join(args.build_dir, "exporter", "cdc-sentinel")
    sb_dir = tempfile.mkdtemp(prefix="cdc-bench-nfp-")
    os.chmod(sb_dir, 0o711)
    sb = B.Sandbox(sb_dir, args.build_dir)
    env = sb.up()
    user = env.get("EXPORTER_TEST_USER", "cdc-exporter-test")
    uid = pwd.getpwnam(user).pw_uid
    fault = os.path.join(B.SANDBOX, "fault")
    burst = os.path.join(B.SANDBOX, "burst")
    senv = dict(os.environ, CDC_SANDBOX_DIR=sb_dir,
                CDC_BUILD_DIR=args.build_dir)

    def run(cmd):
        r = subprocess.run(cmd, env=senv, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("%s: %s%s" % (" ".join(cmd), r.stdout,
                                              r.stderr))
        return r.stdout

    mysql_rule = ["OUTPUT", "-o", "lo", "-p", "tcp", "--dport",
                  env["MYSQL_PORT"], "-m", "owner", "--uid-owner", str(uid),
                  "-j", "REJECT", "--reject-with", "tcp-reset"]

    def config(path, canary_table=None):
        sb.demo_config(path, interval="10s", timeout="30s",
                       heartbeat_max_age="60s")
        text = open(path).read()
        text = text.replace("auto_restart: {enabled: false",
                            "auto_restart: {enabled: true")
        if canary_table:
            text = text.replace("table: markers}", "table: %s}" % canary_table)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        return path

    ok_both = {TLS12: {"ok"}, TLS13: {"ok"}}
    cases = [
        Case("delay12", {TLS12: {"ok", "lagging"}, TLS13: {"ok"}},
             [[fault, "tls12", "delay", "12000"]], [[fault, "tls12", "pass"]]),
        Case("backlog", {TLS12: {"ok", "lagging"}, TLS13: {"ok"}},
             [[fault, "tls12", "throttle", "400"], [burst, "40000"]],
             [[fault, "tls12", "throttle", "0"]]),
        Case("pause", {TLS12: {"ok", "lagging"}, TLS13: {"ok", "lagging"}},
             [[fault, "tls12", "pause-every", "3000", "30000"]],
             [[fault, "tls12", "pause-stop"]]),
        Case("exporter_kafka", {TLS12: {"ok", "unknown"},
                                TLS13: {"ok", "unknown"}},
             [[fault, "exporter-kafka", "drop"]],
             [[fault, "exporter-kafka", "pass"]]),
        Case("kafka_down", {TLS12: {"ok", "unknown"}, TLS13: {"ok", "unknown"}},
             [[fault, "kafka-broker", "down", "all"]],
             [[fault, "kafka-broker", "up", "all"]]),
        Case("source_down", {TLS12: {"ok", "unknown"},
                             TLS13: {"ok", "unknown"}},
             [["iptables", "-I"] + mysql_rule, [fault, "tls12", "blackhole"],
              [fault, "tls13", "blackhole"]],
             [["iptables", "-D"] + mysql_rule, [fault, "tls12", "pass"],
              [fault, "tls13", "pass"]]),
        Case("connect_down", ok_both, [[fault, "connect", "blackhole"]],
             [[fault, "connect", "pass"]]),
        Case("marker_topic_missing",
             {TLS12: {"unknown", "misconfigured"},
              TLS13: {"unknown", "misconfigured"}}, [], [],
             exporter_config=lambda p: config(p, "markers_uncaptured")),
        Case("canary_not_captured",
             {TLS12: {"unknown", "misconfigured", "lagging"},
              TLS13: {"unknown", "misconfigured", "lagging"}}, [], [],
             exporter_config=lambda p: config(p, "markers_uncaptured2"),
             prepare=lambda: [subprocess.run(
                 ["kcat", "-P", "-b", env["KAFKA_BOOTSTRAP"], "-t",
                  "%s.cdc_canary.markers_uncaptured2" %
                  env["CONNECTOR_%s_TOPIC_PREFIX" % t]],
                 input="{}\n", text=True, check=True)
                 for t in ("TLS12", "TLS13")]),
    ]
    wanted = [c for c in args.cases.split(",") if c]
    if wanted:
        cases = [c for c in cases if c.name in wanted]

    wrapper = os.path.join(sb_dir, "cdc-sentinel-as-" + user)
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec setpriv --reuid=%s --regid=%s --init-groups "
                "-- '%s' \"$@\"\n" % (user, user, exporter_bin))
    os.chmod(wrapper, 0o755)

    results = {"hold_s": args.hold, "cases": [], "started": time.time(),
               "load_start": B.loadavg(), "paging": args.paging}
    exp = None
    current_cfg = None
    paging = Paging(sb_dir) if args.paging else None
    try:
        for case in cases:
            cfg = os.path.join(sb_dir, "cdc-sentinel-%s.yaml" % case.name)
            if case.prepare:
                case.prepare()
            (case.exporter_config or config)(cfg)
            want_cfg = open(cfg).read()
            if exp is None or want_cfg != current_cfg:
                if exp:
                    exp.stop()
                exp = B.Exporter(wrapper, cfg, os.path.join(
                    sb_dir, "exporter-%s.log" % case.name))
                current_cfg = want_cfg
                if paging:
                    paging.target(exp.port)
            res = run_case(case, exp, run, args, paging)
            results["cases"].append(res)
            B.log("%-22s %s" % (case.name, res["summary"]))
    finally:
        if exp:
            exp.stop()
        if paging:
            paging.stop()
        subprocess.run(["iptables", "-D"] + mysql_rule, capture_output=True)
        subprocess.run([fault, "heal"], env=senv, capture_output=True)
        sb.down()
    results["load_end"] = B.loadavg()
    results["failed"] = [c["case"] for c in results["cases"] if not c["pass"]]
    if args.out:
        B.write_json(args.out, results)
    print("FAILED: %s" % results["failed"] if results["failed"] else
          "all %d cases: no stalled verdict, no restart%s" %
          (len(results["cases"]), ", no page" if args.paging else ""))
    return 1 if results["failed"] else 0


class Paging:
    """Prometheus (the shipped rules) -> Alertmanager -> a webhook here."""

    RULES = os.path.join(B.REPO, "alerts", "cdc-sentinel.rules.yml")

    def __init__(self, work):
        self.work = work
        self.notified = []  # (received at, status, labels)
        lock = threading.Lock()
        self.lock = lock
        notified = self.notified

        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                now = time.time()
                with lock:
                    for a in json.loads(body).get("alerts", []):
                        notified.append((now, a["status"], a["labels"]))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        threading.Thread(target=self.hook.serve_forever, daemon=True).start()
        self.am_port = B.free_port()
        am_cfg = os.path.join(work, "alertmanager.yml")
        with open(am_cfg, "w") as f:
            f.write("route:\n  receiver: hook\n  group_by: [alertname, "
                    "connector]\n  group_wait: 1s\n  group_interval: 5s\n"
                    "  repeat_interval: 1h\nreceivers:\n  - name: hook\n"
                    "    webhook_configs:\n      - url: http://127.0.0.1:%d/"
                    "\n        send_resolved: true\n" %
                    self.hook.server_address[1])
            with open(os.path.join(B.REPO, "alerts",
                                   "alertmanager-inhibit.yml")) as inh:
                f.write(inh.read())
        os.makedirs(os.path.join(work, "am-data"), exist_ok=True)
        self.am = B.Daemon(["/usr/bin/prometheus-alertmanager",
                            "--config.file=" + am_cfg,
                            "--storage.path=" + os.path.join(work, "am-data"),
                            "--web.listen-address=127.0.0.1:%d" % self.am_port,
                            "--cluster.listen-address="],
                           os.path.join(work, "alertmanager.log"))
        self.prom_port = B.free_port()
        self.sd = os.path.join(work, "targets.json")
        self.target(None)
        prom_cfg = os.path.join(work, "prometheus.yml")
        with open(prom_cfg, "w") as f:
            f.write("global:\n  scrape_interval: 5s\n"
                    "  evaluation_interval: 5s\nrule_files:\n  - %s\n"
                    "alerting:\n  alertmanagers:\n    - static_configs:\n"
                    "        - targets: ['127.0.0.1:%d']\nscrape_configs:\n"
                    "  - job_name: cdc-sentinel\n    file_sd_configs:\n"
                    "      - files: ['%s']\n        refresh_interval: 5s\n" %
                    (self.RULES, self.am_port, self.sd))
        os.makedirs(os.path.join(work, "prom-data"), exist_ok=True)
        self.prom = B.Daemon(["/usr/bin/prometheus",
                              "--config.file=" + prom_cfg,
                              "--storage.tsdb.path=" +
                              os.path.join(work, "prom-data"),
                              "--web.listen-address=127.0.0.1:%d" %
                              self.prom_port,
                              # The first evaluation's alerts are dropped
                              # while Alertmanager is being discovered.
                              "--rules.alert.resend-delay=5s"],
                             os.path.join(work, "prometheus.log"))
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                self.query("up")
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("Prometheus did not answer; see %s" %
                           os.path.join(work, "prometheus.log"))

    def target(self, port):
        tmp = self.sd + ".tmp"
        with open(tmp, "w") as f:
            json.dump([{"targets": ["127.0.0.1:%d" % port]}] if port else [],
                      f)
        os.replace(tmp, self.sd)

    def query(self, q):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (
            self.prom_port, urllib.parse.urlencode({"query": q}))
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)["data"]["result"]

    def since(self, t0):
        with self.lock:
            return [(t, s, l) for t, s, l in self.notified if t >= t0]

    def stop(self):
        self.prom.stop()
        self.am.stop()
        self.hook.shutdown()


def verdicts(m):
    out = {}
    for labels, v in m.get("cdc_connector_verdict", []):
        if v == 1:
            out[labels["connector"]] = labels["verdict"]
    return out


def restarts(m):
    return sum(v for labels, v in m.get("cdc_remediation_restarts_total", [])
               if labels.get("result") == "ok")


def settle(exp, limit, need_ok=True):
    """Waits until both connectors are ok (markers flowing again)."""
    t0 = time.time()
    while time.time() - t0 < limit:
        try:
            v = verdicts(exp.metrics())
        except OSError:
            v = {}
        if not need_ok or (v.get(TLS12) == "ok" and v.get(TLS13) == "ok"):
            return time.time() - t0
        time.sleep(1)
    return None


def run_case(case, exp, run, args, paging=None):
    fixed_config = case.exporter_config is not None
    settled = settle(exp, args.settle_limit, need_ok=not fixed_config)
    base_restarts = restarts(exp.metrics())
    seen = {TLS12: {}, TLS13: {}}
    first_expected = {}
    stalled_scrapes = 0
    silent_scrapes = 0
    t0 = time.time()
    for cmd in case.inject:
        run(cmd)
    last = t0
    while time.time() - t0 < args.hold:
        time.sleep(1)
        try:
            m = exp.metrics()
        except OSError:
            continue
        now = time.time()
        v = verdicts(m)
        for c in (TLS12, TLS13):
            s = v.get(c, "absent")
            seen[c][s] = seen[c].get(s, 0) + (now - last)
            if s == "stalled":
                stalled_scrapes += 1
            non_ok = case.expect[c] - {"ok"}
            if c not in first_expected and s in non_ok:
                first_expected[c] = round(now - t0, 1)
        silent_scrapes += sum(1 for labels, x in m.get("cdc_silent_failure",
                                                         []) if x == 1)
        last = now
    n_restarts = restarts(exp.metrics()) - base_restarts
    for cmd in case.heal:
        run(cmd)
    recovered = settle(exp, args.settle_limit, need_ok=not fixed_config)
    unexpected = {c: sorted(set(seen[c]) - case.expect[c] - {"absent"})
                  for c in seen}
    ok = (stalled_scrapes == 0 and silent_scrapes == 0 and n_restarts == 0 and
          not any(unexpected.values()))
    page = None
    if paging:
        # Anything the case caused reaches the webhook within a scrape, an
        # evaluation, group_wait and group_interval of the heal.
        time.sleep(30)
        span = max(1, int(time.time() - t0))
        notes = [(round(t - t0, 1), s, l) for t, s, l in paging.since(t0)
                 if l.get("alertname") != "CdcWatchdog"]
        firing = sorted({"%s{%s}" % (l.get("alertname"),
                                     l.get("connector", ""))
                         for _, s, l in notes if s == "firing"})
        silent_alerts = paging.query(
            'count_over_time(ALERTS{alertname="CdcSilentFailure"}[%ds])' %
            span)
        critical = [n for n in notes if n[2].get("severity") == "critical"]
        page = {
            "notified_firing": firing,
            "silent_failure_notifications": sum(
                1 for n in notes if n[2].get("alertname") ==
                "CdcSilentFailure"),
            "critical_notifications": len(critical),
            "silent_failure_alerts_samples": sum(
                int(float(r["value"][1])) for r in silent_alerts),
            "pending_or_firing": sorted({"%s{%s}" % (
                r["metric"].get("alertname"), r["metric"].get("connector",
                                                              ""))
                for r in paging.query("count_over_time(ALERTS[%ds])" %
                                      span)}),
        }
        ok = ok and not critical and page["silent_failure_notifications"] == 0 \
            and page["silent_failure_alerts_samples"] == 0
    return {
        "case": case.name, "pass": ok, "held_s": round(time.time() - t0, 1),
        "settled_before_s": settled, "recovered_after_s": recovered,
        "verdict_seconds": {c: {s: round(t, 1) for s, t in seen[c].items()}
                            for c in seen},
        "first_expected_s": first_expected, "stalled_scrapes": stalled_scrapes,
        "silent_failure_scrapes": silent_scrapes, "restarts": n_restarts,
        "unexpected": unexpected, "paging": page,
        "summary": "%s: %s; stalled %d, restarts %d%s" % (
            "pass" if ok else "FAIL",
            " | ".join("%s %s" % (c[-5:], ",".join(
                "%s %.0fs" % (s, t) for s, t in sorted(seen[c].items())))
                for c in (TLS12, TLS13)),
            stalled_scrapes, n_restarts,
            "" if page is None else "; critical notifications %d, "
            "notified %s" % (page["critical_notifications"],
                             ",".join(page["notified_firing"]) or "none")),
    }


if __name__ == "__main__":
    sys.exit(main())
