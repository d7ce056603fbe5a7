#!/usr/bin/env python3
"""The container image, built with the real engine and run against the sandbox.

scripts/image.sh builds the repository's Dockerfile (Debian's docker.io, a private dockerd, base
images made with debootstrap: no registry is reachable). Then the image runs as the documented
`docker run` does, with --network host so that it reaches the sandbox on loopback, its root
filesystem read-only, the configuration and the secrets it names mounted read-only, and:

  - it runs as the image's non-root uid (65532), and cannot write its root filesystem;
  - its HEALTHCHECK (the image's own, unchanged) turns `healthy`;
  - /metrics, read from the host, shows both sandbox connectors judged `ok`;
  - the field failure (test/sandbox/fault tls13 blackhole) is judged `stalled` through the container
    as through the binary, the other connector stays ok;
  - `docker stop` (SIGTERM, 10 s grace) stops it with exit code 0 well within the grace.

Prints the image size, the build time and each measured time (docs/deployment.md quotes them).

  CDC_SANDBOX_DIR=build/sandbox-test python3 test/image_test.py

Needs root. Exit 0 if every check passed, 1 otherwise.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandbox_checks import Checks, read_env, scrape, value, wait  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(REPO, "test", "sandbox")
DOCKER = "/usr/bin/docker"
TAG = "cdc-sentinel:test"
NAME = "cdc-sentinel-image-test"
PORT = 9877  # the image's --web.listen-address and HEALTHCHECK
UID = 65532

check = Checks()


def docker(*args, timeout=120):
    return subprocess.run([DOCKER] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=DENV)


def inspect(fmt):
    r = docker("inspect", "-f", fmt, NAME)
    return r.stdout.strip() if r.returncode == 0 else None


def metrics():
    return scrape(PORT)




def fault(sb, *args):
    return subprocess.run([os.path.join(SCRIPTS, "fault")] + list(args), capture_output=True,
                          text=True, env=dict(os.environ, CDC_SANDBOX_DIR=sb))


def main():
    if os.geteuid() != 0:
        sys.exit("image_test: needs root (it starts dockerd)")
    sb = os.environ.get("CDC_SANDBOX_DIR") or os.path.join(REPO, ".sandbox")
    env = read_env(sb)
    tls13, tls12 = env["CONNECTOR_TLS13_NAME"], env["CONNECTOR_TLS12_NAME"]

    # ---- build ----
    # A daemon this test starts is stopped at its end; one that was running is left alone.
    daemon_was_up = docker("info").returncode == 0 if os.path.exists(DOCKER) else False
    try:
        build_and_run(sb, env, tls13, tls12)
    finally:
        if not daemon_was_up:
            subprocess.run([os.path.join(REPO, "scripts", "image.sh"), "stop"],
                           capture_output=True, timeout=120)


def build_and_run(sb, env, tls13, tls12):
    t0 = time.time()
    r = subprocess.run([os.path.join(REPO, "scripts", "image.sh"), "build", TAG],
                       capture_output=True, text=True, timeout=1800)
    print(r.stderr.strip())
    if not check("scripts/image.sh build", r.returncode == 0, r.stdout.strip()):
        return
    print("[ MEASURED ] %s (script total %.0f s, base image included when it was made)"
          % (r.stdout.strip(), time.time() - t0), flush=True)

    # ---- the configuration and its secrets, readable by the image's uid ----
    work = tempfile.mkdtemp(prefix="cdc-image-test-")
    os.chmod(work, 0o755)
    secrets = os.path.join(work, "secrets")
    os.mkdir(secrets)
    cfg_path = os.path.join(work, "config.yaml")
    subprocess.run([os.path.join(SCRIPTS, "demo-config")], check=True, capture_output=True,
                   env=dict(os.environ, CDC_SANDBOX_DIR=sb, CDC_DEMO_OUT=cfg_path))
    text = open(cfg_path).read()
    for src, name in ((env["MYSQL_MONITOR_PASSWORD_FILE"], "mysql-monitor"),
                      (env["MYSQL_CA"], "mysql-ca.pem")):
        dst = os.path.join(secrets, name)
        shutil.copyfile(src, dst)
        os.chown(dst, UID, UID)
        os.chmod(dst, 0o400)
        text = text.replace(src, "/run/secrets/" + name)
    with open(cfg_path, "w") as f:
        f.write(text)
    os.chmod(cfg_path, 0o644)

    s = socket.socket()
    try:
        s.bind(("0.0.0.0", PORT))
    except OSError as e:
        check("port %d is free for the container (--network host)" % PORT, False, str(e))
        return
    finally:
        s.close()

    docker("rm", "-f", NAME)
    # As docs/deployment.md runs it (--init when Debian's docker-init, from tini, is there),
    # with --network host instead of -p so that it reaches the sandbox on loopback.
    init = ["--init"] if os.path.exists("/usr/bin/docker-init") else []
    run = ["run", "-d", "--name", NAME, "--network", "host"] + init + [
           "--hostname", "cdc-sentinel", "--read-only", "--tmpfs", "/tmp:size=16m",
           "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
           "-v", "%s:/etc/cdc-sentinel/config.yaml:ro" % cfg_path,
           "-v", "%s:/run/secrets:ro" % secrets, TAG]
    print("      docker " + " ".join(run), flush=True)
    t_run = time.time()
    r = docker(*run)
    try:
        if not check("docker run", r.returncode == 0, (r.stdout + r.stderr).strip()):
            return
        # ---- non-root, read-only ----
        pid = inspect("{{.State.Pid}}")
        uid_line = ""
        if pid and pid != "0":
            if init:  # PID 1 is docker-init; the exporter is its child
                children = subprocess.run(["pgrep", "-P", pid], capture_output=True,
                                          text=True).stdout.split()
                pid = children[0] if children else pid
            with open("/proc/%s/status" % pid) as f:
                uid_line = next((line for line in f if line.startswith("Uid:")), "")
        check("runs as uid %d" % UID, uid_line.split()[1:2] == [str(UID)], uid_line.strip())
        check("root filesystem read-only", inspect("{{.HostConfig.ReadonlyRootfs}}") == "true")
        # A directory its uid owns: only the read-only root stops the write.
        r = docker("exec", NAME, "sh", "-c",
                   "touch /var/lib/cdc-sentinel/evidence/x 2>&1; echo rc=$?")
        check("cannot write its root filesystem (even where its uid may)",
              "rc=0" not in r.stdout and "Read-only" in r.stdout, r.stdout.strip())

        # ---- judged ----
        def both_ok():
            m = metrics()
            return all(value(m, "cdc_connector_verdict", connector=c, verdict="ok") == 1
                       for c in (tls13, tls12))

        ok = wait(both_ok, 90)
        check("both connectors judged ok through the container (%.0f s after docker run)"
              % (time.time() - t_run), ok)
        healthy = wait(lambda: inspect("{{.State.Health.Status}}") == "healthy", 120, 2)
        check("HEALTHCHECK healthy (%.0f s after docker run)" % (time.time() - t_run), healthy,
              inspect("{{json .State.Health}}") or "")

        # ---- the field failure ----
        t0 = time.time()
        r = fault(sb, "tls13", "blackhole")
        check("fault tls13 blackhole", r.returncode == 0, r.stderr.strip())
        stalled = wait(lambda: value(metrics(), "cdc_silent_failure", connector=tls13) == 1, 60,
                       0.5)
        took = time.time() - t0
        check("tls13 judged stalled through the container in %.1f s" % took, stalled)
        check("tls12 not stalled", value(metrics(), "cdc_silent_failure", connector=tls12) == 0)
        fault(sb, "tls13", "pass")
        print("[ MEASURED ] stalled after %.1f s (markers 5 s / 10 s)" % took, flush=True)

        # ---- SIGTERM ----
        t0 = time.time()
        docker("stop", "-t", "10", NAME, timeout=60)
        took = time.time() - t0
        code = inspect("{{.State.ExitCode}}")
        check("docker stop: exit code 0 in %.1f s (grace 10 s)" % took,
              code == "0" and took < 9, "exit code %s" % code)
        logs = docker("logs", NAME).stderr
        check("logged its shutdown", "shutting down" in logs, logs[-500:])
    finally:
        fault(sb, "heal")
        if check.failures:
            print(docker("logs", "--tail", "40", NAME).stderr)
        docker("rm", "-f", NAME)
        shutil.rmtree(work, ignore_errors=True)


DENV = dict(os.environ, DOCKER_HOST="unix://%s/docker.sock" % os.environ.get(
    "CDC_DOCKER_DIR", "/var/tmp/cdc-sentinel-docker"))

if __name__ == "__main__":
    main()
    sys.exit(check.summary())
