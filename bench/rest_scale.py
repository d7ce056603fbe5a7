#!/usr/bin/env python3
"""REST scale (issue "Scale and speed", item 3).

cdc-sim serves N REST-only connectors with T tasks each (default 1,000 /
4,000 tasks) on one Connect cluster; cdc-sentinel polls it every --poll.
Phase 1 ("steady"): --minutes of Prometheus-like scrapes every 15 s; the
exporter's CPU (utime+stime from /proc) over the phase, its RSS sampled every
2 s. Phase 2 ("scrapes"): --scrapes sequential GET /metrics on one keep-alive
connection, each timed from request to last byte.

Needs only a cdc-kafka-broker (cdc-sim wants a bootstrap) and cdc-sim, both
started here from --build-dir and stopped at the end.
"""

import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def main():
    ap = B.rest_scale_parser(__doc__)
    ap.add_argument("--scrapes", type=int, default=1000)
    ap.add_argument("--accept-encoding", default=None,
                    help="Accept-Encoding of the timed scrapes (Prometheus "
                    "sends gzip); timed to the last byte, not decompressed")
    ap.add_argument("--out", default=None)
    ap.add_argument("--max-p99-ms", type=float, default=0,
                    help="exit 1 if the scrape p99 is above this")
    ap.add_argument("--max-rss-mb", type=float, default=0,
                    help="exit 1 if the RSS is above this")
    args = ap.parse_args()

    exporter_bin = args.exporter or os.path.join(args.build_dir, "exporter",
                                                 "cdc-sentinel")
    work = tempfile.mkdtemp(prefix="cdc-bench-rest-")
    broker = sim = exp = None
    r = {"connectors": args.connectors, "tasks_per_connector": args.tasks,
         "poll": args.poll, "exporter": exporter_bin,
         "load_start": B.loadavg()}
    try:
        broker, sim, exp = B.start_rest_scale(args.build_dir, work, exporter_bin,
                                              args.connectors, args.tasks, args.poll)
        body = exp.get("/metrics")
        r["metrics_bytes"] = len(body)
        r["metrics_series"] = sum(1 for l in body.splitlines()
                                  if l and l[0] != "#")
        B.log("first poll done: %d series, %d bytes; load %s" %
              (r["metrics_series"], r["metrics_bytes"], B.loadavg()))

        # Phase 1: steady state, scraped like Prometheus every 15 s.
        t0, c0 = time.time(), exp.proc.cpu_seconds()
        th0 = exp.proc.threads()
        m0 = exp.metrics()
        sampler = B.Sampler(exp.proc)
        end = t0 + args.minutes * 60
        steady_scrapes = 1
        while time.time() < end:
            time.sleep(min(15, max(0, end - time.time())))
            if time.time() < end:
                exp.metrics()
                steady_scrapes += 1
        t1, c1 = time.time(), exp.proc.cpu_seconds()
        m1 = exp.metrics()
        s = sampler.stop()
        polls = ((B.value(m1, "cdc_probe_runs_total", probe="connect_rest")
                  or 0) - (B.value(m0, "cdc_probe_runs_total",
                                   probe="connect_rest") or 0))
        r["steady"] = {
            "wall_s": t1 - t0, "cpu_s": c1 - c0,
            "cpu_percent": 100 * (c1 - c0) / (t1 - t0),
            "scrapes": steady_scrapes, "polls": polls,
            "poll_duration_s": B.value(m1, "cdc_probe_duration_seconds",
                                       probe="connect_rest"),
            "threads": B.thread_cpu_by_name(th0, exp.proc.threads()),
            **s}
        B.log("steady: CPU %.2f%% of a core, RSS max %.1f MB, %d polls, "
              "load %s" % (r["steady"]["cpu_percent"],
                           s["rss_max_bytes"] / 1e6, polls, B.loadavg()))

        # Phase 2: sequential scrapes.
        lat = []
        c0, th0 = exp.proc.cpu_seconds(), exp.proc.threads()
        sampler = B.Sampler(exp.proc, 0.5)
        t0 = time.time()
        headers = ({"Accept-Encoding": args.accept_encoding}
                   if args.accept_encoding else None)
        sizes = set()
        for _ in range(args.scrapes):
            a = time.perf_counter()
            body = exp.get("/metrics", headers=headers, raw=True)
            lat.append(time.perf_counter() - a)
            sizes.add(len(body) // 10000)
        t1, c1 = time.time(), exp.proc.cpu_seconds()
        s = sampler.stop()
        r["scrapes"] = {
            "n": len(lat), "wall_s": t1 - t0,
            "accept_encoding": args.accept_encoding,
            "bytes_approx": 10000 * max(sizes),
            "p50_ms": 1000 * B.percentile(lat, 50),
            "p95_ms": 1000 * B.percentile(lat, 95),
            "p99_ms": 1000 * B.percentile(lat, 99),
            "max_ms": 1000 * max(lat),
            "mean_ms": 1000 * sum(lat) / len(lat),
            "cpu_per_scrape_ms": 1000 * (c1 - c0) / len(lat),
            "threads": B.thread_cpu_by_name(th0, exp.proc.threads()),
            **s}
        r["rss_bytes_end"] = exp.proc.rss_bytes()
        r["hwm_bytes"] = exp.proc.hwm_bytes()
        r["thread_count"] = len(exp.proc.threads())
        r["load_end"] = B.loadavg()
        B.log("scrapes: p50 %.1f p95 %.1f p99 %.1f max %.1f ms, CPU %.1f ms "
              "per scrape, RSS max %.1f MB, load %s" % (
                  r["scrapes"]["p50_ms"], r["scrapes"]["p95_ms"],
                  r["scrapes"]["p99_ms"], r["scrapes"]["max_ms"],
                  r["scrapes"]["cpu_per_scrape_ms"],
                  s["rss_max_bytes"] / 1e6, r["load_end"]))
    finally:
        for d in (exp, sim, broker):
            if d:
                d.stop()
        shutil.rmtree(work, ignore_errors=True)

    if args.out:
        B.write_json(args.out, r)
    ok = True
    if args.max_p99_ms and r["scrapes"]["p99_ms"] > args.max_p99_ms:
        print("FAIL: /metrics p99 %.1f ms > %.1f ms" %
              (r["scrapes"]["p99_ms"], args.max_p99_ms))
        ok = False
    rss = max(r["hwm_bytes"], r["scrapes"]["rss_max_bytes"])
    if args.max_rss_mb and rss > args.max_rss_mb * 1e6:
        print("FAIL: RSS %.1f MB > %.1f MB" % (rss / 1e6, args.max_rss_mb))
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
