#!/usr/bin/env python3
"""Detection latency of a silent stall (issue "Scale and speed", items 1 and 6).

Starts a private sandbox and cdc-sentinel, then N times: waits until every
connector is healthy (verdict 0, last marker found after the previous heal),
waits a random part of the marker interval (so the stall begins at a random
phase of the marker schedule), blackholes one connector's binlog proxy, polls
/metrics every 100 ms until cdc_silent_failure{connector=...} == 1, records
the latency, heals, and waits for the verdict to clear.

With --field, bench/field_method.sh runs in the same sandbox at the same time;
each stall is then held until the field method reports NOT_FOUND for the
stalled connector too (or --field-max-wait passes), and its detection latency
and CPU per check are recorded as well.

Also used for the no-false-alarm run: --stalls 0 --healthy-minutes M scrapes
every 15 s for M minutes without faults and counts probes and verdicts.

Output: a JSON file (--out) and a summary on stdout.
"""

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def seconds(d):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", d)
    if not m:
        raise ValueError(d)
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(2)]


class Field:
    """bench/field_method.sh in the background; its output parsed as it comes."""

    def __init__(self, sb_dir, out_path, interval, timeout, settle):
        self.path = out_path
        self.f = open(out_path, "wb")
        env = dict(os.environ, CDC_SANDBOX_DIR=sb_dir,
                   FIELD_INTERVAL=str(interval), FIELD_TIMEOUT=str(timeout),
                   FIELD_SETTLE=str(settle))
        self.p = subprocess.Popen(
            [os.path.join(B.REPO, "bench", "field_method.sh")], env=env,
            stdout=self.f, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.p.pid

    def events(self):
        checks, results, cpu = {}, [], {}
        with open(self.path) as f:
            for line in f:
                p = line.split()
                if not p:
                    continue
                kv = dict(x.split("=", 1) for x in p[2:] if "=" in x)
                if p[0] == "CHECK":
                    checks[int(p[1])] = (float(kv["start"]),
                                         float(kv["insert"]))
                elif p[0] == "RESULT":
                    results.append((int(p[1]), kv["connector"], kv["result"],
                                    float(kv["at"])))
                elif p[0] == "CPU":
                    cpu[int(p[1])] = (float(kv["child_cpu_s"]),
                                      float(kv["wall_s"]))
        return checks, results, cpu

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.pid, 15)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, 9)
                self.p.wait()
        self.f.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--interval", default="5s", help="marker.interval")
    ap.add_argument("--timeout", default="10s", help="marker.timeout")
    ap.add_argument("--heartbeat-max-age", default="30s")
    ap.add_argument("--stalls", type=int, default=20)
    ap.add_argument("--max-minutes", type=float, default=0,
                    help="stop injecting after this long (0: no limit)")
    ap.add_argument("--healthy-minutes", type=float, default=0,
                    help="with --stalls 0: run this long without faults")
    ap.add_argument("--scrape-every", type=float, default=15.0,
                    help="scrape period of the healthy run")
    ap.add_argument("--build-dir", default=B.default_build_dir())
    ap.add_argument("--exporter", default=None)
    ap.add_argument("--sandbox-dir", default=None)
    ap.add_argument("--keep", action="store_true",
                    help="leave the sandbox dir (logs) in place after down")
    ap.add_argument("--field", action="store_true")
    ap.add_argument("--field-interval", type=int, default=90)
    ap.add_argument("--field-timeout", type=int, default=30)
    ap.add_argument("--field-settle", type=int, default=2)
    ap.add_argument("--field-max-wait", type=float, default=0,
                    help="longest a stall is held for the field method "
                         "(0: interval + timeout + settle + 30 s)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--bound-slack", type=float, default=1.0,
                    help="assert latency <= interval + timeout + slack")
    ap.add_argument("--bound", type=float, default=None,
                    help="assert latency <= this many seconds instead "
                         "(verdict v2: interval + 10 at the defaults, 12 "
                         "at 5 s markers)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    interval, timeout = seconds(args.interval), seconds(args.timeout)
    bound = (args.bound if args.bound is not None else
             interval + timeout + args.bound_slack)
    rng = random.Random(args.seed)
    exporter_bin = args.exporter or os.path.join(args.build_dir, "exporter",
                                                 "cdc-sentinel")
    sb_dir = args.sandbox_dir or tempfile.mkdtemp(prefix="cdc-bench-det-")
    sb = B.Sandbox(sb_dir, args.build_dir)
    exp = field = None
    result = {"interval_s": interval, "timeout_s": timeout,
              "heartbeat_max_age": args.heartbeat_max_age,
              "bound_s": bound, "stalls": [], "exporter": exporter_bin,
              "load_start": B.loadavg(), "started": time.time()}
    try:
        env = sb.up()
        conns = [env["CONNECTOR_%s_NAME" % t.upper()]
                 for t in env["CONNECTORS"].split(",")]
        proxy_of = {env["CONNECTOR_%s_NAME" % t.upper()]: t
                    for t in env["CONNECTORS"].split(",")}
        cfg = sb.demo_config(os.path.join(sb_dir, "exporter.yaml"),
                             args.interval, args.timeout,
                             args.heartbeat_max_age)
        exp = B.Exporter(exporter_bin, cfg, os.path.join(sb_dir,
                                                         "exporter.log"))
        if args.field:
            # The topics the field method reads exist once a row was captured.
            sb.mysql("INSERT INTO inventory.customers (first_name, last_name, "
                     "email) VALUES ('bench', 'warmup', 'warmup@example.com')")

        def verdicts(m):
            return {c: B.value(m, "cdc_silent_failure", connector=c)
                    for c in conns}

        def healthy_since(m, t):
            for c in conns:
                if verdicts(m)[c] != 0:
                    return False
                # Verdict v2: judged ok, with its stall window learned.
                if B.value(m, "cdc_connector_verdict", connector=c,
                           verdict="ok") not in (None, 1):
                    return False
                w = B.value(m, "cdc_stall_window_seconds", connector=c)
                if w is not None and w > 10:
                    return False
                if B.value(m, "cdc_marker_consecutive_misses",
                           connector=c) != 0:
                    return False
                ts = B.value(m, "cdc_marker_last_success_timestamp_seconds",
                             connector=c)
                if ts is None or ts < t:
                    return False
            return True

        def wait_healthy(since, limit=180):
            end = time.time() + limit
            while time.time() < end:
                if healthy_since(exp.metrics(), since):
                    return True
                time.sleep(0.2)
            return False

        if not wait_healthy(0, 120):
            raise RuntimeError("connectors never became healthy")
        B.log("healthy; exporter pid %d, load %s" % (exp.p.pid, B.loadavg()))
        if args.field:
            field = Field(sb_dir, os.path.join(sb_dir, "field.log"),
                          args.field_interval, args.field_timeout,
                          args.field_settle)
            field_wait = args.field_max_wait or (
                args.field_interval + args.field_timeout +
                args.field_settle + 30)

        cpu0, t_cpu0 = exp.proc.cpu_seconds(), time.time()
        m0 = exp.metrics()
        deadline = (time.time() + args.max_minutes * 60
                    if args.max_minutes else None)
        heal_t = 0.0
        for i in range(args.stalls):
            if deadline and time.time() > deadline:
                B.log("time limit reached after %d stalls" % i)
                break
            if not wait_healthy(heal_t):
                raise RuntimeError("not healthy again after stall %d" % i)
            # A random phase of the marker schedule; with --field, of the
            # field method's check schedule too (a multiple of the marker
            # interval), or every stall would land at the same point of it.
            time.sleep(rng.uniform(0, args.field_interval if field
                                   else interval))
            conn = conns[i % len(conns)]
            other = [c for c in conns if c != conn]
            m = exp.metrics()
            last_marker = B.value(m, "cdc_probe_last_run_timestamp_seconds",
                                  probe="marker")
            t_req = time.time()
            t0 = sb.proxy_mode(proxy_of[conn], "blackhole")
            phase = (t0 - last_marker) % interval if last_marker else None
            detected = None
            collateral = False
            why = {}
            while time.time() - t0 < bound + 30:
                t_poll = time.time()
                m = exp.metrics()
                t = time.time()
                v = verdicts(m)
                if any(v[o] == 1 for o in other):
                    collateral = True
                if v[conn] == 1:
                    detected = t
                    why = {
                        "consecutive_misses": B.value(
                            m, "cdc_marker_consecutive_misses",
                            connector=conn),
                        "heartbeat_stale": B.value(
                            m, "cdc_heartbeat_stale", connector=conn),
                    }
                    break
                time.sleep(max(0, 0.1 - (time.time() - t_poll)))
            latency = detected - t0 if detected else None
            row = {"i": i, "connector": conn, "t0": t0,
                   "inject_rtt_s": t0 - t_req, "phase_s": phase,
                   "latency_s": latency, "collateral_alarm": collateral,
                   "within_bound": latency is not None and latency <= bound,
                   "load": B.loadavg()}
            row.update(why)
            if field:
                # Hold the stall until the field method reports the miss.
                fdet = None
                end = t0 + field_wait
                while time.time() < end and fdet is None:
                    _, results, _ = field.events()
                    for _n, c, r, at in results:
                        if c == conn and r == "NOT_FOUND" and at >= t0:
                            fdet = at
                            break
                    if fdet is None:
                        time.sleep(0.5)
                row["field_latency_s"] = fdet - t0 if fdet else None
            heal_t = sb.proxy_mode(proxy_of[conn], "pass")
            row["stall_s"] = heal_t - t0
            rec = None
            while time.time() - heal_t < 120:
                if verdicts(exp.metrics())[conn] == 0:
                    rec = time.time() - heal_t
                    break
                time.sleep(0.1)
            row["recovery_s"] = rec
            if field:
                # Wait for the field check in flight at heal time to end, so
                # its late result is not taken for the next stall's.
                end = time.time() + args.field_timeout + args.field_settle + 30
                while time.time() < end:
                    checks, results, _ = field.events()
                    inflight = [n for n, (_, ins) in checks.items()
                                if ins < heal_t and
                                sum(1 for r in results if r[0] == n)
                                < len(conns)]
                    if not inflight:
                        break
                    time.sleep(0.5)
            result["stalls"].append(row)
            B.log("stall %2d %-18s phase %5s latency %6s field %6s "
                  "recovery %5s load %s" % (
                      i, conn,
                      "%.2f" % phase if phase is not None else "-",
                      "%.2f" % latency if latency else "MISSED",
                      ("%.1f" % row["field_latency_s"]
                       if row.get("field_latency_s") else "-")
                      if field else "-",
                      "%.1f" % rec if rec else "-", row["load"]))

        if args.stalls == 0 and args.healthy_minutes > 0:
            # No faults: scrape like Prometheus and count what happens.
            end = time.time() + args.healthy_minutes * 60
            alarms = 0
            not_ok = {}
            samples = []
            while time.time() < end:
                m = exp.metrics()
                v = verdicts(m)
                alarms += sum(1 for c in conns if v[c] != 0)
                for labels, x in m.get("cdc_connector_verdict", []):
                    if x == 1 and labels.get("verdict") != "ok":
                        k = "%s=%s" % (labels["connector"], labels["verdict"])
                        not_ok[k] = not_ok.get(k, 0) + 1
                samples.append({"t": time.time(), "load": B.loadavg(),
                                "rss": exp.proc.rss_bytes(),
                                "cpu_s": exp.proc.cpu_seconds()})
                time.sleep(args.scrape_every)
            result["healthy_scrapes"] = len(samples)
            result["healthy_scrapes_with_alarm"] = alarms
            result["healthy_scrapes_not_ok"] = not_ok
            result["samples"] = samples

        # Totals over the run.
        m1 = exp.metrics()
        cpu1, t_cpu1 = exp.proc.cpu_seconds(), time.time()
        tot = {}
        for c in conns:
            d = {}
            for r in ("found", "not_found", "error"):
                d[r] = ((B.value(m1, "cdc_marker_probes_total", connector=c,
                                 result=r) or 0) -
                        (B.value(m0, "cdc_marker_probes_total", connector=c,
                                 result=r) or 0))
            for k in ("solo", "shared"):
                d[k] = ((B.value(m1, "cdc_cohort_failures_total",
                                 connector=c, kind=k) or 0) -
                        (B.value(m0, "cdc_cohort_failures_total",
                                 connector=c, kind=k) or 0))
            d["silent_failure_now"] = verdicts(m1)[c]
            tot[c] = d
        result["per_connector"] = tot
        result["marker_rounds"] = (
            (B.value(m1, "cdc_probe_runs_total", probe="marker") or 0) -
            (B.value(m0, "cdc_probe_runs_total", probe="marker") or 0))
        result["exporter_cpu_s"] = cpu1 - cpu0
        result["wall_s"] = t_cpu1 - t_cpu0
        result["exporter_rss_bytes"] = exp.proc.rss_bytes()
        result["exporter_hwm_bytes"] = exp.proc.hwm_bytes()
        result["exporter_threads"] = sorted(
            {c for _, c, _ in exp.proc.threads()})
        result["exporter_thread_count"] = len(exp.proc.threads())
        if field:
            checks, results, cpu = field.events()
            result["field"] = {
                "interval_s": args.field_interval,
                "timeout_s": args.field_timeout,
                "settle_s": args.field_settle,
                "checks": len(cpu),
                "results": [{"check": n, "connector": c, "result": r,
                             "at": at} for n, c, r, at in results],
                "cpu_per_check_s": [cpu[n][0] for n in sorted(cpu)],
                "wall_per_check_s": [cpu[n][1] for n in sorted(cpu)],
            }
        result["load_end"] = B.loadavg()
        warn = []
        with open(exp.log_path, errors="replace") as f:
            for line in f:
                if "level=warn" in line or "level=error" in line:
                    warn.append(line.strip())
        result["exporter_warnings"] = len(warn)
        result["exporter_warnings_sample"] = warn[:20]
    finally:
        if field:
            field.stop()
        if exp:
            exp.stop()
        sb.down()
        if not args.keep:
            subprocess.run(["rm", "-rf", sb_dir])

    summarize(result)
    if args.out:
        B.write_json(args.out, result)
    bad = [s for s in result["stalls"] if not s["within_bound"]]
    return 1 if bad else 0


def summarize(r):
    lat = [s["latency_s"] for s in r["stalls"] if s["latency_s"] is not None]
    print("marker interval %.0fs timeout %.0fs: %d stalls, bound %.1fs" % (
        r["interval_s"], r["timeout_s"], len(r["stalls"]), r["bound_s"]))
    if lat:
        print("  latency p50 %.2fs p95 %.2fs max %.2fs; %d missed; %d over "
              "bound; collateral alarms %d" % (
                  B.percentile(lat, 50), B.percentile(lat, 95), max(lat),
                  len(r["stalls"]) - len(lat),
                  sum(1 for s in r["stalls"] if not s["within_bound"]),
                  sum(1 for s in r["stalls"] if s["collateral_alarm"])))
    fl = [s["field_latency_s"] for s in r["stalls"]
          if s.get("field_latency_s") is not None]
    if fl:
        print("  field method latency p50 %.1fs p95 %.1fs max %.1fs "
              "(%d of %d detected)" % (B.percentile(fl, 50),
                                       B.percentile(fl, 95), max(fl),
                                       len(fl), len(r["stalls"])))
    print("  exporter CPU %.2fs over %.0fs (%.2f%%), %d marker rounds; "
          "RSS %.1f MB" % (r["exporter_cpu_s"], r["wall_s"],
                           100 * r["exporter_cpu_s"] / max(1, r["wall_s"]),
                           r["marker_rounds"],
                           r["exporter_rss_bytes"] / 1e6))
    for c, d in r["per_connector"].items():
        print("  %s: %s" % (c, d))
    if "healthy_scrapes" in r:
        print("  healthy run: %d scrapes, %d connector-scrapes with "
              "silent_failure != 0; verdicts other than ok: %s" % (
                  r["healthy_scrapes"], r["healthy_scrapes_with_alarm"],
                  r.get("healthy_scrapes_not_ok") or "none"))


if __name__ == "__main__":
    sys.exit(main())
