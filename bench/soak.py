#!/usr/bin/env python3
"""An hour's soak (issue #16): a benchmark, not a CI test.

Brings up a private sandbox and cdc-sentinel (the demo configuration at the default marker
settings 10 s / 30 s, heartbeat max_age 60 s; run as root the exporter runs under the
sandbox's own uid, so that `fault exporter-kafka` cuts it alone). Then, for --minutes:

- faults cycle through the matrix, one at a time: --healthy seconds healthy, then one fault
  held --hold seconds, healed, healthy again. In turn: tls13 blackhole, tls12 reset,
  Connect REST blackhole, the kafka proxy blackholed, the whole Kafka cluster down, broker RTT
  300 ms, cdc-sim (the Connect worker) paused 3 s every 20 s, and, as root only, the exporter's
  own Kafka connections dropped (iptables on its uid) and the connectors' Kafka connections
  reset (iptables on cdc-sim's source address). The iptables rules are this sandbox's own.
- two Prometheus-like scrapers GET /metrics (Accept-Encoding: gzip) every --scrape-every s (15)
  at different phases, and a status-page reader GETs / and /api/v1/status every 5 s. Each
  request is timed from send to last byte; a GET on a kept-alive connection the exporter closed
  while idle is retried once on a new connection (as Go's HTTP client, so Prometheus, does) and
  counted as a reconnect; anything else (non-200, reset, timeout) is an error.
- every --sample-every s (10): the exporter's RSS (/proc/PID/status), open fds
  (/proc/PID/fd), threads (/proc/PID/task), CPU, and from its /metrics the Kafka consumer lag
  (cdc_kafka_consumer_lag_records, summed over clusters; absent in builds without it),
  cdc_kafka_records_consumed_total, cdc_kafka_up and every connector's verdict, each sample
  tagged with the fault active. The scrapers' bodies are parsed for verdicts too.

At the end: `fault heal` (also on an exception, SIGINT or SIGTERM), the sandbox down, and
--out (JSON: every sample, every fault window, per-reader latencies and errors, and for RSS,
fds, threads and lag the first- and last-window means and maxima, the least-squares slope per
hour over the whole run and after the warm-up window, and verdict counts per fault) plus a CSV
beside it, and --plot (PNG, gnuplot: the four series against time, fault windows shaded).

Verdict line (exit 1 if not flat): RSS slope after the warm-up < --max-rss-slope-mb (1 MB/h);
fds and threads: last-window max <= first-window max (the window is 10 min, or a third of a
shorter run); no connector `stalled` while a fault that leaves the connectors healthy
(Connect REST, the kafka proxy, Kafka down or slow, the exporter's Kafka cut) was active; the
exporter alive; no request error.

  sudo bench/soak.py [--minutes 60] [--exporter BIN] [--build-dir DIR]
      [--out bench/results/soak.json] [--plot bench/soak.png]

The sandbox programs come from --build-dir unless CDC_FAULT_PROXY_BIN, CDC_KAFKA_BROKER_BIN and
CDC_SIM_BIN name them (copy them away first if the build dir is being rebuilt meanwhile).
"""

import argparse
import csv
import gzip
import http.client
import os
import pwd
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

STATES = ["ok", "lagging", "stalled", "not_running", "misconfigured", "unknown"]

# name, inject, heal, kind. kind "connector": a fault the connectors themselves suffer
# (stalled may be right); "exporter-side": the pipeline is fine, so stalled is a false page.
MATRIX = [
    ("tls13-blackhole", ["tls13", "blackhole"], [["tls13", "pass"]], "connector", False),
    ("tls12-reset", ["tls12", "reset"], [["tls12", "pass"]], "connector", False),
    ("connect-blackhole", ["connect", "blackhole"], [["connect", "pass"]], "exporter-side",
     False),
    ("kafka-proxy-blackhole", ["kafka", "blackhole"], [["kafka", "pass"]], "exporter-side",
     False),
    ("kafka-broker-down", ["kafka-broker", "down", "all"], [["kafka-broker", "up", "all"]],
     "exporter-side", False),
    ("kafka-broker-rtt300", ["kafka-broker", "rtt", "300", "all"],
     [["kafka-broker", "rtt", "0", "all"]], "exporter-side", False),
    ("cdc-sim-pause-every", ["cdc-sim", "pause-every", "3000", "20000"],
     [["cdc-sim", "pause-stop"]], "connector", False),
    ("exporter-kafka-drop", ["exporter-kafka", "drop"], [["exporter-kafka", "pass"]],
     "exporter-side", True),
    ("connectors-kafka-reset", ["connectors-kafka", "reset"], [["connectors-kafka", "pass"]],
     "connector", True),
]


class Reader(threading.Thread):
    """GETs each of `paths` every `every` s from `phase` on until `stop` is set; times each
    request send-to-last-byte; hands /metrics bodies to `on_body`."""

    def __init__(self, name, port, paths, every, phase, headers, stop, on_body=None):
        super().__init__(daemon=True, name=name)
        self.port, self.paths, self.every, self.phase = port, paths, every, phase
        self.headers, self.stop_ev, self.on_body = headers, stop, on_body
        self.lat = {p: [] for p in paths}
        self.errors = []   # (t, path, error)
        self.reconnects = 0
        self.bytes = {}

    def get(self, conn, path):
        a = time.perf_counter()
        for attempt in (0, 1):
            reused = conn is not None
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                conn.request("GET", path, headers=self.headers)
                r = conn.getresponse()
                body = r.read()
                took = time.perf_counter() - a
                if r.status != 200:
                    self.errors.append((time.time(), path, "HTTP %d" % r.status))
                    if r.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                    return conn
                self.lat[path].append((time.time(), took))
                self.bytes[path] = len(body)
                if self.on_body:
                    if r.getheader("Content-Encoding", "") == "gzip":
                        body = gzip.decompress(body)
                    self.on_body(path, body.decode(errors="replace"))
                return conn
            except (OSError, http.client.HTTPException) as e:
                if conn:
                    conn.close()
                conn = None
                if B.idle_close_retry(e, reused, attempt):
                    self.reconnects += 1
                    continue
                self.errors.append((time.time(), path, "%s: %s" % (type(e).__name__, e)))
                return None
        return conn

    def run(self):
        conn = None
        next_at = time.time() + self.phase
        while not self.stop_ev.is_set():
            if self.stop_ev.wait(max(0.0, next_at - time.time())):
                break
            next_at += self.every
            for p in self.paths:
                conn = self.get(conn, p)
        if conn:
            conn.close()


def lat_summary(lat):
    v = [x for _, x in lat]
    if not v:
        return {"n": 0}
    return {"n": len(v), "p50_ms": 1000 * B.percentile(v, 50),
            "p99_ms": 1000 * B.percentile(v, 99), "max_ms": 1000 * max(v)}


def slope_per_hour(pts):
    """Least-squares slope of [(t_s, y)] in y per hour (None if < 3 points)."""
    pts = [(t, y) for t, y in pts if y is not None]
    if len(pts) < 3:
        return None
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    my = sum(y for _, y in pts) / n
    den = sum((t - mt) ** 2 for t, _ in pts)
    if den == 0:
        return None
    return 3600 * sum((t - mt) * (y - my) for t, y in pts) / den


def series_stats(samples, key, window_s, scale=1.0):
    pts = [(s["t"], s[key] / scale) for s in samples if s.get(key) is not None]
    if not pts:
        return None
    t_end = samples[-1]["t"]
    first = [y for t, y in pts if t <= window_s]
    last = [y for t, y in pts if t >= t_end - window_s]
    after = [(t, y) for t, y in pts if t > window_s]

    def mean(v):
        return sum(v) / len(v) if v else None
    return {"first_mean": mean(first), "first_max": max(first) if first else None,
            "last_mean": mean(last), "last_max": max(last) if last else None,
            "max": max(y for _, y in pts), "min": min(y for _, y in pts),
            "slope_per_h": slope_per_hour(pts),
            "slope_per_h_after_warmup": slope_per_hour(after), "n": len(pts)}


def verdicts_from(metrics):
    out = {}
    for labels, v in metrics.get("cdc_connector_verdict", []):
        if v == 1 and "connector" in labels:
            out[labels["connector"]] = labels.get("verdict")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--healthy", type=float, default=60, help="healthy seconds between faults")
    ap.add_argument("--hold", type=float, default=75, help="seconds each fault is held")
    ap.add_argument("--scrape-every", type=float, default=15)
    ap.add_argument("--page-every", type=float, default=5)
    ap.add_argument("--sample-every", type=float, default=10)
    ap.add_argument("--build-dir", default=B.default_build_dir())
    ap.add_argument("--exporter", default=None,
                    help="default: BUILD_DIR/exporter/cdc-sentinel")
    ap.add_argument("--out", default=os.path.join(B.REPO, "bench", "results", "soak.json"))
    ap.add_argument("--plot", default=os.path.join(B.REPO, "bench", "soak.png"))
    ap.add_argument("--max-rss-slope-mb", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=16)
    args = ap.parse_args()

    exporter_bin = os.path.abspath(args.exporter or os.path.join(args.build_dir, "exporter",
                                                                 "cdc-sentinel"))
    root = os.geteuid() == 0
    matrix = [m for m in MATRIX if root or not m[4]]
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="cdc-bench-soak-")
    os.chmod(work, 0o711)
    sb_dir = os.path.join(work, "sandbox")
    os.makedirs(sb_dir)
    os.chmod(sb_dir, 0o711)
    sb = B.Sandbox(sb_dir, args.build_dir)
    fault = os.path.join(B.SANDBOX, "fault")
    senv = dict(os.environ, CDC_SANDBOX_DIR=sb_dir, CDC_BUILD_DIR=args.build_dir)

    def run_fault(a, check=True):
        r = subprocess.run([fault] + a, env=senv, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError("fault %s: %s%s" % (" ".join(a), r.stdout, r.stderr))
        return r.returncode

    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    res = {"minutes": args.minutes, "healthy_s": args.healthy, "hold_s": args.hold,
           "scrape_every_s": args.scrape_every, "page_every_s": args.page_every,
           "sample_every_s": args.sample_every, "exporter": exporter_bin, "root": root,
           "matrix": [m[0] for m in matrix], "load_start": B.loadavg(),
           "git_head": subprocess.run(["git", "-C", B.REPO, "rev-parse", "--short", "HEAD"],
                                      capture_output=True, text=True).stdout.strip(),
           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    samples, windows, vobs = [], [], []   # vobs: (t, source, phase, {connector: verdict})
    phase = {"name": "warm-up", "kind": "healthy", "after": None}
    lock = threading.Lock()
    exp = None
    readers = []
    stop = threading.Event()
    t0 = None
    interrupted = None
    try:
        env = sb.up()
        if root and env.get("EXPORTER_TEST_USER"):
            user = env["EXPORTER_TEST_USER"]
            pwd.getpwnam(user)
            binary = os.path.join(work, "cdc-sentinel-as-" + user)
            with open(binary, "w") as f:
                f.write("#!/bin/sh\nexec setpriv --reuid=%s --regid=%s --init-groups -- '%s' "
                        "\"$@\"\n" % (user, user, exporter_bin))
            os.chmod(binary, 0o755)
            res["exporter_user"] = user
        else:
            binary = exporter_bin
        if not env.get("PROXY_KAFKA_CONTROL_URL"):
            matrix = [m for m in matrix if m[0] != "kafka-proxy-blackhole"]
            res["matrix"] = [m[0] for m in matrix]
        cfg = os.path.join(work, "cdc-sentinel.yaml")
        sb.demo_config(cfg, interval="10s", timeout="30s", heartbeat_max_age="60s")
        os.chmod(cfg, 0o644)
        exp = B.Exporter(binary, cfg, os.path.join(work, "exporter.log"))
        m0 = exp.metrics()
        res["has_consumer_lag_metric"] = "cdc_kafka_consumer_lag_records" in m0
        res["build_info"] = [lab for lab, _ in m0.get("cdc_exporter_build_info", [])]
        B.log("exporter pid %d on port %d; consumer lag gauge %s at start; matrix %s" % (
            exp.p.pid, exp.port, "present" if res["has_consumer_lag_metric"] else "absent",
            ", ".join(m[0] for m in matrix)))

        t0 = time.time()
        end = t0 + args.minutes * 60

        def on_body(source):
            def f(path, text):
                if path != "/metrics":
                    return
                try:
                    v = verdicts_from(B.parse_metrics(text))
                except Exception:  # noqa: BLE001 - a bad body is an error of its own
                    return
                with lock:
                    vobs.append((time.time() - t0, source, phase["name"], phase["kind"], v))
            return f

        gz = {"Accept-Encoding": "gzip"}
        ph = rng.uniform(0, args.scrape_every / 2)
        readers = [Reader("prom-a", exp.port, ["/metrics"], args.scrape_every, ph, gz, stop,
                          on_body("prom-a")),
                   Reader("prom-b", exp.port, ["/metrics"], args.scrape_every,
                          ph + args.scrape_every / 2, gz, stop, on_body("prom-b")),
                   Reader("status-page", exp.port, ["/", "/api/v1/status"], args.page_every,
                          rng.uniform(0, args.page_every), gz, stop)]
        for r in readers:
            r.start()

        def sample():
            t = time.time() - t0
            s = {"t": round(t, 2), "fault": phase["name"], "kind": phase["kind"],
                 "load1": float(B.loadavg().split()[0])}
            pid = exp.p.pid
            try:
                s["rss_bytes"] = exp.proc.rss_bytes()
                s["fds"] = len(os.listdir("/proc/%d/fd" % pid))
                s["threads"] = len(os.listdir("/proc/%d/task" % pid))
                s["cpu_s"] = exp.proc.cpu_seconds()
            except OSError as e:
                s["error"] = "proc: %s" % e
            try:
                m = exp.metrics()
                s["consumer_lag"] = B.value(m, "cdc_kafka_consumer_lag_records")
                s["consumed_total"] = B.value(m, "cdc_kafka_records_consumed_total")
                s["kafka_up"] = B.value(m, "cdc_kafka_up")
                s["verdicts"] = verdicts_from(m)
                with lock:
                    vobs.append((t, "sampler", phase["name"], phase["kind"], s["verdicts"]))
            except (OSError, http.client.HTTPException, ValueError) as e:
                s["error"] = "metrics: %s" % e
            samples.append(s)

        def wait_until(t_until):
            """Samples every --sample-every s until t_until (absolute); False if the
            exporter died."""
            while True:
                if exp.p.poll() is not None:
                    return False
                now = time.time()
                if now >= t_until:
                    return True
                nxt = t0 + args.sample_every * (len(samples))
                if nxt <= now:
                    sample()
                    continue
                time.sleep(min(nxt, t_until) - now)

        sample()
        i = 0
        alive = True
        while alive and time.time() < end:
            alive = wait_until(min(end, time.time() + args.healthy))
            if not alive or time.time() >= end - 10:
                break
            name, inject, heal, kind, _ = matrix[i % len(matrix)]
            i += 1
            hold_end = min(end, time.time() + args.hold)
            w = {"fault": name, "kind": kind, "start": time.time() - t0}
            try:
                run_fault(inject)
            except Exception as e:  # noqa: BLE001 - record and go on
                w["inject_error"] = str(e)[:300]
                B.log("inject %s failed: %s" % (name, e))
            phase.update(name=name, kind=kind)
            B.log("%5.1f min: %s (load %s)" % ((time.time() - t0) / 60, name, B.loadavg()))
            alive = wait_until(hold_end)
            for h in heal:
                run_fault(h, check=False)
            w["end"] = time.time() - t0
            windows.append(w)
            phase.update(name="after " + name, kind="healthy")
        if not alive:
            res["exporter_died"] = {"t": time.time() - t0, "rc": exp.p.returncode}
            B.log("EXPORTER DIED rc=%s" % exp.p.returncode)
    except KeyboardInterrupt as e:
        interrupted = str(e) or "SIGINT"
        B.log("interrupted: %s" % interrupted)
    finally:
        stop.set()
        for r in readers:
            r.join(timeout=20)
        try:
            run_fault(["heal"], check=False)
        except Exception:  # noqa: BLE001
            pass
        if exp:
            res["hwm_bytes"] = exp.proc.hwm_bytes() if exp.p.poll() is None else None
            exp.stop()
            try:
                shutil.copy(exp.log_path, os.path.join(os.path.dirname(args.out),
                                                       "soak-exporter.log"))
            except OSError:
                pass
        sb.down()
    res["interrupted"] = interrupted
    res["has_consumer_lag_metric"] = any(s.get("consumer_lag") is not None for s in samples)
    res["load_end"] = B.loadavg()
    if not samples:
        B.log("no samples")
        return 1

    # --- analysis ----------------------------------------------------------------
    dur = samples[-1]["t"]
    window_s = min(600.0, dur / 3)
    res["duration_s"] = dur
    res["stats_window_s"] = window_s
    res["load1_max"] = max(s["load1"] for s in samples)
    res["load1_mean"] = sum(s["load1"] for s in samples) / len(samples)
    res["stats"] = {
        "rss_mb": series_stats(samples, "rss_bytes", window_s, 1e6),
        "fds": series_stats(samples, "fds", window_s),
        "threads": series_stats(samples, "threads", window_s),
        "consumer_lag": series_stats(samples, "consumer_lag", window_s),
    }
    cpu = [s for s in samples if "cpu_s" in s]
    if len(cpu) > 1:
        res["cpu_percent"] = 100 * (cpu[-1]["cpu_s"] - cpu[0]["cpu_s"]) / max(
            1e-9, cpu[-1]["t"] - cpu[0]["t"])
    cons = [s["consumed_total"] for s in samples if s.get("consumed_total") is not None]
    res["records_consumed"] = (cons[-1] - cons[0]) if cons else None
    res["readers"] = {}
    for r in readers:
        res["readers"][r.name] = {
            "paths": {p: lat_summary(v) for p, v in r.lat.items()},
            "errors": len(r.errors), "reconnects_after_idle_close": r.reconnects,
            "error_samples": [(round(t - t0, 1), p, e) for t, p, e in r.errors[:20]],
            "bytes": r.bytes}
    # verdict counts per phase (observations from the sampler and both scrapers)
    per = {}
    stalled_exporter_side = []
    stalled_after_exporter_side = []
    exporter_side = {m[0] for m in MATRIX if m[3] == "exporter-side"}
    for t, src, name, kind, v in vobs:
        d = per.setdefault(name, {"kind": kind, "observations": 0, "verdicts": {}})
        d["observations"] += 1
        for c, verdict in v.items():
            d["verdicts"].setdefault(c, {}).setdefault(verdict, 0)
            d["verdicts"][c][verdict] += 1
            if verdict == "stalled" and kind == "exporter-side":
                stalled_exporter_side.append((round(t, 1), src, name, c))
            if verdict == "stalled" and name.startswith("after ") and \
                    name[len("after "):] in exporter_side:
                stalled_after_exporter_side.append((round(t, 1), src, name, c))
    res["verdicts_per_phase"] = per
    res["stalled_during_exporter_side_fault"] = stalled_exporter_side
    res["stalled_after_exporter_side_fault"] = stalled_after_exporter_side
    res["windows"] = windows
    res["samples"] = samples
    res["verdict_observations"] = len(vobs)

    st = res["stats"]
    problems = []
    rs = st["rss_mb"]["slope_per_h_after_warmup"] if st["rss_mb"] else None
    if rs is None or rs >= args.max_rss_slope_mb:
        problems.append("RSS slope after warm-up %s MB/h" % (
            "n/a" if rs is None else "%.2f" % rs))
    for k in ("fds", "threads"):
        if st[k] and st[k]["last_max"] is not None and st[k]["first_max"] is not None \
                and st[k]["last_max"] > st[k]["first_max"]:
            problems.append("%s last-window max %d > first-window max %d" % (
                k, st[k]["last_max"], st[k]["first_max"]))
    if stalled_exporter_side:
        problems.append("%d stalled verdicts during exporter-side faults, first %s" % (
            len(stalled_exporter_side), stalled_exporter_side[0]))
    if stalled_after_exporter_side:
        problems.append("%d stalled verdicts in the healthy window after an exporter-side "
                        "fault, first %s" % (len(stalled_after_exporter_side),
                                             stalled_after_exporter_side[0]))
    if res.get("exporter_died"):
        problems.append("exporter died: %s" % res["exporter_died"])
    errs = sum(x["errors"] for x in res["readers"].values())
    if errs:
        problems.append("%d request errors" % errs)
    if interrupted:
        problems.append("interrupted (%s)" % interrupted)
    res["problems"] = problems
    res["flat"] = not problems

    B.write_json(args.out, res)
    csv_path = os.path.splitext(args.out)[0] + ".csv"
    conns = sorted({c for s in samples for c in s.get("verdicts", {})})
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "fault", "rss_mb", "fds", "threads", "consumer_lag",
                    "consumed_total", "kafka_up", "load1"] + ["verdict_" + c for c in conns])
        for s in samples:
            w.writerow([s["t"], s["fault"],
                        "%.2f" % (s["rss_bytes"] / 1e6) if "rss_bytes" in s else "",
                        s.get("fds", ""), s.get("threads", ""),
                        "" if s.get("consumer_lag") is None else "%g" % s["consumer_lag"],
                        "" if s.get("consumed_total") is None else "%g" % s["consumed_total"],
                        "" if s.get("kafka_up") is None else "%g" % s["kafka_up"],
                        s["load1"]] + [s.get("verdicts", {}).get(c, "") for c in conns])
    if args.plot:
        plot(res, args.plot, work)
    shutil.rmtree(work, ignore_errors=True)

    def fmt(k, unit):
        x = st.get(k)
        if not x:
            return "%s n/a" % k
        return "%s %.1f->%.1f%s (max %.1f, slope %+.2f/h, after warm-up %s/h)" % (
            k, x["first_mean"] or 0, x["last_mean"] or 0, unit, x["max"],
            x["slope_per_h"] or 0, "n/a" if x["slope_per_h_after_warmup"] is None else
            "%+.2f" % x["slope_per_h_after_warmup"])
    B.log("; ".join([fmt("rss_mb", " MB"), fmt("fds", ""), fmt("threads", ""),
                     fmt("consumer_lag", "")]))
    for n, r in res["readers"].items():
        B.log("%s: %s errors %d reconnects %d" % (n, ", ".join(
            "%s n=%d p50 %.1f p99 %.1f max %.1f ms" % (p, v["n"], v.get("p50_ms", 0),
                                                       v.get("p99_ms", 0), v.get("max_ms", 0))
            for p, v in r["paths"].items()), r["errors"], r["reconnects_after_idle_close"]))
    for name, d in per.items():
        B.log("%-32s %s" % (name, "; ".join("%s: %s" % (c, ", ".join(
            "%s %d" % kv for kv in sorted(v.items()))) for c, v in sorted(d["verdicts"].items()))))
    print(("FLAT" if res["flat"] else "NOT FLAT") + " after %.1f min: RSS slope after warm-up "
          "%s MB/h, fds max %s/%s, threads max %s/%s (first/last %.0f min), stalled during "
          "exporter-side faults %d (after them %d), request errors %d%s" % (
              dur / 60, "n/a" if rs is None else "%+.2f" % rs,
              st["fds"]["first_max"] if st["fds"] else "?",
              st["fds"]["last_max"] if st["fds"] else "?",
              st["threads"]["first_max"] if st["threads"] else "?",
              st["threads"]["last_max"] if st["threads"] else "?", window_s / 60,
              len(stalled_exporter_side), len(stalled_after_exporter_side), errs,
              "" if res["flat"] else "; " + "; ".join(problems)))
    return 0 if res["flat"] else 1


def plot(res, out, work):
    if not shutil.which("gnuplot"):
        B.log("no gnuplot (Debian package gnuplot-nox): no plot")
        return
    dat = os.path.join(work, "soak.dat")
    with open(dat, "w") as f:
        for s in res["samples"]:
            def g(k, scale=1.0):
                v = s.get(k)
                return "NaN" if v is None else "%g" % (v / scale)
            f.write("%.2f %s %s %s %s\n" % (s["t"] / 60, g("rss_bytes", 1e6), g("fds"),
                                            g("threads"), g("consumer_lag")))
    colors = {"connector": "#ffd8d8", "exporter-side": "#d8e4ff"}
    rects = []
    for k, w in enumerate(res["windows"]):
        rects.append("set object %d rect from %.3f, graph 0 to %.3f, graph 1 behind "
                     "fillcolor rgb '%s' fillstyle solid 1.0 noborder" % (
                         k + 1, w["start"] / 60, w["end"] / 60, colors.get(w["kind"], "#eeeeee")))
    labels = []
    for k, w in enumerate(res["windows"]):
        labels.append("set label %d '%s' at %.3f, graph 0.97 rotate by 90 right font ',6' "
                      "textcolor rgb '#555555'" % (k + 1, w["fault"], (w["start"] + 4) / 60))
    has_lag = res["stats"].get("consumer_lag") is not None
    st = res["stats"]

    def title(k, unit):
        x = st.get(k)
        if not x:
            return k
        return "%s (first/last %.0f min mean %.1f / %.1f%s, slope %+.2f%s/h)" % (
            k, res["stats_window_s"] / 60, x["first_mean"], x["last_mean"], unit,
            x["slope_per_h"] or 0, unit)
    panels = [("RSS, MB", 2, title("rss_mb", " MB")), ("open fds", 3, title("fds", "")),
              ("threads", 4, title("threads", ""))]
    if has_lag:
        panels.append(("consumer lag, records", 5, title("consumer_lag", "")))
    script = ["set terminal pngcairo size 1200,%d font ',9'" % (230 * len(panels) + 60),
              "set output '%s'" % out, "set termoption noenhanced",
              "set multiplot layout %d,1 title \"cdc-sentinel, %.0f-minute soak: faults cycling "
              "(red: connector faults, blue: exporter-side faults), 2 scrapers every %gs, a "
              "status-page reader every %gs; load avg mean %.1f, max %.1f\"" % (
                  len(panels), res["duration_s"] / 60, res["scrape_every_s"],
                  res["page_every_s"], res["load1_mean"], res["load1_max"]),
              "set grid", "set key top left opaque box", "set xrange [0:%.2f]" % (
                  res["duration_s"] / 60), "set lmargin 10"] + rects
    for n, (ylabel, col, t) in enumerate(panels):
        script.append("set ylabel '%s'" % ylabel)
        if n == 0:
            script += labels
        if n == len(panels) - 1:
            script.append("set xlabel 'minutes'")
        script.append("plot '%s' using 1:%d with linespoints lw 1.5 pt 7 ps 0.3 title \"%s\"" %
                      (dat, col, t))
        if n == 0:
            script.append("unset label")
    script.append("unset multiplot")
    r = subprocess.run(["gnuplot"], input="\n".join(script) + "\n", capture_output=True,
                       text=True)
    if r.returncode != 0:
        B.log("gnuplot failed: %s" % r.stderr[-1000:])
    else:
        B.log("wrote %s" % out)


if __name__ == "__main__":
    sys.exit(main())
