"""Helpers shared by the Python tests that drive the sandbox and a cdc-sentinel on it
(test/quickstart_test.py, test/image_test.py): the sandbox's env file, /metrics scraping, waiting,
and ok/FAIL check lines. Standard library only."""

import os
import re
import subprocess
import time
import urllib.request


class Checks:
    """Prints one `ok`/`FAIL` line per check and remembers the failures."""

    def __init__(self):
        self.failures = []

    def __call__(self, name, ok, detail=""):
        print("%s  %s%s" % ("ok   " if ok else "FAIL ", name, (": " + detail) if detail else ""),
              flush=True)
        if not ok:
            self.failures.append(name)
        return ok

    def summary(self):
        """The last line, and the exit status: 0 if nothing failed."""
        print("%d check(s) failed%s" % (len(self.failures), (": " + ", ".join(self.failures))
                                         if self.failures else ""))
        return 1 if self.failures else 0


def read_env(sandbox_dir):
    """The KEY=value lines of the sandbox's env file (test/sandbox/up writes it)."""
    env = {}
    with open(os.path.join(sandbox_dir, "env")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def parse_metrics(text):
    """{name: [(labels, value)]} of the labelled samples of a text exposition."""
    out = {}
    for line in text.splitlines():
        m = re.match(r'^(\w+)\{([^}]*)\}\s+(\S+)$', line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
            out.setdefault(m.group(1), []).append((labels, float(m.group(3))))
    return out


def scrape(port):
    """The exporter's /metrics on 127.0.0.1:port, parsed; {} if it does not answer."""
    try:
        return parse_metrics(http_get("http://127.0.0.1:%d/metrics" % port))
    except Exception:  # noqa: BLE001 - not up (yet)
        return {}


def value(metrics, name, **want):
    """The value of the first sample of `name` whose labels include `want`, else None."""
    for labels, v in metrics.get(name, []):
        if all(labels.get(k) == w for k, w in want.items()):
            return v
    return None


def wait(cond, within, every=1.0):
    """Calls cond() every `every` s until it returns something true or `within` s pass; returns
    its last result."""
    end = time.time() + within
    while True:
        v = cond()
        if v or time.time() >= end:
            return v
        time.sleep(every)


def start_exporter(binary, config, log_path):
    """Starts cdc-sentinel on 127.0.0.1 and a port it picks itself (no free-port race), its output
    into log_path; returns (process, port), port None if no start line came within 20 s."""
    log = open(log_path, "w")
    proc = subprocess.Popen([binary, "--config.file=" + config,
                             "--web.listen-address=127.0.0.1:0"],
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()  # the child has its own descriptor

    def started():
        with open(log_path) as f:
            m = re.search(r'msg="cdc-sentinel started".* port=([0-9]+)', f.read())
        return int(m.group(1)) if m else None

    return proc, wait(started, 20, 0.1)


def stop_exporter(proc):
    """SIGTERM, then SIGKILL after 15 s."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
