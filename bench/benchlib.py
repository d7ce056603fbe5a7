"""Helpers shared by the cdc-sentinel benchmarks (python3 stdlib only).

Sandbox lifecycle (test/sandbox/up|down with a private CDC_SANDBOX_DIR),
the exporter as a child process, /metrics scraping and parsing, and
/proc-based CPU / RSS / thread accounting that tolerates machine load.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SANDBOX = os.path.join(REPO, "test", "sandbox")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def loadavg():
    """The 1/5/15-minute load averages as a string, e.g. '3.10 2.95 2.80'."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def default_build_dir():
    for d in ("build-bench", "build"):
        p = os.path.join(REPO, d)
        if os.path.exists(os.path.join(p, "exporter", "cdc-sentinel")):
            return p
    return os.path.join(REPO, "build")


def idle_close_retry(error, reused, attempt):
    """Whether a failed GET is retried once on a new connection: the first attempt on a
    kept-alive connection that the server closed while idle (the exporter closes idle
    connections). Go's HTTP client, hence Prometheus, retries such a GET; so do the readers."""
    return reused and attempt == 0 and isinstance(
        error, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError))


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[k]


# --- sandbox ------------------------------------------------------------------

def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            k, v = line.split("=", 1)
            env[k] = v
    return env


class Sandbox:
    """test/sandbox/up in a private directory; down() stops all it started."""

    def __init__(self, sb_dir, build_dir, knobs=None):
        self.dir = sb_dir
        self.build_dir = build_dir
        self.knobs = dict(knobs or {})
        self.env = None

    def _environ(self):
        e = dict(os.environ)
        e["CDC_SANDBOX_DIR"] = self.dir
        e["CDC_BUILD_DIR"] = self.build_dir
        e.update(self.knobs)
        return e

    def up(self, fresh=True):
        args = [os.path.join(SANDBOX, "up")] + (["--fresh"] if fresh else [])
        t = time.time()
        r = subprocess.run(args, env=self._environ(), capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise RuntimeError("sandbox up failed:\n" + r.stdout + r.stderr)
        self.env = read_env(os.path.join(self.dir, "env"))
        log("sandbox up in %.1f s (%s)" % (time.time() - t, self.dir))
        return self.env

    def down(self):
        subprocess.run([os.path.join(SANDBOX, "down")], env=self._environ(),
                       capture_output=True, text=True)

    def demo_config(self, out, interval="5s", timeout="10s",
                    heartbeat_max_age="30s"):
        e = self._environ()
        e.update({"CDC_DEMO_MARKER_INTERVAL": interval,
                  "CDC_DEMO_MARKER_TIMEOUT": timeout,
                  "CDC_DEMO_HEARTBEAT_MAX_AGE": heartbeat_max_age,
                  "CDC_DEMO_OUT": out})
        subprocess.run([os.path.join(SANDBOX, "demo-config")], env=e,
                       check=True, capture_output=True, text=True)
        return out

    def proxy_mode(self, proxy, mode):
        """Sets a fault proxy's mode; returns the wall time the change took
        effect (the response's arrival, per the sandbox README)."""
        url = self.env["PROXY_%s_CONTROL_URL" % proxy.upper()]
        req = urllib.request.Request(url + "/mode?mode=" + mode, data=b"",
                                     method="PUT")
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
        return time.time()

    def mysql(self, sql, cnf_key="MYSQL_ROOT_CNF"):
        r = subprocess.run(["mariadb", "--defaults-file=" + self.env[cnf_key],
                            "-N", "-B", "-e", sql], capture_output=True,
                           text=True, check=True)
        return r.stdout


# --- processes ----------------------------------------------------------------

class Proc:
    """/proc accounting of one process (and its threads)."""

    def __init__(self, pid):
        self.pid = pid

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[0] is field 3 (state); utime, stime are fields 14, 15.
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_bytes(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def hwm_bytes(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0

    def threads(self):
        """[(tid, comm, cpu_seconds)]"""
        out = []
        base = "/proc/%d/task" % self.pid
        for tid in os.listdir(base):
            try:
                with open("%s/%s/comm" % (base, tid)) as f:
                    comm = f.read().strip()
                with open("%s/%s/stat" % (base, tid)) as f:
                    fl = f.read().rsplit(")", 1)[1].split()
                out.append((int(tid), comm,
                            (int(fl[11]) + int(fl[12])) / CLK_TCK))
            except OSError:
                pass
        return out

    def tcp_peers(self):
        """Remote 'ip:port' of every established TCP socket of the process."""
        inodes = set()
        fd_dir = "/proc/%d/fd" % self.pid
        for fd in os.listdir(fd_dir):
            try:
                link = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            m = re.match(r"socket:\[(\d+)\]", link)
            if m:
                inodes.add(m.group(1))
        peers = []
        for table in ("/proc/%d/net/tcp" % self.pid,
                      "/proc/%d/net/tcp6" % self.pid):
            try:
                with open(table) as f:
                    next(f)
                    for line in f:
                        p = line.split()
                        if p[9] in inodes and p[3] == "01":  # ESTABLISHED
                            ip_hex, port_hex = p[2].split(":")
                            if len(ip_hex) == 8:
                                ip = ".".join(str(int(ip_hex[i:i + 2], 16))
                                              for i in (6, 4, 2, 0))
                            else:
                                ip = "v6"
                            peers.append("%s:%d" % (ip, int(port_hex, 16)))
            except OSError:
                pass
        return peers


class Exporter:
    """cdc-sentinel as a child process on a free loopback port."""

    def __init__(self, binary, config, log_path, level="info"):
        self.port = free_port()
        self.log_path = log_path
        self.logf = open(log_path, "ab")
        self.p = subprocess.Popen(
            [binary, "--config.file=" + config,
             "--web.listen-address=127.0.0.1:%d" % self.port,
             "--log.level=" + level],
            stdout=self.logf, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.proc = Proc(self.p.pid)
        self.conn = None
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.p.poll() is not None:
                with open(log_path, errors="replace") as f:
                    tail = f.read()[-2000:]
                raise RuntimeError("exporter exited with %s; %s:\n%s" %
                                   (self.p.returncode, log_path, tail))
            try:
                self.get("/-/healthy")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("exporter did not answer on port %d" % self.port)

    def get(self, path, timeout=10, headers=None, raw=False):
        """GET over a keep-alive connection; returns the body as str (as
        bytes, still encoded, if raw)."""
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=timeout)
            try:
                self.conn.request("GET", path, headers=headers or {})
                r = self.conn.getresponse()
                body = r.read()
                if r.status != 200:
                    raise OSError("HTTP %d for %s" % (r.status, path))
                return body if raw else body.decode()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        return ""

    def metrics(self):
        return parse_metrics(self.get("/metrics"))

    def stop(self):
        if self.conn:
            self.conn.close()
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logf.close()


# --- metrics ------------------------------------------------------------------

_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{metric name: [(labels dict, value)]}"""
    out = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        if "{" in line:
            name, rest = line.split("{", 1)
            labels_s, value = rest.rsplit("}", 1)
            labels = dict(_LABEL.findall(labels_s))
        else:
            name, value = line.split(" ", 1)
            labels = {}
        try:
            v = float(value.split()[0])
        except ValueError:
            continue
        out.setdefault(name, []).append((labels, v))
    return out


def value(metrics, name, **match):
    """Sum of the series of `name` whose labels include `match` (None if none)."""
    total, seen = 0.0, False
    for labels, v in metrics.get(name, []):
        if all(labels.get(k) == w for k, w in match.items()):
            total += v
            seen = True
    return total if seen else None


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")


# --- standalone daemons (broker, a scale cdc-sim) --------------------------------

class Daemon:
    """A child process in its own process group; stop() ends the group."""

    def __init__(self, args, log_path, env=None):
        self.logf = open(log_path, "ab")
        self.p = subprocess.Popen(args, stdout=self.logf,
                                  stderr=subprocess.STDOUT,
                                  start_new_session=True, env=env)
        self.pid = self.p.pid
        self.proc = Proc(self.pid)

    def alive(self):
        return self.p.poll() is None

    def stop(self, grace=20):
        if self.p.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.p.wait()
        self.logf.close()


def wait_kv_file(path, key, daemon, limit=30):
    end = time.time() + limit
    while time.time() < end:
        if os.path.exists(path):
            kv = read_env(path)
            if kv.get(key):
                return kv
        if not daemon.alive():
            raise RuntimeError("daemon exited before writing " + path)
        time.sleep(0.1)
    raise RuntimeError("no %s= in %s after %d s" % (key, path, limit))


def start_broker(build_dir, work):
    """A one-broker cdc-kafka-broker; returns (Daemon, bootstrap)."""
    binary = os.path.join(build_dir, "test", "sandbox", "kafka_broker",
                          "cdc-kafka-broker")
    pf = os.path.join(work, "broker.ports")
    d = Daemon([binary, "--brokers", "1", "--control", "127.0.0.1:0",
                "--port-file", pf], os.path.join(work, "broker.log"))
    kv = wait_kv_file(pf, "bootstrap", d)
    return d, kv["bootstrap"]


def start_scale_sim(build_dir, work, bootstrap, count, tasks,
                    prefix="scale-", tag="scale"):
    """cdc-sim serving `count` REST-only connectors with `tasks` tasks each
    (its `generate:` config); returns (Daemon, base URL, connector names)."""
    binary = os.path.join(build_dir, "test", "sandbox", "sim", "cdc-sim")
    cfg = os.path.join(work, "sim-%s.yaml" % tag)
    pf = os.path.join(work, "sim-%s.ports" % tag)
    if os.path.exists(pf):
        os.remove(pf)
    with open(cfg, "w") as f:
        f.write("port_file: %s\n" % pf)
        f.write("rest: {listen: 127.0.0.1:0}\n")
        f.write("worker_id: 127.0.0.1:18083\n")
        f.write("kafka: {bootstrap_servers: \"%s\"}\n" % bootstrap)
        f.write("offsets_topic: bench-%s-offsets\n" % tag)
        f.write("log_file: %s\n" % os.path.join(work, "sim-%s.log" % tag))
        f.write("connectors:\n")
        f.write("  - generate: {count: %d, tasks: %d, name_prefix: %s}\n" %
                (count, tasks, prefix))
    d = Daemon([binary, "--config", cfg],
               os.path.join(work, "sim-%s.out" % tag))
    kv = wait_kv_file(pf, "rest_port", d)
    width = len(str(count))
    names = ["%s%0*d" % (prefix, width, i) for i in range(1, count + 1)]
    return d, "http://127.0.0.1:%s" % kv["rest_port"], names


class Sampler:
    """Samples a process's RSS every `every` s in a thread (mean and max)."""

    def __init__(self, proc, every=2.0):
        import threading
        self.proc, self.every = proc, every
        self.rss, self.loads = [], []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.rss.append(self.proc.rss_bytes())
                self.loads.append(loadavg())
            except OSError:
                pass
            self._stop.wait(self.every)

    def stop(self):
        self._stop.set()
        self._t.join()
        return {"rss_mean_bytes": sum(self.rss) / max(1, len(self.rss)),
                "rss_max_bytes": max(self.rss or [0]),
                "samples": len(self.rss),
                "load_first": self.loads[0] if self.loads else "",
                "load_last": self.loads[-1] if self.loads else ""}


def thread_cpu_by_name(before, after):
    """CPU seconds per thread name between two Proc.threads() snapshots."""
    b = {tid: cpu for tid, _, cpu in before}
    out = {}
    for tid, comm, cpu in after:
        # librdkafka names threads rdk:broker<N>/rdk:main; strip digits for
        # grouping only where they are ids.
        out[comm] = out.get(comm, 0.0) + cpu - b.get(tid, 0.0)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def start_rest_scale(build_dir, work, exporter_bin, connectors, tasks, poll):
    """A mock broker, cdc-sim serving `connectors` REST-only connectors with `tasks` tasks each,
    and cdc-sentinel polling them every `poll`; returns (broker, sim, exporter) once the exporter
    has seen every connector. The caller stops all three (even on an exception: whatever was
    started is stopped here before re-raising)."""
    broker = sim = exp = None
    try:
        broker, bootstrap = start_broker(build_dir, work)
        sim, url, _ = start_scale_sim(build_dir, work, bootstrap, connectors, tasks)
        cfg = os.path.join(work, "exporter.yaml")
        poll_s = float(poll.rstrip("s"))
        with open(cfg, "w") as f:
            # timeout: 5 s, or the interval if shorter (it may not exceed it)
            f.write("connect_clusters:\n  - name: scale\n    url: %s\n"
                    "    interval: %s\n    timeout: %gs\n" % (url, poll, min(5.0, poll_s)))
        exp = Exporter(exporter_bin, cfg, os.path.join(work, "exporter.log"))
        end = time.time() + 60
        while time.time() < end:
            m = exp.metrics()
            n = len({lab["connector"] for lab, _ in m.get("cdc_connector_tasks", [])})
            if value(m, "cdc_connect_up") == 1 and n == connectors:
                return broker, sim, exp
            time.sleep(0.5)
        raise RuntimeError("exporter never saw all connectors")
    except BaseException:
        for d in (exp, sim, broker):
            if d:
                d.stop()
        raise


def rest_scale_parser(doc):
    """An argument parser with the options of the REST scale setup (start_rest_scale)."""
    import argparse
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--connectors", type=int, default=1000)
    ap.add_argument("--tasks", type=int, default=4, help="tasks per connector")
    ap.add_argument("--poll", default="15s", help="connect_clusters[].interval")
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--build-dir", default=default_build_dir())
    ap.add_argument("--exporter", default=None, help="default: BUILD_DIR/exporter/cdc-sentinel")
    return ap
