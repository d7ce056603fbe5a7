#!/usr/bin/env python3
"""CPU per check, cdc-sentinel vs the field method (issue item 6).

cdc-sentinel: in one sandbox (2 connectors), the exporter runs unscraped for
--seconds with markers every 1 s and then every 10 s (other probes as in
test/sandbox/demo-config). Reported: total CPU per marker round at each
interval, and the marginal CPU of one round, (cpu_1s - cpu_10s) /
(rounds_1s - rounds_10s): what a marker check itself costs on top of the
exporter's fixed background (Kafka consumer, REST and source probes).

Field method: the client processes of one check, measured with getrusage
(RUSAGE_CHILDREN) around each: `mariadb` running the INSERT (TLS connection,
as bench/field_method.sh does), and one `kcat -C -o end` that finds a record
(per connector and check), --repeat times each.
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--build-dir", default=B.default_build_dir())
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    exporter_bin = os.path.join(args.build_dir, "exporter", "cdc-sentinel")
    work = tempfile.mkdtemp(prefix="cdc-bench-cost-")
    sb = B.Sandbox(os.path.join(work, "sb"), args.build_dir)
    out = {"load_start": B.loadavg(), "sentinel": {}}
    exp = None
    try:
        env = sb.up()
        for interval in ("1s", "10s"):
            cfg = sb.demo_config(os.path.join(work, "e-%s.yaml" % interval),
                                 interval, "10s", "30s")
            exp = B.Exporter(exporter_bin, cfg,
                             os.path.join(work, "e-%s.log" % interval))
            time.sleep(15)
            m0 = exp.metrics()
            t0, c0 = time.time(), exp.proc.cpu_seconds()
            time.sleep(args.seconds)
            t1, c1 = time.time(), exp.proc.cpu_seconds()
            m1 = exp.metrics()
            rounds = (B.value(m1, "cdc_probe_runs_total", probe="marker") -
                      B.value(m0, "cdc_probe_runs_total", probe="marker"))
            found = (B.value(m1, "cdc_marker_probes_total", result="found") -
                     B.value(m0, "cdc_marker_probes_total", result="found"))
            out["sentinel"][interval] = {
                "wall_s": t1 - t0, "cpu_s": c1 - c0, "rounds": rounds,
                "checks_found": found,
                "cpu_percent": 100 * (c1 - c0) / (t1 - t0),
                "cpu_per_round_ms": 1000 * (c1 - c0) / rounds,
                "load": B.loadavg()}
            B.log("markers every %s: %s" % (interval,
                                            out["sentinel"][interval]))
            exp.stop()
            exp = None
        a, b = out["sentinel"]["1s"], out["sentinel"]["10s"]
        # Normalise both to the same wall time before differencing.
        rate_a, rate_b = a["cpu_s"] / a["wall_s"], b["cpu_s"] / b["wall_s"]
        rr_a, rr_b = a["rounds"] / a["wall_s"], b["rounds"] / b["wall_s"]
        out["sentinel_marginal_cpu_per_round_ms"] = \
            1000 * (rate_a - rate_b) / (rr_a - rr_b)

        # Field method, one process at a time.
        topic = env["CONNECTOR_TLS13_TOPIC_PREFIX"] + ".inventory.customers"
        ins, kc = [], []
        for i in range(args.repeat):
            token = "costcheck-%d-%d" % (os.getpid(), i)
            sql = ("INSERT INTO inventory.customers (first_name, last_name, "
                   "email) VALUES ('cost', 'check', '%s@example.com')" % token)
            # kcat positioned at the end first, then the row, as the field
            # method does; kcat exits after the first record (-c 1).
            k = subprocess.Popen(["kcat", "-C", "-b", env["KAFKA_BOOTSTRAP"],
                                  "-t", topic, "-o", "end", "-u", "-q",
                                  "-c", "1", "-f", "%s\n"],
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL)
            time.sleep(2)
            m0 = child_cpu()
            subprocess.run(["mariadb", "--defaults-file=" +
                            env["MYSQL_ROOT_CNF"], "-e", sql], check=True)
            m1 = child_cpu()
            ins.append(m1 - m0)
            body = k.communicate(timeout=60)[0].decode()
            k1 = child_cpu()
            kc.append(k1 - m1)
            assert token in body, body
        out["field_mariadb_insert_cpu_ms"] = {
            "mean": 1000 * sum(ins) / len(ins),
            "p50": 1000 * B.percentile(ins, 50)}
        out["field_kcat_cpu_ms"] = {"mean": 1000 * sum(kc) / len(kc),
                                    "p50": 1000 * B.percentile(kc, 50)}
        out["load_end"] = B.loadavg()
    finally:
        if exp:
            exp.stop()
        sb.down()
        shutil.rmtree(work, ignore_errors=True)
    print(out)
    if args.out:
        B.write_json(args.out, out)


if __name__ == "__main__":
    sys.exit(main())
