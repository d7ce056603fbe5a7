#!/usr/bin/env python3
"""Checks alerts/alertmanager-inhibit.yml with a real Alertmanager.

Starts Debian's Alertmanager (prometheus-alertmanager, 0.25) on a free loopback port with a
minimal route plus the inhibition rules as shipped, posts alerts through its API (the labels
Prometheus would send for the rules of alerts/cdc-sentinel.rules.yml, job and instance
included, and the pipeline labels connect_cluster, kafka_cluster and source that the
per-connector rules join from cdc_connector_pipeline_info) and checks which ones are inhibited,
and by which. Each scenario uses its own exporter instance and connector names, so the scenarios
do not touch each other.

Run from the repository root: python3 alerts/tests/inhibit_test.py [path/to/alertmanager]
Exits 0 on success, 1 with a message per problem, 2 if Alertmanager is missing.
"""
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

ROOT = os.environ.get("CDC_ALERTS_ROOT") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INHIBIT = os.path.join(ROOT, "alerts", "alertmanager-inhibit.yml")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alert(name, instance, **labels):
    severity = {"CdcSilentFailure": "critical", "CdcConnectorFailed": "critical",
                "CdcConnectorTaskFailed": "critical", "CdcSoloFailuresHigh": "info"}
    l = {"alertname": name, "job": "cdc-sentinel", "instance": instance,
         "severity": severity.get(name, "warning")}
    l.update(labels)
    return l


def c(name, tls, kafka="prod", connect="prod-connect", source="src"):
    """The labels of a per-connector alert: connector, tls_version and the pipeline labels
    (connect "" = a connector without a REST API, MSK Connect: no connect_cluster label)."""
    l = {"connector": name, "tls_version": tls, "kafka_cluster": kafka, "source": source}
    if connect:
        l["connect_cluster"] = connect
    return l


# (alert labels, expected inhibiting alertname or None)
A = "exporter-a:9877"   # Kafka outage on this exporter (cluster prod; its cluster other is fine)
A2 = "exporter-a2:9877"  # another exporter, Kafka fine
B = "exporter-b:9877"   # a stalled connector
F = "exporter-f:9877"   # a FAILED connector
M = "exporter-m:9877"   # marker writes failing
L = "exporter-l:9877"   # a lagging connector
D = "exporter-d:9877"   # discovery blind spot while REST and Kafka are down
R = "exporter-r:9877"   # Connect REST down
CASES = [
    # Kafka cluster prod unreadable by exporter A: the warnings of its connectors on prod are
    # muted (one of them on MSK Connect, without connect_cluster) ...
    (alert("CdcKafkaUnreadable", A, kafka_cluster="prod"), None),
    (alert("CdcVerdictUnknown", A, verdict="unknown", **c("a-tls13", "1.3")), "CdcKafkaUnreadable"),
    (alert("CdcConnectorLagging", A, **c("a-tls12", "1.2")), "CdcKafkaUnreadable"),
    (alert("CdcHeartbeatStale", A, **c("a-tls12", "1.2")), "CdcKafkaUnreadable"),
    (alert("CdcBinlogLagGrowing", A, **c("a-tls13", "1.3")), "CdcKafkaUnreadable"),
    (alert("CdcConnectorMisconfigured", A, verdict="misconfigured",
           **c("a-msk", "1.2", connect="")), "CdcKafkaUnreadable"),
    # ... but not those of its connectors on its other Kafka cluster (`equal: [job, instance]`
    # muted these too) ...
    (alert("CdcVerdictUnknown", A, verdict="unknown", **c("a-on-other", "1.3", kafka="other")),
     None),
    (alert("CdcConnectorLagging", A, **c("a-on-other", "1.3", kafka="other")), None),
    (alert("CdcMarkerLatencyHigh", A, **c("a-on-other-msk", "1.2", kafka="other", connect="")),
     None),
    # ... and never a page: a stall or a FAILED connector during the outage is real.
    (alert("CdcSilentFailure", A, **c("a-other", "1.2", kafka="other")), None),
    (alert("CdcSilentFailure", A, **c("a-stall-prod", "1.3")), None),
    (alert("CdcConnectorFailed", A, state="FAILED", **c("a-failed", "1.3")), None),
    # Another exporter's connectors on a Kafka cluster of the same name are not muted by
    # exporter A's outage (it may read prod fine).
    (alert("CdcVerdictUnknown", A2, verdict="unknown", **c("a2-tls13", "1.3")), None),
    # A stalled connector mutes its own warnings, not its sibling's, not the context alerts.
    (alert("CdcSilentFailure", B, **c("b-tls13", "1.3")), None),
    (alert("CdcBinlogSessionMissing", B, **c("b-tls13", "1.3")), "CdcSilentFailure"),
    (alert("CdcBinlogLagGrowing", B, **c("b-tls13", "1.3")), "CdcSilentFailure"),
    (alert("CdcBinlogSessionFlapping", B, **c("b-tls13", "1.3")), None),
    (alert("CdcSoloFailuresHigh", B, cohort="src", **c("b-tls13", "1.3")), None),
    (alert("CdcBinlogSessionMissing", B, **c("b-tls12", "1.2")), None),
    # A FAILED connector mutes its own stalled/lagging-type alerts.
    (alert("CdcConnectorFailed", F, state="FAILED", **c("f-tls13", "1.3")), None),
    (alert("CdcSilentFailure", F, **c("f-tls13", "1.3")), "CdcConnectorFailed"),
    (alert("CdcConnectorLagging", F, **c("f-tls13", "1.3")), "CdcConnectorFailed"),
    (alert("CdcConnectorTaskFailed", F, state="FAILED", task="0", **c("f-task", "unknown")),
     None),
    (alert("CdcBinlogSessionMissing", F, **c("f-task", "1.2")), "CdcConnectorTaskFailed"),
    (alert("CdcSilentFailure", F, **c("f-ok", "1.2")), None),
    # Marker writes failing mute the unknown verdicts of the same exporter, not misconfigured.
    (alert("CdcMarkerWriteFailing", M, probe="marker", target="src/10s"), None),
    (alert("CdcVerdictUnknown", M, verdict="unknown", **c("m-tls13", "1.3")), "CdcMarkerWriteFailing"),
    (alert("CdcConnectorMisconfigured", M, verdict="misconfigured", **c("m-tls12", "1.2")), None),
    # Lagging explains the growing binlog lag; a misconfigured warning stays.
    (alert("CdcConnectorLagging", L, **c("l-tls13", "1.3")), None),
    (alert("CdcBinlogLagGrowing", L, **c("l-tls13", "1.3")), "CdcConnectorLagging"),
    (alert("CdcConnectorMisconfigured", L, verdict="misconfigured", **c("l-tls12", "1.2")), None),
    # A discovered connector that cannot be monitored stays a warning whatever else fires on
    # the same exporter and Connect cluster: a failed REST poll keeps the last listing (the
    # finding is not caused by the outage), and a Kafka outage does not change it.
    (alert("CdcConnectRestDown", D, connect_cluster="prod"), None),
    (alert("CdcKafkaUnreadable", D, kafka_cluster="prod"), None),
    (alert("CdcConnectorNotMonitored", D, connect_cluster="prod",
           result="canary_not_captured"), None),
    # Connect REST down inhibits nothing, not even on its own Connect cluster: the verdict
    # keeps judging end to end (a stall while REST is down still pages), and REST down makes
    # no verdict unknown.
    (alert("CdcConnectRestDown", R, connect_cluster="prod-connect"), None),
    (alert("CdcSilentFailure", R, **c("r-stalled", "1.3")), None),
    (alert("CdcVerdictUnknown", R, verdict="unknown", **c("r-unknown", "1.2")), None),
    (alert("CdcBinlogSessionMissing", R, **c("r-unknown", "1.2")), None),
]


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else shutil.which("prometheus-alertmanager")
    if not binary:
        print("inhibit_test: FAIL: prometheus-alertmanager not found (Debian package "
              "prometheus-alertmanager)", file=sys.stderr)
        return 2
    with open(INHIBIT, encoding="utf-8") as f:
        inhibit = yaml.safe_load(f)
    if set(inhibit) != {"inhibit_rules"}:
        print(f"inhibit_test: FAIL: {INHIBIT} must hold only inhibit_rules", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="cdc-inhibit-")
    cfg = {"route": {"receiver": "none", "group_by": ["alertname", "connector"],
                     "group_wait": "1s", "group_interval": "1s"},
           "receivers": [{"name": "none"}], **inhibit}
    cfg_path = os.path.join(tmp, "alertmanager.yml")
    with open(cfg_path, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(os.path.join(tmp, "alertmanager.log"), "w")
    proc = subprocess.Popen(
        [binary, f"--config.file={cfg_path}", f"--storage.path={tmp}/data",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=log, stderr=subprocess.STDOUT)
    problems = []
    try:
        deadline = time.time() + 20
        while True:
            try:
                urllib.request.urlopen(url + "/-/ready", timeout=1)
                break
            except Exception:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"Alertmanager did not start; log in {tmp}")
                time.sleep(0.2)
        now = datetime.datetime.now(datetime.timezone.utc)
        body = [{"labels": l, "annotations": {"summary": "test"},
                 "startsAt": now.isoformat(),
                 "endsAt": (now + datetime.timedelta(minutes=10)).isoformat()}
                for l, _ in CASES]
        req = urllib.request.Request(url + "/api/v2/alerts", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"},
                                     method="POST")
        urllib.request.urlopen(req, timeout=5)
        # The inhibitor learns the source alerts asynchronously: poll until the answer is
        # right, or report the last one.
        deadline = time.time() + 15
        while True:
            got = json.load(urllib.request.urlopen(url + "/api/v2/alerts", timeout=5))
            by_fp = {a["fingerprint"]: a for a in got}
            by_labels = {json.dumps(a["labels"], sort_keys=True): a for a in got}
            names = {a["fingerprint"]: a["labels"]["alertname"] for a in got}
            problems = []
            for labels, want in CASES:
                a = by_labels.get(json.dumps(labels, sort_keys=True))
                if a is None:
                    problems.append(f"{labels}: not in Alertmanager")
                    continue
                by = sorted({names.get(fp, fp) for fp in a["status"]["inhibitedBy"]})
                exp = [want] if want else []
                if by != exp:
                    problems.append(f"{labels['alertname']} {labels.get('connector', '')} on "
                                    f"{labels['instance']}: inhibited by {by or 'nothing'}, "
                                    f"want {exp or 'nothing'}")
            if not problems or time.time() > deadline:
                break
            time.sleep(0.5)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    if problems:
        for p in problems:
            print(f"inhibit_test: FAIL: {p}", file=sys.stderr)
        print(f"inhibit_test: Alertmanager config and log kept in {tmp}", file=sys.stderr)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    n_inh = sum(1 for _, w in CASES if w)
    print(f"inhibit_test: {len(CASES)} alerts, {n_inh} inhibited as expected, "
          f"{len(CASES) - n_inh} not")
    return 0


if __name__ == "__main__":
    sys.exit(main())
