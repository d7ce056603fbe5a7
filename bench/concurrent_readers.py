#!/usr/bin/env python3
"""Concurrent readers (issue "Proven for real", item "Concurrent readers").

cdc-sim serves N REST-only connectors with T tasks each (default 1,000 / 4,000 tasks) on one
Connect cluster, polled by cdc-sentinel every --poll. Then, for --minutes, --scrapers
Prometheus-like scrapers each GET /metrics every --every seconds (gzip, one keep-alive connection
each, each at its own random phase, as an HA pair of Prometheus servers and more would), and one
reader opens the status page (`/`) every --page-every seconds, as people watching it do. Every
request is timed from send to last byte (not decompressed); errors (non-200, resets, timeouts)
are counted, except that a GET on a kept-alive connection the exporter closed while idle is retried
once on a new connection, as Go's HTTP client (so Prometheus) does, and counted as a reconnect; the exporter's RSS is sampled every second and its CPU read from /proc.

Pass (exit 0) when the /metrics p99 is under --max-p99-ms (50), no request failed, and RSS stayed
under --max-rss-mb (100).

  python3 bench/concurrent_readers.py [--minutes 5] [--out bench/results/concurrent-readers.json]

Needs only a cdc-kafka-broker (cdc-sim wants a bootstrap) and cdc-sim, both started here from
--build-dir and stopped at the end, like bench/rest_scale.py.
"""

import http.client
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


class Reader(threading.Thread):
    """GETs `path` every `every` seconds from a random phase until `end`."""

    def __init__(self, port, path, every, end, headers, phase):
        super().__init__(daemon=True)
        self.port, self.path, self.every, self.end = port, path, every, end
        self.headers, self.phase = headers, phase
        self.lat, self.errors, self.bytes, self.reconnects = [], [], 0, 0

    def run(self):
        conn = None
        next_at = time.time() + self.phase
        while True:
            wait = next_at - time.time()
            if wait > 0:
                time.sleep(wait)
            if time.time() >= self.end:
                break
            next_at += self.every
            a = time.perf_counter()
            for attempt in (0, 1):
                reused = conn is not None
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                    conn.request("GET", self.path, headers=self.headers)
                    r = conn.getresponse()
                    body = r.read()
                    took = time.perf_counter() - a
                    if r.status != 200:
                        self.errors.append("HTTP %d" % r.status)
                    else:
                        self.lat.append(took)
                        self.bytes = len(body)
                    break
                except (OSError, http.client.HTTPException) as e:
                    if conn:
                        conn.close()
                    conn = None
                    # A kept-alive connection the server closed while idle (the exporter
                    # closes idle connections): Go's HTTP client, hence Prometheus, retries
                    # such a GET once on a new connection; so does this reader. The time
                    # of both attempts counts.
                    if B.idle_close_retry(e, reused, attempt):
                        self.reconnects += 1
                        continue
                    self.errors.append("%s: %s" % (type(e).__name__, e))
                    break
        if conn:
            conn.close()


def summary(lat):
    if not lat:
        return {"n": 0}
    return {"n": len(lat), "p50_ms": 1000 * B.percentile(lat, 50),
            "p95_ms": 1000 * B.percentile(lat, 95), "p99_ms": 1000 * B.percentile(lat, 99),
            "max_ms": 1000 * max(lat)}


def main():
    ap = B.rest_scale_parser(__doc__)
    ap.add_argument("--scrapers", type=int, default=10)
    ap.add_argument("--every", type=float, default=5)
    ap.add_argument("--page-every", type=float, default=1)
    ap.add_argument("--max-p99-ms", type=float, default=50)
    ap.add_argument("--max-rss-mb", type=float, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    exporter_bin = args.exporter or os.path.join(args.build_dir, "exporter", "cdc-sentinel")
    work = tempfile.mkdtemp(prefix="cdc-bench-readers-")
    broker = sim = exp = None
    rng = random.Random(args.seed)
    r = {"connectors": args.connectors, "tasks_per_connector": args.tasks, "poll": args.poll,
         "minutes": args.minutes, "scrapers": args.scrapers, "every_s": args.every,
         "page_every_s": args.page_every, "exporter": exporter_bin, "load_start": B.loadavg()}
    try:
        broker, sim, exp = B.start_rest_scale(args.build_dir, work, exporter_bin,
                                              args.connectors, args.tasks, args.poll)
        B.log("first poll done; %d readers for %.1f min; load %s" %
              (args.scrapers + 1, args.minutes, B.loadavg()))

        sampler = B.Sampler(exp.proc, 1.0)
        c0, t0 = exp.proc.cpu_seconds(), time.time()
        end = t0 + args.minutes * 60
        scrapers = [Reader(exp.port, "/metrics", args.every, end,
                           {"Accept-Encoding": "gzip"}, rng.uniform(0, args.every))
                    for _ in range(args.scrapers)]
        page = Reader(exp.port, "/", args.page_every, end, {"Accept-Encoding": "gzip"},
                      rng.uniform(0, args.page_every))
        for t in scrapers + [page]:
            t.start()
        for t in scrapers + [page]:
            t.join()
        c1, t1 = exp.proc.cpu_seconds(), time.time()
        s = sampler.stop()
        metrics_lat = [x for t in scrapers for x in t.lat]
        errors = [e for t in scrapers + [page] for e in t.errors]
        r.update({
            "wall_s": t1 - t0, "cpu_s": c1 - c0, "cpu_percent": 100 * (c1 - c0) / (t1 - t0),
            "metrics": dict(summary(metrics_lat), gzip_bytes=scrapers[0].bytes),
            "status_page": dict(summary(page.lat), gzip_bytes=page.bytes),
            "errors": len(errors), "error_samples": errors[:10],
            "reconnects_after_idle_close": sum(t.reconnects for t in scrapers + [page]),
            "hwm_bytes": exp.proc.hwm_bytes(), "thread_count": len(exp.proc.threads()),
            "load_end": B.loadavg(), **s})
        B.log("/metrics: %d, p50 %.1f p95 %.1f p99 %.1f max %.1f ms; status page: %d, p99 %.1f "
              "ms; errors %d; CPU %.1f%%; RSS max %.1f MB; load %s" % (
                  r["metrics"]["n"], r["metrics"].get("p50_ms", 0), r["metrics"].get("p95_ms", 0),
                  r["metrics"].get("p99_ms", 0), r["metrics"].get("max_ms", 0),
                  r["status_page"]["n"], r["status_page"].get("p99_ms", 0), r["errors"],
                  r["cpu_percent"], s["rss_max_bytes"] / 1e6, r["load_end"]))
    finally:
        for d in (exp, sim, broker):
            if d:
                d.stop()
        shutil.rmtree(work, ignore_errors=True)

    if args.out:
        B.write_json(args.out, r)
    problems = []
    if r["metrics"].get("p99_ms", 1e9) > args.max_p99_ms:
        problems.append("/metrics p99 %.1f ms > %.1f ms" % (r["metrics"].get("p99_ms", 0),
                                                           args.max_p99_ms))
    if r["errors"]:
        problems.append("%d failed requests, e.g. %s" % (r["errors"], r["error_samples"][:3]))
    rss = max(r["hwm_bytes"], r["rss_max_bytes"])
    if rss > args.max_rss_mb * 1e6:
        problems.append("RSS %.1f MB > %.1f MB" % (rss / 1e6, args.max_rss_mb))
    for p in problems:
        print("FAIL: " + p)
    if not problems:
        print("PASS")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
