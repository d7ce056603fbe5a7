#!/usr/bin/env python3
"""Scrape cost and memory at REST scale (problem P2 in RESULTS.md).

cdc-sim serves --connectors REST-only connectors (--tasks each); the exporter
watches only that Connect cluster. Then --scrapes sequential GET /metrics,
printing RSS every 100. --malloc-arena-max N runs the exporter with
MALLOC_ARENA_MAX=N (glibc) to show how much of the RSS is freed scrape memory
kept in per-thread arenas. --perf FILE records a perf profile of the exporter
during the scrapes (`perf report -i FILE --no-children --sort dso,symbol`).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--connectors", type=int, default=1000)
    ap.add_argument("--tasks", type=int, default=4)
    ap.add_argument("--scrapes", type=int, default=1000)
    ap.add_argument("--malloc-arena-max", type=int, default=0)
    ap.add_argument("--perf", default=None, metavar="FILE")
    ap.add_argument("--build-dir", default=B.default_build_dir())
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="cdc-bench-prof-")
    broker = sim = exp = perf = None
    saved = os.environ.get("MALLOC_ARENA_MAX")
    try:
        broker, boot = B.start_broker(args.build_dir, work)
        sim, url, _ = B.start_scale_sim(args.build_dir, work, boot,
                                        args.connectors, args.tasks)
        cfg = os.path.join(work, "exporter.yaml")
        with open(cfg, "w") as f:
            f.write("connect_clusters:\n  - name: scale\n    url: %s\n"
                    "    interval: 15s\n    timeout: 5s\n" % url)
        if args.malloc_arena_max:
            os.environ["MALLOC_ARENA_MAX"] = str(args.malloc_arena_max)
        exp = B.Exporter(os.path.join(args.build_dir, "exporter",
                                      "cdc-sentinel"), cfg,
                         os.path.join(work, "exporter.log"))
        if saved is None:
            os.environ.pop("MALLOC_ARENA_MAX", None)
        else:
            os.environ["MALLOC_ARENA_MAX"] = saved
        time.sleep(3)
        print("RSS after the first poll: %.1f MB (load %s)" %
              (exp.proc.rss_bytes() / 1e6, B.loadavg()), flush=True)
        if args.perf:
            perf = subprocess.Popen(
                ["perf", "record", "-F", "499", "-g", "-p", str(exp.p.pid),
                 "-o", args.perf], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            time.sleep(1)
        c0 = exp.proc.cpu_seconds()
        for i in range(args.scrapes):
            exp.get("/metrics")
            if i % 100 == 99:
                print("%4d scrapes: RSS %.1f MB" %
                      (i + 1, exp.proc.rss_bytes() / 1e6), flush=True)
        cpu = exp.proc.cpu_seconds() - c0
        if perf:
            perf.send_signal(2)
            perf.wait()
        print("CPU %.1f ms per scrape; RSS %.1f MB, HWM %.1f MB; load %s" % (
            1000 * cpu / args.scrapes, exp.proc.rss_bytes() / 1e6,
            exp.proc.hwm_bytes() / 1e6, B.loadavg()))
    finally:
        if perf and perf.poll() is None:
            perf.kill()
        for d in (exp, sim, broker):
            if d:
                d.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
