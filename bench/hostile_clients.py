#!/usr/bin/env python3
"""Hostile clients against the exporter's HTTP front (issue #19).

Starts the given cdc-sentinel binary (default flags; a Connect cluster on a
closed port, so the probes fail fast and cheaply) and runs one attack at a
time from this process while a scraper GETs /metrics once a second and times
every answer:

  flood-lines    one connection streaming header lines ("X-Pad-N: ...")
  flood-noeol    one connection streaming a request line with no line end
  slowloris      N connections each sending one header byte every S seconds,
                 reconnecting when closed
  idle           N silent connections, reopened when the server closes them
  silent-tls     N silent TCP connections to a TLS port (no ClientHello);
                 TLS and basic auth on, the scraper uses both
  wrong-password C clients sending wrong passwords as fast as answered,
                 bcrypt cost 12; the scraper's credentials are right

For the floods: bytes the server accepted before closing (capped at --cap),
RSS before/after, and whether the next scrape answers. For the rest: every
scrape's status and latency, and how many answered 200 within 1 s.

The CI forms are test/integration/hostile_clients_test.cc; this is the long
form and the tool for before/after figures (bench/RESULTS.md section 11):

  bench/hostile_clients.py --binary build/exporter/cdc-sentinel \\
      --attack all --seconds 20 --out bench/results/hostile_after.json
"""

import argparse
import base64
import crypt  # deprecated in 3.11, still there in Debian 12's python3
import http.client
import json
import os
import random
import select
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)

USER = "prometheus"
PASSWORD = "right-" + "%08x" % random.getrandbits(32)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Exporter:
    def __init__(self, binary, workdir, tls=False, auth=False, flags=()):
        self.dir = workdir
        self.tls = tls
        self.auth = auth
        cfg = os.path.join(workdir, "config.yaml")
        with open(cfg, "w") as f:
            f.write("connect_clusters:\n  - name: main\n"
                    "    url: http://127.0.0.1:1\n    interval: 5s\n"
                    "    timeout: 1s\n")
        args = [binary, "--config.file=" + cfg,
                "--web.listen-address=127.0.0.1:0"] + list(flags)
        if tls or auth:
            args.append("--web.config.file=" + self.web_config(tls, auth))
        self.log = open(os.path.join(workdir, "exporter.log"), "w+")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        self.port = 0
        deadline = time.time() + 15
        while time.time() < deadline and not self.port:
            time.sleep(0.05)
            self.log.seek(0)
            for line in self.log.read().splitlines():
                if "cdc-sentinel started" in line and " port=" in line:
                    self.port = int(line.split(" port=")[1].split()[0])
        if not self.port:
            raise RuntimeError("the exporter did not start:\n" +
                               open(self.log.name).read())

    def web_config(self, tls, auth):
        d = self.dir
        text = ""
        if tls:
            subprocess.run(
                "openssl req -x509 -newkey ec -pkeyopt "
                "ec_paramgen_curve:P-256 -nodes -keyout %s/key.pem -out "
                "%s/cert.pem -days 2 -subj /CN=x -addext "
                "subjectAltName=IP:127.0.0.1" % (d, d),
                shell=True, check=True, capture_output=True)
            text += ("tls_server_config:\n  cert_file: %s/cert.pem\n"
                     "  key_file: %s/key.pem\n" % (d, d))
        if auth:
            salt = crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 12)
            text += "basic_auth_users:\n  %s: %s\n" % (
                USER, crypt.crypt(PASSWORD, salt))
        path = os.path.join(d, "web.yml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def connect(self, timeout=5):
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection("127.0.0.1", self.port,
                                               timeout=timeout, context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)

    def get(self, path, password=None, timeout=5):
        """(status, seconds); status 0 if no answer."""
        headers = {"Accept-Encoding": "gzip"}
        if self.auth:
            pw = PASSWORD if password is None else password
            headers["Authorization"] = "Basic " + base64.b64encode(
                ("%s:%s" % (USER, pw)).encode()).decode()
        start = time.monotonic()
        try:
            c = self.connect(timeout)
            c.request("GET", path, headers=headers)
            r = c.getresponse()
            r.read()
            c.close()
            return r.status, time.monotonic() - start
        except Exception:  # noqa: BLE001 - any failure is "no answer"
            return 0, time.monotonic() - start

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class Scraper(threading.Thread):
    """GET /metrics once a second; every answer's status and latency."""

    def __init__(self, exporter, period=1.0):
        super().__init__(daemon=True)
        self.e = exporter
        self.period = period
        self.results = []
        self.stop_flag = threading.Event()

    def run(self):
        while not self.stop_flag.is_set():
            start = time.monotonic()
            self.results.append(self.e.get("/metrics"))
            self.stop_flag.wait(max(0, self.period -
                                    (time.monotonic() - start)))

    def summary(self):
        lat = sorted(s for _, s in self.results)
        ok_fast = sum(1 for st, s in self.results if st == 200 and s <= 1.0)

        def pct(p):
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 4) \
                if lat else None
        return {"scrapes": len(self.results), "ok_within_1s": ok_fast,
                "statuses": sorted({st for st, _ in self.results}),
                "p50_s": pct(0.5), "p99_s": pct(0.99),
                "max_s": round(lat[-1], 4) if lat else None}


def flood(e, line_ends, cap):
    """One connection streaming a head; bytes accepted before the close."""
    s = socket.create_connection(("127.0.0.1", e.port))
    s.settimeout(10)
    sent = 0
    rss0 = rss_kb(e.proc.pid)
    start = time.monotonic()
    closed_by = "cap"
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n" if line_ends
                  else b"GET /")
        chunk = (b"X-Pad: " + b"a" * 50 + b"\r\n") * 1000 if line_ends \
            else b"a" * 65536
        while sent < cap:
            s.sendall(chunk)
            sent += len(chunk)
    except socket.timeout:
        closed_by = "stalled 10 s"
    except OSError as ex:
        closed_by = "server (%s)" % ex.__class__.__name__
    elapsed = time.monotonic() - start
    answer = b""
    try:
        s.settimeout(1)
        answer = s.recv(200)
    except OSError:
        pass
    s.close()
    time.sleep(0.5)
    peak_rss = rss_kb(e.proc.pid)
    status, secs = e.get("/metrics")
    return {"line_ends": line_ends, "bytes_accepted": sent,
            "closed_by": closed_by, "seconds": round(elapsed, 2),
            "answer": answer.split(b"\r\n")[0].decode(errors="replace"),
            "rss_before_mb": round(rss0 / 1024, 1),
            "rss_after_mb": round(peak_rss / 1024, 1),
            "next_scrape": [status, round(secs, 4)]}


class Holder(threading.Thread):
    """Keeps `n` connections open, reopening those the server closes; each
    sends one byte of `payload` every `every` seconds (never, if None)."""

    def __init__(self, e, n, payload=None, every=None):
        super().__init__(daemon=True)
        self.e, self.n, self.payload, self.every = e, n, payload, every
        self.socks = {}
        self.opened = 0
        self.refused = 0
        self.stop_flag = threading.Event()

    def open_one(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.e.port), timeout=5)
            s.setblocking(False)
            self.socks[s] = 0
            self.opened += 1
        except OSError:
            self.refused += 1

    def run(self):
        for _ in range(self.n):
            self.open_one()
        last = time.monotonic()
        while not self.stop_flag.is_set():
            r, _, _ = select.select(list(self.socks), [], [], 0.2)
            for s in r:  # readable: closed (or refused with a 503)
                try:
                    s.recv(4096)
                except OSError:
                    pass
                s.close()
                del self.socks[s]
            while len(self.socks) < self.n and not self.stop_flag.is_set():
                self.open_one()
            if self.every and time.monotonic() - last >= self.every:
                last = time.monotonic()
                for s, i in list(self.socks.items()):
                    try:
                        s.send(self.payload[i % len(self.payload):][:1])
                        self.socks[s] = i + 1
                    except OSError:
                        pass
        for s in self.socks:
            s.close()


def held(e, seconds, n, payload=None, every=None):
    h = Holder(e, n, payload, every)
    h.start()
    time.sleep(min(3, seconds / 4))  # let them connect
    sc = Scraper(e)
    sc.start()
    time.sleep(seconds)
    sc.stop_flag.set()
    sc.join()
    h.stop_flag.set()
    h.join()
    out = sc.summary()
    out.update({"connections": n, "opened": h.opened,
                "connect_failures": h.refused,
                "rss_mb": round(rss_kb(e.proc.pid) / 1024, 1)})
    return out


def wrong_passwords(e, seconds, clients):
    stop = threading.Event()
    counts = {}

    def attacker(i):
        while not stop.is_set():
            st, _ = e.get("/metrics", password="wrong-%d-%d" % (
                i, random.getrandbits(48)))
            counts[st] = counts.get(st, 0) + 1

    assert e.get("/metrics")[0] == 200  # the scraper's credentials verified
    cpu0 = cpu_seconds(e.proc.pid)
    t0 = time.monotonic()
    threads = [threading.Thread(target=attacker, args=(i,), daemon=True)
               for i in range(clients)]
    for t in threads:
        t.start()
    sc = Scraper(e, period=0.25)
    sc.start()
    time.sleep(seconds)
    sc.stop_flag.set()
    sc.join()
    stop.set()
    for t in threads:
        t.join(10)
    cpu = (cpu_seconds(e.proc.pid) - cpu0) / (time.monotonic() - t0)
    out = sc.summary()
    out.update({"clients": clients, "attacker_answers": counts,
                "exporter_cpu_cores": round(cpu, 2)})
    return out


def run(args, attack):
    tls = attack == "silent-tls"
    auth = attack in ("silent-tls", "wrong-password")
    with tempfile.TemporaryDirectory(prefix="cdc-hostile-") as d:
        e = Exporter(args.binary, d, tls=tls, auth=auth, flags=args.flag)
        try:
            time.sleep(1)
            if attack == "flood-lines":
                return flood(e, True, args.cap)
            if attack == "flood-noeol":
                return flood(e, False, args.cap)
            if attack == "slowloris":
                return held(e, args.seconds, args.slow, b"GET /metrics HTTP/1.1"
                            b"\r\nX-a: b\r\n" + b"X-b: c\r\n" * 10000,
                            args.every)
            if attack == "idle":
                return held(e, args.seconds, args.idle)
            if attack == "silent-tls":
                return held(e, args.seconds, args.silent_tls)
            if attack == "wrong-password":
                return wrong_passwords(e, args.seconds, args.clients)
            raise ValueError(attack)
        finally:
            e.stop()


ATTACKS = ["flood-lines", "flood-noeol", "slowloris", "idle", "silent-tls",
           "wrong-password"]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--attack", default="all",
                    help="one of %s, or all" % ", ".join(ATTACKS))
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--cap", type=int, default=24 << 20,
                    help="flood: stop after sending this much")
    ap.add_argument("--slow", type=int, default=40)
    ap.add_argument("--every", type=float, default=1.0,
                    help="slowloris: seconds between bytes")
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--silent-tls", type=int, default=200)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--flag", action="append", default=[],
                    help="extra exporter flag (repeatable)")
    ap.add_argument("--out")
    args = ap.parse_args()
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results = {"binary": args.binary, "load": os.getloadavg()[0],
               "seconds": args.seconds, "attacks": {}}
    for a in ATTACKS if args.attack == "all" else args.attack.split(","):
        r = run(args, a)
        results["attacks"][a] = r
        print(a, json.dumps(r), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
