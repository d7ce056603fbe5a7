#!/usr/bin/env python3
"""Hostile upstream (issue #19, "bounded upstream clients").

A fake Kafka Connect REST worker that answers every request with
"HTTP/1.1 200 OK\\r\\n" and then header lines ("X-a: bbbb...\\r\\n") as fast as
the client reads them, never ending the response head. cdc-sentinel polls it
(interval and timeout 5 s) for --seconds; the exporter's RSS is sampled every
0.5 s. Reported: RSS growth (max - before), bytes the fake sent, and the
probe's error from the exporter's log.

--target report runs `cdc-sentinel report --prometheus` against the same fake
instead and reports its peak RSS (ru_maxrss) over that of `cdc-sentinel
--version`, its exit status and output.

Exits 1 if the RSS growth is at or above --max-growth-mb (default 32).
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


class EndlessHead:
    """Loopback listener: reads a request head, then sends header lines
    until the client goes away or stop()."""

    def __init__(self, line_bytes=100):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        line = b"X-a: " + b"b" * max(1, line_bytes - 7) + b"\r\n"
        self.block = line * max(1, 65536 // len(line))
        self.sent = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def _accept(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 1 << 20:
                chunk = c.recv(65536)
                if not chunk:
                    return
                data += chunk
            c.sendall(b"HTTP/1.1 200 OK\r\n")
            c.settimeout(30)
            while not self._stop.is_set():
                c.sendall(self.block)
                with self._lock:
                    self.sent += len(self.block)
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self._stop.set()
        self.sock.close()


def probe_errors(log_path):
    """The distinct errors of the connect_rest probe in the exporter's log,
    in first-seen order."""
    errs = []
    with open(log_path, errors="replace") as f:
        for line in f:
            if "probe=connect_rest" in line:
                m = re.search(r'err="((?:[^"\\]|\\.)*)"', line)
                if m and m.group(1) not in errs:
                    errs.append(m.group(1))
    return errs


def bench_exporter(args, fake, work):
    binary = args.exporter or os.path.join(args.build_dir, "exporter",
                                           "cdc-sentinel")
    cfg = os.path.join(work, "exporter.yaml")
    with open(cfg, "w") as f:
        f.write("connect_clusters:\n  - name: hostile\n    url: %s\n"
                "    interval: 5s\n    timeout: 5s\n" % fake.url())
    exp = B.Exporter(binary, cfg, os.path.join(work, "exporter.log"))
    try:
        rss0 = exp.proc.rss_bytes()
        rss_max, samples = rss0, []
        t0 = time.time()
        while time.time() - t0 < args.seconds:
            time.sleep(0.5)
            rss = exp.proc.rss_bytes()
            samples.append(rss)
            rss_max = max(rss_max, rss)
        m = exp.metrics()
        up = B.value(m, "cdc_connect_up")
        runs = B.value(m, "cdc_probe_runs_total", probe="connect_rest")
        rss_end = exp.proc.rss_bytes()
    finally:
        exp.stop()
    return {"binary": binary, "rss_before_bytes": rss0,
            "rss_max_bytes": rss_max, "rss_end_bytes": rss_end,
            "rss_growth_bytes": rss_max - rss0,
            "connect_up": up, "probe_runs": runs,
            "errors": probe_errors(os.path.join(work, "exporter.log"))}


def run_peak_rss(argv, out, seconds):
    """Runs argv for at most `seconds`; returns (peak RSS bytes, exit status,
    killed). The peak is the kernel's ru_maxrss, which also counts the
    forked image before exec: compare with a baseline run."""
    t0 = time.time()
    # Popen.poll() would reap the child and lose its rusage: os.wait4 below.
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    # The child's peak RSS from the kernel (ru_maxrss, KiB): sampling /proc
    # would miss a run that ends in a fraction of a second.
    status = ru = None
    while time.time() - t0 < seconds:
        pid, st, r = os.wait4(p.pid, os.WNOHANG)
        if pid:
            status, ru = st, r
            break
        time.sleep(0.05)
    killed = status is None
    if killed:
        p.kill()
        _, status, ru = os.wait4(p.pid, 0)
    code = (-os.WTERMSIG(status) if os.WIFSIGNALED(status)
            else os.WEXITSTATUS(status))
    p.returncode = code  # reaped here, not by Popen
    return ru.ru_maxrss * 1024, code, killed


def bench_report(args, fake, work):
    binary = args.exporter or os.path.join(args.build_dir, "exporter",
                                           "cdc-sentinel")
    with open(os.devnull, "wb") as null:
        base, _, _ = run_peak_rss([binary, "--version"], null, 10)
    t0 = time.time()
    with open(os.path.join(work, "report.out"), "wb") as out:
        peak, code, killed = run_peak_rss(
            [binary, "report", "--prometheus", fake.url(), "--timeout", "5"],
            out, args.seconds)
    took = time.time() - t0
    with open(os.path.join(work, "report.out"), errors="replace") as f:
        text = f.read()[-500:]
    return {"binary": binary, "rss_peak_bytes": peak,
            "rss_baseline_bytes": base, "rss_growth_bytes": peak - base,
            "exit": code, "killed_after_s": args.seconds if killed else None,
            "took_s": took, "output": text.strip()}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--target", choices=("exporter", "report"),
                    default="exporter")
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--line-bytes", type=int, default=100)
    ap.add_argument("--build-dir", default=B.default_build_dir())
    ap.add_argument("--exporter", default=None, help="the binary to test")
    ap.add_argument("--max-growth-mb", type=float, default=32)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="cdc-bench-upstream-")
    fake = EndlessHead(args.line_bytes)
    r = {"target": args.target, "seconds": args.seconds,
         "load_start": B.loadavg()}
    try:
        r.update(bench_exporter(args, fake, work) if args.target == "exporter"
                 else bench_report(args, fake, work))
    finally:
        fake.stop()
    r.update({"fake_bytes_sent": fake.sent,
              "fake_connections": fake.connections,
              "load_end": B.loadavg()})
    B.log("%s: RSS growth %.1f MB; the fake sent %.1f MB over %d connections"
          % (args.target, r["rss_growth_bytes"] / 1e6, fake.sent / 1e6,
             fake.connections))
    print(json.dumps(r, indent=2))
    if args.out:
        B.write_json(args.out, r)
    return 1 if r["rss_growth_bytes"] >= args.max_growth_mb * 1e6 else 0


if __name__ == "__main__":
    sys.exit(main())
