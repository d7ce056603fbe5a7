#!/usr/bin/env python3
"""The exporter's fixed background CPU, per thread (problem P6 in RESULTS.md).

In a private sandbox (2 real connectors), the exporter runs with the demo
configuration (markers every --interval, timeout --timeout) and is scraped
like Prometheus does: GET /metrics every --scrape-every seconds on one
kept-alive connection (reconnecting when the server closed it); 0 = never.
After --warmup seconds, the CPU time of every thread (schedstat, in ns: exact,
unlike the 10 ms ticks of /proc/PID/stat) and its voluntary context switches
(wake-ups) are read before and after --seconds, and reported per thread name.

--exporter runs another binary (e.g. an older build) against the same
sandbox programs of --build-dir, for before/after comparisons.
"""

import argparse
import http.client
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def snapshot(pid):
    """{tid: (comm, cpu_ns, voluntary_switches)}"""
    out = {}
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open("%s/%s/comm" % (base, tid)) as f:
                comm = f.read().strip()
            with open("%s/%s/schedstat" % (base, tid)) as f:
                ns = int(f.read().split()[0])
            with open("%s/%s/status" % (base, tid)) as f:
                status = f.read()
            vol = int(status.split("voluntary_ctxt_switches:")[1].split()[0])
            out[tid] = (comm, ns, vol)
        except (OSError, IndexError, ValueError):
            pass
    return out


class Scraper:
    """GET /metrics on one kept-alive connection, as Prometheus does."""

    def __init__(self, port):
        self.port = port
        self.conn = None
        self.reconnects = 0

    def scrape(self):
        for _ in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=10)
                self.reconnects += 1
            try:
                self.conn.request("GET", "/metrics")
                r = self.conn.getresponse()
                r.read()
                return r.status
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
        raise RuntimeError("scrape failed twice")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--warmup", type=float, default=15)
    ap.add_argument("--interval", default="10s", help="marker interval")
    ap.add_argument("--timeout", default="30s", help="marker timeout")
    ap.add_argument("--scrape-every", type=float, default=15)
    ap.add_argument("--build-dir", default=B.default_build_dir())
    ap.add_argument("--exporter", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    exporter_bin = args.exporter or os.path.join(args.build_dir, "exporter",
                                                 "cdc-sentinel")
    work = tempfile.mkdtemp(prefix="cdc-bench-bg-")
    sb = B.Sandbox(os.path.join(work, "sb"), args.build_dir)
    exp = None
    r = {"exporter": exporter_bin, "seconds": args.seconds,
         "interval": args.interval, "timeout": args.timeout,
         "scrape_every": args.scrape_every, "load_start": B.loadavg()}
    try:
        sb.up()
        cfg = sb.demo_config(os.path.join(work, "exporter.yaml"),
                             args.interval, "10s", args.timeout)
        exp = B.Exporter(exporter_bin, cfg, os.path.join(work, "exporter.log"))
        time.sleep(args.warmup)
        scraper = Scraper(exp.port)
        m0 = exp.metrics()
        before = snapshot(exp.proc.pid)
        end = time.time() + args.seconds
        scrapes = 0
        while time.time() < end:
            if args.scrape_every > 0:
                scraper.scrape()
                scrapes += 1
            step = args.scrape_every if args.scrape_every > 0 else 1
            time.sleep(max(0, min(step, end - time.time())))
        after = snapshot(exp.proc.pid)
        m1 = exp.metrics()
        threads = {}
        for tid, (comm, ns, vol) in after.items():
            _, ns0, vol0 = before.get(tid, (comm, 0, 0))
            t = threads.setdefault(comm, {"cpu_ms_per_s": 0.0,
                                          "wakeups_per_s": 0.0, "threads": 0})
            t["cpu_ms_per_s"] += (ns - ns0) / 1e6 / args.seconds
            t["wakeups_per_s"] += (vol - vol0) / args.seconds
            t["threads"] += 1
        total = sum(t["cpu_ms_per_s"] for t in threads.values())
        rounds = (B.value(m1, "cdc_probe_runs_total", probe="marker") -
                  B.value(m0, "cdc_probe_runs_total", probe="marker"))
        r.update({
            "scrapes": scrapes, "scrape_connections": scraper.reconnects,
            "cpu_ms_per_s": total, "cpu_percent": total / 10,
            "marker_rounds": rounds,
            "cpu_ms_per_round": total * args.seconds / rounds if rounds else None,
            "threads": dict(sorted(threads.items(),
                                   key=lambda kv: -kv[1]["cpu_ms_per_s"])),
            "load_end": B.loadavg()})
        B.log("%s: %.2f ms/s (%.3f %% of a core), %d scrapes over %d "
              "connections, %d marker rounds (%.1f ms of CPU each)" %
              (exporter_bin, total, total / 10, scrapes, scraper.reconnects,
               rounds, r["cpu_ms_per_round"] or 0))
        for name, t in r["threads"].items():
            B.log("  %-18s %7.3f ms/s %7.1f wake-ups/s (%d threads)" %
                  (name, t["cpu_ms_per_s"], t["wakeups_per_s"], t["threads"]))
    finally:
        if exp:
            exp.stop()
        sb.down()
        shutil.rmtree(work, ignore_errors=True)
    if args.out:
        B.write_json(args.out, r)


if __name__ == "__main__":
    main()
