#!/usr/bin/env python3
"""Checks the deployment files (no Docker engine needed): Dockerfile, deploy/compose/,
deploy/kubernetes/ and deploy/systemd/, against each other, the built binary and the rest of the
repository.

  python3 test/deploy_test.py BUILD/exporter/cdc-sentinel     # ctest: deploy_files

Dockerfile
  - multi-stage: a `debian:12` build stage and a final `debian:12-slim` stage, no other images;
  - the build stage installs scripts/deps.sh's build packages (minus git and the test-only ones)
    and builds only the cdc-sentinel target, Release, with tests and sandbox off;
  - the runtime stage installs exactly the Debian packages owning the shared libraries `ldd`
    reports for the binary (`dpkg -S`), minus BASE_IMAGE_PACKAGES (already in debian:12-slim),
    plus ca-certificates;
  - every `apt-get install` uses --no-install-recommends, runs after `apt-get update` and removes
    /var/lib/apt/lists in the same RUN; no `curl | sh`, no ADD of a URL;
  - USER is numeric and not 0; HEALTHCHECK runs, through /bin/sh, `<binary> healthcheck
    http://127.0.0.1:PORT/-/healthy || ... <binary> healthcheck https://...` (so that it passes
    with web TLS on) with a timeout above 10 s; EXPOSE and the ENTRYPOINT's --web.listen-address use the binary's default
    port (from --help);
  - OCI labels: title, description, source, documentation, and version/revision/created from
    ARG VERSION/REVISION/CREATED, VERSION defaulting to CMakeLists.txt's project version;
  - .dockerignore keeps .git, build*/ and .sandbox/ out; hadolint runs if it is installed.
deploy/compose
  - docker-compose.yml parses; published host ports are unique; every bind mount, secret file and
    build context exists; references between services resolve;
  - the cdc-sentinel config passes `--config.check` with /run/secrets/* mapped to the compose
    secret files; its hosts are compose services; the service is read_only with a /tmp tmpfs,
    cap_drop [ALL] and no-new-privileges;
  - connectors/*.json: names and topic.prefix equal the exporter's connectors, cdc_canary.markers
    in table.include.list, heartbeat.interval.ms set, database.user = binlog_user, registered on
    the worker the exporter names; passwords agree between secrets/ and mysql/init.sql;
  - init.sql grants cdc_monitor the privileges of docs/configuration.md;
  - prometheus.yml's rule file is the repository's alerts/cdc-sentinel.rules.yml (mounted) and
    the config passes `promtool check config`; alertmanager.yml passes `amtool check-config`.
deploy/kubernetes
  - every file parses; the base kustomization and the Component components/prometheus-operator
    use every YAML file of their folders (not secret.example.yaml); the base holds no
    monitoring.coreos.com object (applies without the Operator's CRDs), the component exactly the
    ServiceMonitor and the PrometheusRule; the exporter's configuration is config.yaml through a
    configMapGenerator with its hash suffix (no hand-written ConfigMap);
  - components/prometheus-operator/prometheusrule.yaml and grafana-dashboards.yaml are what
    generate.py produces now, the rule groups equal alerts/cdc-sentinel.rules.yml's, one
    grafana_dashboard ConfigMap per dashboard;
  - the Deployment's probes hit /-/ready and /-/healthy on the port the Service targets, runs as
    the Dockerfile's non-root uid, has resources; the ServiceMonitor scrapes the Service's port;
  - the ConfigMap's config passes `--config.check` with its secret files replaced by temp files,
    and every such file is a key of the mounted Secret (secret.example.yaml, placeholders only);
  - components/sharded deletes the Deployment and adds a StatefulSet with the same pod template
    but for the fixed hostname, `--shard=$(POD_INDEX)/$(SHARD_COUNT)`, POD_INDEX from the
    pod-index label and SHARD_COUNT equal to replicas;
  - with kubectl: `kubectl kustomize` builds the base (hashed ConfigMap that the Deployment
    references, no Operator objects) and an overlay with the component.
deploy/systemd
  - credentials.conf's LoadCredential= names are exactly those the unit's comments, the drop-in
    and docs/deployment.md#systemd show, and the /run/credentials/cdc-sentinel.service/<name>
    paths they tell the configuration to use; `systemd-analyze verify` accepts the unit with the
    drop-in when systemd-analyze is installed.

CDC_DEPLOY_ROOT=DIR checks a copy of the repository instead (to try broken files).
Needs python3 with PyYAML, ldd, dpkg, promtool (Debian package prometheus); amtool, hadolint and
kubectl and systemd-analyze are used when present. Exit status 0 when everything passed, 1 otherwise.
"""

import copy
import glob
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import yaml

REPO = os.path.abspath(os.environ.get("CDC_DEPLOY_ROOT")
                       or os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPOSE_DIR = os.path.join(REPO, "deploy", "compose")
K8S_DIR = os.path.join(REPO, "deploy", "kubernetes")
SYSTEMD_DIR = os.path.join(REPO, "deploy", "systemd")

# The Debian packages of debian:12-slim (bookworm-slim, amd64), from the image's package manifest
# (docker-library/repo-info, repos/debian/local/bookworm-slim.md). Shared libraries owned by these
# need no apt-get install in the runtime stage. libc6, libgcc-s1 and libstdc++6 are among them.
BASE_IMAGE_PACKAGES = {
    "adduser", "apt", "base-files", "base-passwd", "bash", "bsdutils", "coreutils", "dash",
    "debconf", "debian-archive-keyring", "debianutils", "diffutils", "dpkg", "e2fsprogs",
    "findutils", "gcc-12-base", "gpgv", "grep", "gzip", "hostname", "init-system-helpers",
    "libacl1", "libapt-pkg6.0", "libattr1", "libaudit-common", "libaudit1", "libblkid1",
    "libbz2-1.0", "libc-bin", "libc6", "libcap-ng0", "libcap2", "libcom-err2", "libcrypt1",
    "libdb5.3", "libdebconfclient0", "libext2fs2", "libffi8", "libgcc-s1", "libgcrypt20",
    "libgmp10", "libgnutls30", "libgpg-error0", "libhogweed6", "libidn2-0", "liblz4-1",
    "liblzma5", "libmd0", "libmount1", "libnettle8", "libp11-kit0", "libpam-modules",
    "libpam-modules-bin", "libpam-runtime", "libpam0g", "libpcre2-8-0", "libseccomp2",
    "libselinux1", "libsemanage-common", "libsemanage2", "libsepol2", "libsmartcols1", "libss2",
    "libstdc++6", "libsystemd0", "libtasn1-6", "libtinfo6", "libudev1", "libunistring2",
    "libuuid1", "libxxhash0", "libzstd1", "login", "logsave", "mawk", "mount", "ncurses-base",
    "ncurses-bin", "passwd", "perl-base", "sed", "sysvinit-utils", "tar", "tzdata",
    "usr-is-merged", "util-linux", "util-linux-extra", "zlib1g",
}
# Runtime packages the binary does not link but the image needs.
RUNTIME_EXTRA_PACKAGES = {"ca-certificates"}
# A -DCDC_SANITIZE=ON build links these; the image is never built that way.
SANITIZER_PACKAGES = {"libasan8", "libubsan1", "liblsan0", "libtsan2"}
# Packages of scripts/deps.sh's BUILD_PKGS the image's build stage does not need: git (.git is
# not in the context; the revision comes as ARG REVISION -> -DCDC_REVISION), the test frameworks, and
# build-essential (g++ and make are enough).
BUILD_PKGS_NOT_IN_IMAGE = {"git", "libgtest-dev", "libgmock-dev", "build-essential"}

CONFIG_PATH = "/etc/cdc-sentinel/config.yaml"


class Results:
    def __init__(self):
        self.failures = 0

    def ok(self, name):
        print("ok    %s" % name)

    def fail(self, name, msg):
        self.failures += 1
        print("FAIL  %s: %s" % (name, msg))

    def skip(self, name, msg):
        print("skip  %s: %s" % (name, msg))

    def check(self, name, cond, msg):
        if cond:
            self.ok(name)
        else:
            self.fail(name, msg)
        return cond


R = Results()


def rel(path):
    return os.path.relpath(path, REPO)


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_yaml_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def duration_seconds(text):
    total, pos = 0.0, 0
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for m in re.finditer(r"(\d+)(ms|s|m|h)", text):
        if m.start() != pos:
            return None
        total += int(m.group(1)) * units[m.group(2)]
        pos = m.end()
    return total if pos == len(text) and pos else None


# ------------------------------------------------------------------------------------------------
# The binary
# ------------------------------------------------------------------------------------------------

def default_port(binary):
    out = run([binary, "--help"]).stdout
    m = re.search(r"--web\.listen-address=\S+.*\(default [^:)]*:(\d+)\)", out)
    if not m:
        R.fail("binary default port", "`%s --help` names no default listen port" % binary)
        return None
    return int(m.group(1))


def ldd_libraries(binary):
    res = run(["ldd", binary])
    if res.returncode != 0:
        R.fail("ldd", "ldd %s: %s" % (binary, res.stderr.strip()))
        return None
    libs, missing = [], []
    for line in res.stdout.splitlines():
        line = line.strip()
        if "=> not found" in line:
            missing.append(line.split()[0])
            continue
        m = re.match(r"\S+ => (/\S+) \(0x", line) or re.match(r"(/\S+) \(0x", line)
        if m:
            libs.append(m.group(1))
    if missing:
        R.fail("ldd", "libraries not found: %s" % ", ".join(missing))
    return libs


def owning_packages(path):
    """The Debian packages owning a library path (dpkg -S), trying the /usr-merged aliases."""
    candidates = []
    for p in (path, os.path.realpath(path)):
        candidates.append(p)
        candidates.append(p[len("/usr"):] if p.startswith("/usr/") else "/usr" + p)
    for p in candidates:
        res = run(["dpkg", "-S", p])
        if res.returncode != 0:
            continue
        owners = set()
        for line in res.stdout.splitlines():
            if line.startswith("diversion "):
                continue
            names, sep, _ = line.partition(": ")
            if sep:
                owners |= {n.strip().split(":")[0] for n in names.split(",")}
        if owners:
            return owners
    return None


def runtime_packages_from_binary(binary):
    libs = ldd_libraries(binary)
    if libs is None:
        return None
    owners, unowned = {}, []
    for lib in libs:
        pkgs = owning_packages(lib)
        if not pkgs:
            unowned.append(lib)
            continue
        for p in pkgs:
            owners.setdefault(p, []).append(lib)
    if unowned:
        R.fail("runtime libraries", "not from any Debian package, so the image cannot install "
               "them: %s" % ", ".join(unowned))
    return owners


# ------------------------------------------------------------------------------------------------
# Dockerfile
# ------------------------------------------------------------------------------------------------

def parse_dockerfile(path):
    """[(stage index, INSTRUCTION, arguments)], continuation lines joined, comments dropped."""
    instructions, buf, stage = [], "", -1
    for raw in read(path).splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buf):
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        if not buf.strip():
            buf = ""
            continue
        word, _, args = buf.strip().partition(" ")
        word = word.upper()
        if word == "FROM":
            stage += 1
        instructions.append((stage, word, args.strip()))
        buf = ""
    return instructions


def exec_form(args):
    try:
        value = json.loads(args)
    except ValueError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def apt_install_packages(run_args):
    """Packages named by `apt-get install` in one RUN."""
    pkgs = []
    for cmd in re.split(r"&&|;|\|\|", run_args):
        words = shlex.split(cmd)
        if len(words) >= 2 and words[0] in ("apt-get", "apt") and "install" in words:
            after = words[words.index("install") + 1:]
            pkgs += [w for w in after if not w.startswith("-")]
    return pkgs


def check_dockerfile(binary, port, owners):
    path = os.path.join(REPO, "Dockerfile")
    if not os.path.exists(path):
        R.fail("Dockerfile", "missing")
        return None
    ins = parse_dockerfile(path)
    froms = [(s, a) for s, w, a in ins if w == "FROM"]
    images = [a.split()[0].split("@")[0] for _, a in froms]
    R.check("Dockerfile multi-stage", len(froms) >= 2, "%d FROM lines" % len(froms))
    R.check("Dockerfile base images",
            images and images[0] == "debian:12" and images[-1] == "debian:12-slim"
            and set(images) <= {"debian:12", "debian:12-slim"},
            "FROM %s (want debian:12 ... debian:12-slim)" % images)
    last = len(froms) - 1
    build_names = {a.split()[-1] for _, a in froms[:-1] if re.search(r"\s+AS\s+", a, re.I)}

    # Supply chain and apt hygiene.
    problems = []
    for s, w, a in ins:
        if w == "ADD" and re.search(r"\b(https?|ftp)://", a):
            problems.append("ADD of a URL: %s" % a)
        if w == "RUN":
            if re.search(r"\b(curl|wget)\b[^;&|]*\|\s*(sudo\s+)?(ba|da|z)?sh\b", a):
                problems.append("a downloaded script piped to a shell: %s" % a)
            if re.search(r"\bapt(-get)?\s+(-\S+\s+)*install\b", a):
                for need, why in (("--no-install-recommends", "--no-install-recommends"),
                                  ("apt-get update", "apt-get update in the same RUN"),
                                  ("rm -rf /var/lib/apt/lists/*", "rm -rf /var/lib/apt/lists/*")):
                    if need not in a:
                        problems.append("apt-get install without %s (stage %d)" % (why, s))
                if not re.search(r"install\s+(-\S+\s+)*-y\b|\s-y\s", a):
                    problems.append("apt-get install without -y (stage %d)" % s)
    R.check("Dockerfile apt/ADD/curl hygiene", not problems, "; ".join(problems))

    # Build stage: packages of scripts/deps.sh and the cmake invocation.
    build_runs = " ".join(a for s, w, a in ins if w == "RUN" and s < last)
    build_pkgs = set()
    for s, w, a in ins:
        if w == "RUN" and s < last:
            build_pkgs |= set(apt_install_packages(a))
    deps = read(os.path.join(REPO, "scripts", "deps.sh"))
    m = re.search(r"BUILD_PKGS=\(([^)]*)\)", deps)
    want = set(m.group(1).split()) - BUILD_PKGS_NOT_IN_IMAGE if m else set()
    missing = sorted(want - build_pkgs)
    R.check("Dockerfile build packages follow scripts/deps.sh", m and not missing
            and ({"g++", "build-essential"} & build_pkgs),
            "missing from the build stage: %s" % (missing or "a C++ compiler (g++)"))
    flags = ["-DCDC_BUILD_TESTS=OFF", "-DCDC_BUILD_SANDBOX=OFF", "-DCMAKE_BUILD_TYPE=Release",
             '-DCDC_REVISION="${REVISION}"', "--target cdc-sentinel"]
    build_args = {a.partition("=")[0].strip() for s, w, a in ins if w == "ARG" and s < last}
    R.check("Dockerfile build stage takes ARG REVISION for the binary", "REVISION" in build_args,
            "the build stage must declare ARG REVISION and pass it as -DCDC_REVISION")
    R.check("Dockerfile build command", all(f in build_runs for f in flags),
            "the build stage must run cmake with %s" % ", ".join(
                f for f in flags if f not in build_runs))

    # Runtime stage.
    final = [(w, a) for s, w, a in ins if s == last]
    runtime = set()
    for w, a in final:
        if w == "RUN":
            runtime |= set(apt_install_packages(a))
    if owners is not None:
        derived = set(owners) - BASE_IMAGE_PACKAGES - SANITIZER_PACKAGES
        listed = runtime - RUNTIME_EXTRA_PACKAGES
        extra, lacking = sorted(listed - derived), sorted(derived - listed)
        detail = []
        if lacking:
            detail.append("not installed but needed by %s" % ", ".join(
                "%s (%s)" % (p, ", ".join(os.path.basename(x) for x in owners[p]))
                for p in lacking))
        if extra:
            detail.append("installed but owning no library the binary links: %s"
                          % ", ".join(extra))
        R.check("Dockerfile runtime packages == ldd/dpkg -S of the binary",
                not detail and RUNTIME_EXTRA_PACKAGES <= runtime,
                "; ".join(detail) or "ca-certificates missing")
        print("      derived runtime packages: %s" % " ".join(sorted(derived)))
    copies = [a for w, a in final if w == "COPY" and a.startswith("--from=")]
    binary_dest = None
    for a in copies:
        words = a.split()
        src_stage = words[0][len("--from="):]
        if words[-1].endswith("/cdc-sentinel") and src_stage in build_names | {"0"}:
            binary_dest = words[-1]
    R.check("Dockerfile copies the binary from the build stage", binary_dest,
            "no COPY --from=<build stage> ... /.../cdc-sentinel in the final stage")

    users = [a for w, a in final if w == "USER"]
    user = users[-1].split(":")[0] if users else None
    uid = int(user) if user and user.isdigit() else None
    R.check("Dockerfile USER non-root", uid is not None and uid != 0,
            "final USER is %r: use a numeric non-zero uid (Kubernetes runAsNonRoot can only "
            "verify numbers)" % user)

    hc = [a for w, a in final if w == "HEALTHCHECK"]
    hc_cmd = None
    if hc:
        m = re.search(r"\bCMD\s+(\[.*\])\s*$", hc[-1])
        hc_cmd = exec_form(m.group(1)) if m else None
    hc_ok = False
    want_hc = ("CMD [\"/bin/sh\", \"-c\", \"%s healthcheck http://127.0.0.1:%d/-/healthy ... || "
               "... %s healthcheck https://127.0.0.1:%d/-/healthy\"]"
               % (binary_dest, port, binary_dest, port))
    if hc_cmd and binary_dest and hc_cmd[:2] == ["/bin/sh", "-c"] and len(hc_cmd) == 3:
        # Plain HTTP, then HTTPS (web TLS on): both on the default port, in that order. The binary
        # alone (`healthcheck` with one URL) would fail whenever --web.config.file turns TLS on.
        attempts = re.findall(r"(?:^|\|\||exec\s)\s*(\S+)\s+healthcheck\s+(\S+)", hc_cmd[2])
        hc_ok = attempts == [
            (binary_dest, "http://127.0.0.1:%d/-/healthy" % port),
            (binary_dest, "https://127.0.0.1:%d/-/healthy" % port)] and "||" in hc_cmd[2]
    R.check("Dockerfile HEALTHCHECK uses the binary (http, then https)", hc_ok,
            "want HEALTHCHECK ... %s, got %s" % (want_hc, hc))
    timeout = re.search(r"--timeout=(\S+)", hc[-1]) if hc else None
    secs = duration_seconds(timeout.group(1)) if timeout else 30  # Docker's default: 30 s
    R.check("Dockerfile HEALTHCHECK timeout fits two attempts", secs is not None and secs > 10,
            "--timeout=%s: the first attempt may take its 5 s connect + 5 s read timeouts"
            % (timeout.group(1) if timeout else None))

    # OCI labels; version, revision and creation time from build arguments.
    args = {}
    for w, a in final:
        if w == "ARG":
            name, _, default = a.partition("=")
            args[name.strip()] = default.strip().strip('"')
    labels = {}
    for w, a in final:
        if w == "LABEL":
            for k, v in re.findall(r'(\S+?)=("(?:[^"\\]|\\.)*"|\S+)', a):
                labels[k] = v.strip('"')
    oci = "org.opencontainers.image."
    problems = [oci + k for k in ("title", "description", "source", "documentation")
                if not labels.get(oci + k)]
    for key, arg in (("version", "VERSION"), ("revision", "REVISION"), ("created", "CREATED")):
        if arg not in args:
            problems.append("no ARG %s in the final stage" % arg)
        if labels.get(oci + key) not in ("${%s}" % arg, "$" + arg):
            problems.append("%s%s is %r, want \"${%s}\"" % (oci, key, labels.get(oci + key), arg))
    cmake = read(os.path.join(REPO, "CMakeLists.txt"))
    m = re.search(r"project\(cdc-sentinel\s+VERSION\s+(\S+)", cmake)
    if m and args.get("VERSION") != m.group(1):
        problems.append("ARG VERSION defaults to %r, CMakeLists.txt's project version is %s"
                        % (args.get("VERSION"), m.group(1)))
    for k, v in labels.items():
        if k.startswith(oci) and k.endswith(("source", "url", "documentation")) and \
                not v.startswith(("http://", "https://")):
            problems.append("%s is not a URL: %s" % (k, v))
    R.check("Dockerfile OCI labels (version, revision, created from ARGs)", not problems,
            "; ".join(problems))

    exposed = set()
    for w, a in final:
        if w == "EXPOSE":
            exposed |= {int(p.split("/")[0]) for p in a.split()}
    R.check("Dockerfile EXPOSE == default port", exposed == {port},
            "EXPOSE %s, the binary's default port is %s" % (sorted(exposed), port))

    eps = [exec_form(a) for w, a in final if w == "ENTRYPOINT"]
    ep = eps[-1] if eps else None
    ep_ok = (ep and ep[0] == binary_dest and "--config.file=" + CONFIG_PATH in ep
             and "--web.listen-address=:%d" % port in ep)
    R.check("Dockerfile ENTRYPOINT", ep_ok,
            "want exec form [\"%s\", \"--config.file=%s\", \"--web.listen-address=:%d\"], got %s"
            % (binary_dest, CONFIG_PATH, port, ep))

    ignore = os.path.join(REPO, ".dockerignore")
    entries = set()
    if os.path.exists(ignore):
        entries = {l.strip().strip("/") for l in read(ignore).splitlines()
                   if l.strip() and not l.startswith("#")}
    lacking = [e for e in (".git", "build*", ".sandbox") if e not in entries]
    R.check(".dockerignore", not lacking, "does not exclude %s" % ", ".join(lacking))

    hadolint = shutil.which("hadolint")
    if hadolint:
        res = run([hadolint, path])
        R.check("hadolint", res.returncode == 0, res.stdout + res.stderr)
    else:
        R.skip("hadolint", "not installed (Debian 12 has no hadolint package: "
               "`apt-cache policy hadolint` shows no candidate)")
    return uid


# ------------------------------------------------------------------------------------------------
# Compose
# ------------------------------------------------------------------------------------------------

def compose_volume(spec):
    """(source, target) of a short or long volume spec; source None for named volumes."""
    if isinstance(spec, dict):
        src = spec.get("source") if spec.get("type", "volume") == "bind" else None
        return src, spec.get("target")
    parts = spec.split(":")
    if len(parts) == 1:
        return None, parts[0]
    src, dst = parts[0], parts[1]
    return (src if src.startswith((".", "/", "~")) else None), dst


def published_ports(spec):
    """Host (ip, port) pairs a port spec publishes."""
    if isinstance(spec, dict):
        return [(spec.get("host_ip", ""), str(spec["published"]))] if "published" in spec else []
    parts = str(spec).split("/")[0].split(":")
    if len(parts) == 2:
        return [("", parts[0])]
    if len(parts) == 3:
        return [(parts[0], parts[1])]
    return []


def container_port(spec):
    if isinstance(spec, dict):
        return int(spec["target"])
    return int(str(spec).split("/")[0].split(":")[-1])


def service_secret_targets(service):
    """/run/secrets/<target> -> secret name, for a service's secrets."""
    out = {}
    for s in service.get("secrets") or []:
        if isinstance(s, dict):
            target = s.get("target", s["source"])
            out[target if target.startswith("/") else "/run/secrets/" + target] = s["source"]
        else:
            out["/run/secrets/" + s] = s
    return out


def secret_file_refs(config):
    """Every path under /run/secrets (or any *_file / secret_properties_files value)."""
    refs = []

    def walk(node, key=None):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "secret_properties_files" and isinstance(v, dict):
                    refs.extend(v.values())
                else:
                    walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and key and key.endswith("_file"):
            refs.append(node)
    walk(config)
    return refs


def config_check(binary, config, replacements, name):
    """Writes config with file paths replaced, runs --config.check."""
    text = yaml.safe_dump(config, sort_keys=False)
    for old, new in replacements.items():
        text = text.replace(old, new)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "config.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        res = run([binary, "--config.check", "--config.file=" + path])
    return R.check(name, res.returncode == 0, (res.stdout + res.stderr).strip())


def url_host_port(url):
    m = re.match(r"^[a-z]+://([^/:]+)(?::(\d+))?", url)
    return (m.group(1), int(m.group(2)) if m.group(2) else None) if m else (None, None)


def init_sql_passwords(sql):
    return dict(re.findall(r"CREATE USER\s+'([^']+)'@'[^']*'\s+IDENTIFIED BY\s+'([^']*)'", sql))


def properties(path):
    out = {}
    for line in read(path).splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


def check_compose(binary, port):
    path = os.path.join(COMPOSE_DIR, "docker-compose.yml")
    try:
        compose = load_yaml(path)
        services = compose["services"]
    except Exception as e:  # noqa: BLE001
        R.fail("compose parses", "%s: %s" % (rel(path), e))
        return
    R.ok("compose parses")
    want = {"mysql", "kafka", "connect-tls13", "connect-tls12", "register-connectors",
            "cdc-sentinel", "prometheus", "alertmanager", "grafana"}
    R.check("compose services", want <= set(services),
            "missing services: %s" % sorted(want - set(services)))

    seen, dups = {}, []
    for name, svc in services.items():
        for spec in svc.get("ports") or []:
            for hp in published_ports(spec):
                if hp in seen:
                    dups.append("%s:%s (%s and %s)" % (hp[0] or "*", hp[1], seen[hp], name))
                seen[hp] = name
    R.check("compose published ports unique", not dups, "; ".join(dups))

    secrets = compose.get("secrets") or {}
    problems = []

    def exists(src, what):
        full = os.path.normpath(os.path.join(COMPOSE_DIR, os.path.expanduser(src)))
        if not os.path.exists(full):
            problems.append("%s: %s does not exist" % (what, src))
        return full

    for name, svc in services.items():
        for spec in svc.get("volumes") or []:
            src, _ = compose_volume(spec)
            if src:
                exists(src, "service %s volume" % name)
        build = svc.get("build")
        if build:
            ctx = build if isinstance(build, str) else build.get("context", ".")
            full = exists(ctx, "service %s build context" % name)
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile",
                                                                              "Dockerfile")
            if not os.path.exists(os.path.join(full, dockerfile)):
                problems.append("service %s: no %s in %s" % (name, dockerfile, ctx))
        for s in service_secret_targets(svc).values():
            if s not in secrets:
                problems.append("service %s: secret %s not declared" % (name, s))
        deps = svc.get("depends_on") or []
        for d in (deps if isinstance(deps, list) else deps.keys()):
            if d not in services:
                problems.append("service %s depends on unknown %s" % (name, d))
        nm = svc.get("network_mode", "")
        if nm.startswith("service:") and nm[len("service:"):] not in services:
            problems.append("service %s: network_mode %s" % (name, nm))
    for name, s in secrets.items():
        if "file" in s:
            exists(s["file"], "secret %s" % name)
    R.check("compose mounts, secrets, build context exist", not problems, "; ".join(problems))

    # cdc-sentinel's configuration.
    exp = services.get("cdc-sentinel", {})
    cfg_src = None
    for spec in exp.get("volumes") or []:
        src, dst = compose_volume(spec)
        if dst == CONFIG_PATH and src:
            cfg_src = os.path.normpath(os.path.join(COMPOSE_DIR, src))
    if not cfg_src or not os.path.exists(cfg_src):
        R.fail("compose cdc-sentinel config", "no existing file mounted at " + CONFIG_PATH)
        return
    config = load_yaml(cfg_src)
    targets = service_secret_targets(exp)
    repl, unmapped = {}, []
    for ref in secret_file_refs(config):
        if ref in targets and "file" in secrets.get(targets[ref], {}):
            repl[ref] = os.path.normpath(os.path.join(COMPOSE_DIR, secrets[targets[ref]]["file"]))
        elif ref.startswith("/run/secrets/"):
            unmapped.append(ref)
    R.check("compose cdc-sentinel secret files are compose secrets", not unmapped,
            "not among the cdc-sentinel service's secrets: %s" % ", ".join(unmapped))
    config_check(binary, config, repl, "compose cdc-sentinel --config.check")
    R.check("compose cdc-sentinel publishes the default port",
            any(container_port(p) == port for p in exp.get("ports") or []),
            "no published port targets %d" % port)
    hosts = []
    for c in config.get("connect_clusters") or []:
        hosts.append(url_host_port(c["url"])[0])
    for s in config.get("sources") or []:
        hosts.append(s["host"])
    for k in config.get("kafka_clusters") or []:
        hosts += [h.rsplit(":", 1)[0] for h in k["bootstrap_servers"].split(",")]
    R.check("compose cdc-sentinel hosts are services", all(h in services for h in hosts),
            "unknown hosts: %s" % sorted(set(h for h in hosts if h not in services)))

    # Hardening of the exporter's service: read-only root, no capabilities, no new privileges.
    tmpfs = exp.get("tmpfs") or []
    tmpfs = [tmpfs] if isinstance(tmpfs, str) else tmpfs
    R.check("compose cdc-sentinel hardened",
            exp.get("read_only") is True and exp.get("cap_drop") == ["ALL"]
            and "no-new-privileges:true" in (exp.get("security_opt") or [])
            and any(t.split(":")[0] == "/tmp" for t in tmpfs),
            "want read_only: true, a tmpfs at /tmp, cap_drop: [ALL], security_opt: "
            "[\"no-new-privileges:true\"]; got read_only %s, tmpfs %s, cap_drop %s, security_opt %s"
            % (exp.get("read_only"), tmpfs, exp.get("cap_drop"), exp.get("security_opt")))

    check_compose_engine(path)
    check_connectors(config, services, secrets)
    check_prometheus(services, port)
    check_alertmanager()


def check_compose_engine(path):
    """The Compose engine's own validation (schema, interpolation, references), as far as Debian's
    docker-compose 1.29 goes: it predates the Compose Spec's top-level `name`, so that one key is
    left out of the copy it checks (the project name is given with -p instead)."""
    tool = shutil.which("docker-compose")
    if not tool:
        R.skip("docker-compose config", "docker-compose not installed (Debian package "
               "docker-compose; scripts/deps.sh installs it)")
        return
    compose = load_yaml(path)
    name = compose.pop("name", "cdc-sentinel")
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump(compose, f, sort_keys=False)
    try:
        r = run([tool, "--project-directory", COMPOSE_DIR, "-p", name, "-f", f.name, "config",
                 "-q"], timeout=120)
        R.check("docker-compose config (1.29, without the top-level name)", r.returncode == 0,
                (r.stdout + r.stderr).strip()[-800:])
    finally:
        os.unlink(f.name)


def check_connectors(config, services, secrets):
    sources = {s["name"]: s for s in config.get("sources") or []}
    clusters = {c["name"]: c for c in config.get("connect_clusters") or []}
    exporter = {c["name"]: c for c in config.get("connectors") or []}
    files = sorted(glob.glob(os.path.join(COMPOSE_DIR, "connectors", "*.json")))
    connectors, problems = {}, []
    for f in files:
        try:
            doc = json.loads(read(f))
            connectors[doc["name"]] = (os.path.basename(f), doc["config"])
        except (ValueError, KeyError) as e:
            problems.append("%s: %s" % (rel(f), e))
    got = {n: c["topic.prefix"] for n, (_, c) in connectors.items() if "topic.prefix" in c}
    wanted = {n: c["topic_prefix"] for n, c in exporter.items()}
    R.check("compose connectors: names and topic.prefix == exporter config", got == wanted,
            "connector JSON %s vs exporter config %s" % (got, wanted))

    sql = read(os.path.join(COMPOSE_DIR, "mysql", "init.sql"))
    passwords = init_sql_passwords(sql)
    register = read(os.path.join(COMPOSE_DIR, "connectors", "register.sh"))
    registered = {}
    for worker, f in re.findall(r"^\s*register\s+(\S+)\s+(\S+\.json)\s*$", register, re.M):
        registered.setdefault(f, []).append(worker)
    for name, (fname, c) in connectors.items():
        e = exporter.get(name)
        if not e:
            continue
        src = sources.get(e["source"], {})
        canary = src.get("canary") or {}
        marker_table = "%s.%s" % (canary.get("database", "cdc_canary"),
                                  canary.get("table", "markers"))
        tables = [t.strip() for t in c.get("table.include.list", "").split(",")]
        if marker_table not in tables:
            problems.append("%s: %s not in table.include.list" % (fname, marker_table))
        dbs = c.get("database.include.list")
        if dbs and marker_table.split(".")[0] not in [d.strip() for d in dbs.split(",")]:
            problems.append("%s: database.include.list lacks %s" % (fname,
                                                                   marker_table.split(".")[0]))
        hb = int(c.get("heartbeat.interval.ms", "0") or 0)
        max_age = duration_seconds((e.get("heartbeat") or {}).get("max_age", "60s"))
        if hb <= 0:
            problems.append("%s: heartbeat.interval.ms not set" % fname)
        elif max_age is not None and hb / 1000.0 >= max_age:
            problems.append("%s: heartbeat.interval.ms %d not below heartbeat.max_age" % (fname, hb))
        if c.get("database.user") != e.get("binlog_user"):
            problems.append("%s: database.user %s != binlog_user %s"
                            % (fname, c.get("database.user"), e.get("binlog_user")))
        if c.get("database.hostname") != src.get("host"):
            problems.append("%s: database.hostname %s != source host %s"
                            % (fname, c.get("database.hostname"), src.get("host")))
        worker = url_host_port(clusters.get(e.get("connect_cluster"), {}).get("url", ""))[0]
        if registered.get(fname) != [worker]:
            problems.append("%s: registered on %s, the exporter watches it on %s"
                            % (fname, registered.get(fname), worker))
        m = re.match(r"^\$\{file:(/run/secrets/[^:]+):([^}]+)\}$", c.get("database.password", ""))
        if not m:
            problems.append("%s: database.password must come from a secret file "
                            "(${file:/run/secrets/...:key})" % fname)
            continue
        secret = service_secret_targets(services.get(worker, {})).get(m.group(1))
        sfile = (secrets.get(secret) or {}).get("file")
        if not sfile:
            problems.append("%s: %s is not a secret of service %s" % (fname, m.group(1), worker))
            continue
        spath = os.path.normpath(os.path.join(COMPOSE_DIR, sfile))
        value = properties(spath).get(m.group(2)) if os.path.exists(spath) else None
        if value is None or passwords.get(c.get("database.user")) != value:
            problems.append("%s: the password in %s does not match mysql/init.sql's for %s"
                            % (fname, sfile, c.get("database.user")))
    for s in sources.values():
        pf = s.get("password_file", "")
        mon = service_secret_targets(services.get("cdc-sentinel", {})).get(pf)
        sfile = (secrets.get(mon) or {}).get("file")
        spath = os.path.normpath(os.path.join(COMPOSE_DIR, sfile)) if sfile else None
        value = read(spath) if spath and os.path.exists(spath) else None
        if value is not None and value.endswith("\n"):
            value = value[:-1]
        if value is None or passwords.get(s["user"]) != value:
            problems.append("source %s: password of %s differs between %s and mysql/init.sql"
                            % (s["name"], s["user"], sfile))
    R.check("compose connectors: canary table, heartbeat, users, workers, passwords",
            not problems and connectors, "; ".join(problems) or "no connectors/*.json")

    # The monitoring user's privileges (docs/configuration.md, sources[]).
    norm = re.sub(r"\s+", " ", sql)
    grants = ["GRANT PROCESS, REPLICATION CLIENT ON *.* TO 'cdc_monitor'@'%'",
              "GRANT SELECT ON performance_schema.* TO 'cdc_monitor'@'%'",
              "GRANT SELECT, INSERT, UPDATE, CREATE ON cdc_canary.* TO 'cdc_monitor'@'%'"]
    lacking = [g for g in grants if g not in norm]
    R.check("compose init.sql grants cdc_monitor the documented privileges", not lacking,
            "missing: %s" % "; ".join(lacking))
    R.check("compose init.sql creates the canary table",
            re.search(r"CREATE TABLE IF NOT EXISTS cdc_canary\.markers", norm) is not None,
            "no CREATE TABLE IF NOT EXISTS cdc_canary.markers")


def check_prometheus(services, port):
    prom_svc = services.get("prometheus", {})
    mounts = {}
    for spec in prom_svc.get("volumes") or []:
        src, dst = compose_volume(spec)
        if src:
            mounts[dst] = os.path.normpath(os.path.join(COMPOSE_DIR, src))
    cfg_path = os.path.join(COMPOSE_DIR, "prometheus", "prometheus.yml")
    prom = load_yaml(cfg_path)
    rules_repo = os.path.join(REPO, "alerts", "cdc-sentinel.rules.yml")
    rewritten, problems = [], []
    for rf in prom.get("rule_files") or []:
        src = mounts.get(rf)
        if not src or not os.path.exists(src):
            problems.append("rule file %s is not mounted from an existing file" % rf)
        elif os.path.realpath(src) != os.path.realpath(rules_repo):
            problems.append("rule file %s is mounted from %s, not alerts/cdc-sentinel.rules.yml"
                            % (rf, rel(src)))
        else:
            rewritten.append(os.path.realpath(src))
    if not rewritten:
        problems.append("no rule_files entry loads alerts/cdc-sentinel.rules.yml")
    jobs = {j["job_name"]: j for j in prom.get("scrape_configs") or []}
    targets = [t for sc in (jobs.get("cdc-sentinel") or {}).get("static_configs") or []
               for t in sc.get("targets") or []]
    if "cdc-sentinel:%d" % port not in targets:
        problems.append("job cdc-sentinel does not scrape cdc-sentinel:%d (CdcExporterDown "
                        "expects job=\"cdc-sentinel\")" % port)
    am = [t for a in (prom.get("alerting") or {}).get("alertmanagers") or []
          for sc in a.get("static_configs") or [] for t in sc.get("targets") or []]
    if not am or any(t.split(":")[0] not in services for t in am):
        problems.append("alertmanager targets %s are not compose services" % am)
    R.check("compose prometheus.yml: rules, jobs, alertmanager", not problems, "; ".join(problems))

    promtool = shutil.which("promtool")
    if not promtool:
        R.fail("promtool check config", "promtool not found (Debian package prometheus; "
               "scripts/deps.sh installs it)")
        return
    prom["rule_files"] = rewritten
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "prometheus.yml")
        with open(p, "w", encoding="utf-8") as f:
            yaml.safe_dump(prom, f, sort_keys=False)
        res = run([promtool, "check", "config", p])
    R.check("promtool check config (compose prometheus.yml)", res.returncode == 0,
            (res.stdout + res.stderr).strip())


def check_alertmanager():
    path = os.path.join(COMPOSE_DIR, "alertmanager", "alertmanager.yml")
    amtool = shutil.which("amtool")
    if not amtool:
        R.skip("amtool check-config", "amtool not installed (Debian package "
               "prometheus-alertmanager)")
        load_yaml(path)
        return
    res = run([amtool, "check-config", path])
    R.check("amtool check-config (compose alertmanager.yml)", res.returncode == 0,
            (res.stdout + res.stderr).strip())


# ------------------------------------------------------------------------------------------------
# Kubernetes
# ------------------------------------------------------------------------------------------------

def load_generator():
    sys.dont_write_bytecode = True  # no __pycache__ in deploy/kubernetes
    spec = importlib.util.spec_from_file_location("cdc_k8s_generate",
                                                  os.path.join(K8S_DIR, "generate.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


PROMETHEUS_OPERATOR_COMPONENT = "components/prometheus-operator"
SHARDED_COMPONENT = "components/sharded"
CONFIG_GENERATOR = "cdc-sentinel-config"


def kustomize_local(directory, components=()):
    """What kustomize builds from directory, as far as these checks need it (no kubectl needed):
    resources (files and directories), components, configMapGenerator (files and literals) and the
    extra components given. Generated ConfigMaps keep their bare name (no hash suffix); images,
    namespaces and patches are not applied. Returns [(path relative to K8S_DIR, document)]."""
    kust = load_yaml(os.path.join(directory, "kustomization.yaml")) or {}
    out = []
    for r in kust.get("resources") or []:
        path = os.path.normpath(os.path.join(directory, r))
        if os.path.isdir(path):
            out += kustomize_local(path)
        else:
            out += [(os.path.relpath(path, K8S_DIR), d) for d in load_yaml_all(path)]
    for c in list(kust.get("components") or []) + list(components):
        out += kustomize_local(os.path.normpath(os.path.join(directory, c)))
    defaults = kust.get("generatorOptions") or {}
    for g in kust.get("configMapGenerator") or []:
        data = {}
        for f in g.get("files") or []:
            key, _, src = f.partition("=") if "=" in f else (os.path.basename(f), "", f)
            data[key] = read(os.path.join(directory, src))
        for lit in g.get("literals") or []:
            k, _, v = lit.partition("=")
            data[k] = v
        opts = dict(defaults, **(g.get("options") or {}))
        meta = {"name": g["name"]}
        if opts.get("labels"):
            meta["labels"] = dict(opts["labels"])
        out.append((os.path.relpath(os.path.join(directory, "kustomization.yaml"), K8S_DIR),
                    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}))
    return out


def kustomization_files(directory):
    """The files a kustomization consumes from its own directory: resources and generator files."""
    kust = load_yaml(os.path.join(directory, "kustomization.yaml")) or {}
    used = {r for r in kust.get("resources") or []
            if not os.path.isdir(os.path.join(directory, r))}
    for g in kust.get("configMapGenerator") or []:
        used |= {f.partition("=")[2] if "=" in f else f for f in g.get("files") or []}
    return kust, used


def check_sharded(dep):
    """components/sharded: a Component that deletes the base's Deployment and adds a StatefulSet
    whose pod template is the Deployment's but for the fixed hostname, the --shard flag and its
    environment; INDEX is the pod ordinal, COUNT equals replicas."""
    d = os.path.join(K8S_DIR, SHARDED_COMPONENT)
    if not R.check("%s exists" % SHARDED_COMPONENT,
                   os.path.exists(os.path.join(d, "kustomization.yaml")), "missing"):
        return
    kust = load_yaml(os.path.join(d, "kustomization.yaml")) or {}
    deletes = [p for p in kust.get("patches") or []
               if "$patch: delete" in str(p.get("patch", "")) and "kind: Deployment"
               in str(p.get("patch", "")) and "name: cdc-sentinel" in str(p.get("patch", ""))]
    sets = [doc for _, doc in kustomize_local(d) if doc.get("kind") == "StatefulSet"]
    problems = []
    if kust.get("kind") != "Component":
        problems.append("kustomization.yaml is kind %s, not Component" % kust.get("kind"))
    if not deletes:
        problems.append("no patch deleting the Deployment cdc-sentinel")
    if len(sets) != 1:
        problems.append("%d StatefulSet(s)" % len(sets))
    else:
        sts = sets[0]
        pod = copy.deepcopy(sts["spec"]["template"])
        want = copy.deepcopy(dep["spec"]["template"])
        want["spec"].pop("hostname", None)
        ctr = pod["spec"]["containers"][0]
        args = ctr.get("args") or []
        env = {e["name"]: e for e in ctr.pop("env", None) or []}
        shard = [a for a in args if a.startswith("--shard=")]
        ctr["args"] = [a for a in args if not a.startswith("--shard=")]
        if pod != want:
            problems.append("the pod template differs from the Deployment's beyond hostname, "
                            "--shard and env")
        if shard != ["--shard=$(POD_INDEX)/$(SHARD_COUNT)"]:
            problems.append("args %s: want --shard=$(POD_INDEX)/$(SHARD_COUNT)" % shard)
        field = ((env.get("POD_INDEX") or {}).get("valueFrom") or {}).get("fieldRef") or {}
        if field.get("fieldPath") != "metadata.labels['apps.kubernetes.io/pod-index']":
            problems.append("POD_INDEX is not the pod-index label: %s" % field)
        count = (env.get("SHARD_COUNT") or {}).get("value")
        if count != str(sts["spec"].get("replicas")):
            problems.append("SHARD_COUNT %r != replicas %r" % (count, sts["spec"].get("replicas")))
        if sts["spec"].get("serviceName") != "cdc-sentinel":
            problems.append("serviceName %r is not the base's Service" % sts["spec"].get(
                "serviceName"))
        if sts["spec"]["selector"] != dep["spec"]["selector"]:
            problems.append("selector differs from the Deployment's")
    R.check("%s: a StatefulSet of the Deployment's pod, --shard=<ordinal>/<replicas>"
            % SHARDED_COMPONENT, not problems, "; ".join(problems))


def check_kubernetes(binary, port, image_uid):
    docs, problems = {}, []
    for f in sorted(glob.glob(os.path.join(K8S_DIR, "**", "*.yaml"), recursive=True)):
        try:
            docs[os.path.relpath(f, K8S_DIR)] = load_yaml_all(f)
        except yaml.YAMLError as e:
            problems.append("%s: %s" % (rel(f), e))
    if not R.check("kubernetes manifests parse", not problems and docs, "; ".join(problems)):
        return

    # The base and the Prometheus Operator component: every YAML file of each directory is used.
    comp_dir = os.path.join(K8S_DIR, PROMETHEUS_OPERATOR_COMPONENT)
    problems = []
    kust, used = kustomization_files(K8S_DIR)
    if kust.get("kind") != "Kustomization":
        problems.append("kustomization.yaml is kind %s, not Kustomization" % kust.get("kind"))
    comp = {}
    if not os.path.exists(os.path.join(comp_dir, "kustomization.yaml")):
        problems.append("%s/kustomization.yaml missing" % PROMETHEUS_OPERATOR_COMPONENT)
    else:
        comp, comp_used = kustomization_files(comp_dir)
        if comp.get("kind") != "Component" or comp.get("apiVersion") != \
                "kustomize.config.k8s.io/v1alpha1":
            problems.append("%s/kustomization.yaml is %s %s, not "
                            "kustomize.config.k8s.io/v1alpha1 Component"
                            % (PROMETHEUS_OPERATOR_COMPONENT, comp.get("apiVersion"),
                               comp.get("kind")))
        used |= {os.path.join(PROMETHEUS_OPERATOR_COMPONENT, f) for f in comp_used}
    sharded_dir = os.path.join(K8S_DIR, SHARDED_COMPONENT)
    if os.path.exists(os.path.join(sharded_dir, "kustomization.yaml")):
        _, sharded_used = kustomization_files(sharded_dir)
        used |= {os.path.join(SHARDED_COMPONENT, f) for f in sharded_used}
    files = {n for n in docs if os.path.basename(n) != "kustomization.yaml"} - {
        "secret.example.yaml"}
    if used != files:
        problems.append("listed (resources, configMapGenerator files) %s vs files %s"
                        % (sorted(used), sorted(files)))
    R.check("kustomizations list every manifest (base and %s)" % PROMETHEUS_OPERATOR_COMPONENT,
            not problems, "; ".join(problems))

    base = kustomize_local(K8S_DIR)
    crds = ["%s %s (%s)" % (d.get("kind"), d["metadata"].get("name"), n) for n, d in base
            if str(d.get("apiVersion", "")).startswith("monitoring.coreos.com/")]
    R.check("the base applies without the Prometheus Operator's CRDs", not crds,
            "the base (without components) holds %s: move them to %s"
            % (", ".join(crds), PROMETHEUS_OPERATOR_COMPONENT))
    comp_docs = kustomize_local(comp_dir) if comp else []
    comp_kinds = sorted(d.get("kind") for _, d in comp_docs)
    R.check("%s holds the ServiceMonitor and the PrometheusRule" % PROMETHEUS_OPERATOR_COMPONENT,
            comp_kinds == ["PrometheusRule", "ServiceMonitor"] and all(
                str(d.get("apiVersion", "")).startswith("monitoring.coreos.com/")
                for _, d in comp_docs),
            "component objects: %s" % comp_kinds)
    gens = [g for g in kust.get("configMapGenerator") or [] if g.get("name") == CONFIG_GENERATOR]
    opts = dict(kust.get("generatorOptions") or {}, **((gens or [{}])[0].get("options") or {}))
    hand = [n for n, d in base if d.get("kind") == "ConfigMap"
            and d["metadata"].get("name") == CONFIG_GENERATOR
            and os.path.basename(n) != "kustomization.yaml"]
    R.check("the configuration is a configMapGenerator with a hash suffix",
            len(gens) == 1 and (gens[0].get("files") or []) == ["config.yaml"]
            and not opts.get("disableNameSuffixHash") and not hand,
            "want configMapGenerator %s from files [config.yaml], hash suffix on, and no "
            "hand-written ConfigMap of that name (%s)" % (CONFIG_GENERATOR, hand))

    # Everything below checks the base with the component, as a cluster with the Operator gets it.
    rendered = base + comp_docs
    by_kind = {}
    for _, d in rendered:
        by_kind.setdefault(d.get("kind"), []).append(d)

    # Generated files.
    try:
        gen = load_generator()
        expected = gen.render(REPO)
    except Exception as e:  # noqa: BLE001
        R.fail("generate.py", "cannot render: %s" % e)
        expected = {}
    for name, text in expected.items():
        current = read(os.path.join(K8S_DIR, name)) if os.path.exists(
            os.path.join(K8S_DIR, name)) else None
        R.check("%s is up to date" % name, current == text,
                "differs from what generate.py produces now: run "
                "python3 deploy/kubernetes/generate.py")
    rules = load_yaml(os.path.join(REPO, "alerts", "cdc-sentinel.rules.yml"))
    prs = by_kind.get("PrometheusRule") or []
    R.check("PrometheusRule groups == alerts/cdc-sentinel.rules.yml groups",
            len(prs) == 1 and prs[0]["spec"]["groups"] == rules["groups"],
            "%d PrometheusRule(s); groups differ from the rules file" % len(prs))
    dash_cms = [d for d in by_kind.get("ConfigMap") or []
                if (d["metadata"].get("labels") or {}).get("grafana_dashboard") == "1"]
    want = {os.path.basename(p): read(p)
            for p in glob.glob(os.path.join(REPO, "dashboards", "*.json"))}
    got = {}
    for d in dash_cms:
        got.update(d.get("data") or {})
    R.check("dashboard ConfigMaps == dashboards/*.json",
            got == want and len(dash_cms) == len(want),
            "ConfigMaps hold %s, dashboards/ has %s (or contents differ)"
            % (sorted(got), sorted(want)))

    deps = by_kind.get("Deployment") or []
    svcs = by_kind.get("Service") or []
    if not R.check("Deployment and Service present", len(deps) == 1 and len(svcs) == 1,
                   "%d Deployment(s), %d Service(s)" % (len(deps), len(svcs))):
        return
    dep, svc = deps[0], svcs[0]
    pod = dep["spec"]["template"]["spec"]
    ctr = pod["containers"][0]
    cports = {p.get("name"): p["containerPort"] for p in ctr.get("ports") or []}

    def resolve(p):
        return cports.get(p) if isinstance(p, str) else p

    sport = (svc["spec"].get("ports") or [{}])[0]
    target = resolve(sport.get("targetPort", sport.get("port")))
    R.check("Service port 9877 named metrics targets the container's port",
            sport.get("name") == "metrics" and sport.get("port") == port and target == port,
            "Service port %s" % sport)
    probes = []
    for kind, path in (("readinessProbe", "/-/ready"), ("livenessProbe", "/-/healthy")):
        g = (ctr.get(kind) or {}).get("httpGet") or {}
        if g.get("path") != path or resolve(g.get("port")) != target:
            probes.append("%s %s on %s (want %s on %s)" % (kind, g.get("path"),
                                                          resolve(g.get("port")), path, target))
    R.check("Deployment probes /-/ready and /-/healthy on the Service's target port",
            not probes, "; ".join(probes))
    psc, csc = pod.get("securityContext") or {}, ctr.get("securityContext") or {}
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    R.check("Deployment runs as non-root",
            psc.get("runAsNonRoot") is True and uid not in (None, 0)
            and (image_uid is None or uid == image_uid)
            and csc.get("allowPrivilegeEscalation") is False,
            "runAsNonRoot %s, runAsUser %s (image USER %s), allowPrivilegeEscalation %s"
            % (psc.get("runAsNonRoot"), uid, image_uid, csc.get("allowPrivilegeEscalation")))
    res = ctr.get("resources") or {}
    R.check("Deployment resources", (res.get("requests") or {}).get("memory")
            and (res.get("limits") or {}).get("memory"), "requests/limits memory missing")
    labels = dep["spec"]["template"]["metadata"].get("labels") or {}
    R.check("Service selects the pods", svc["spec"]["selector"].items() <= labels.items(),
            "selector %s, pod labels %s" % (svc["spec"]["selector"], labels))
    sms = by_kind.get("ServiceMonitor") or []
    sm_ok = len(sms) == 1 and sms[0]["spec"]["selector"]["matchLabels"].items() <= (
        svc["metadata"].get("labels") or {}).items() and [
            e.get("port") for e in sms[0]["spec"]["endpoints"]] == [sport.get("name")]
    R.check("ServiceMonitor scrapes the Service's metrics port", sm_ok,
            "selector/endpoint port do not match the Service")

    check_sharded(dep)

    # The configuration and its secret files.
    mounts = {m["name"]: m["mountPath"] for m in ctr.get("volumeMounts") or []}
    vols = {v["name"]: v for v in pod.get("volumes") or []}
    cm_name = secret_name = secret_mount = None
    for vname, mpath in mounts.items():
        v = vols.get(vname, {})
        if "configMap" in v and CONFIG_PATH.startswith(mpath.rstrip("/") + "/"):
            cm_name = v["configMap"]["name"]
        if "secret" in v:
            secret_name, secret_mount = v["secret"]["secretName"], mpath.rstrip("/")
    cms = [d for d in by_kind.get("ConfigMap") or [] if d["metadata"]["name"] == cm_name]
    key = os.path.basename(CONFIG_PATH)
    if not R.check("ConfigMap mounted at /etc/cdc-sentinel holds config.yaml",
                   cms and key in (cms[0].get("data") or {}),
                   "no ConfigMap %s with key %s" % (cm_name, key)):
        return
    config = yaml.safe_load(cms[0]["data"][key])
    example = (docs.get("secret.example.yaml") or [{}])[0]
    example_keys = set((example.get("stringData") or {})) | set(example.get("data") or {})
    placeholders = all(re.search(r"REPLACE|placeholder", str(v), re.I)
                       for v in list((example.get("stringData") or {}).values()))
    R.check("secret.example.yaml holds placeholders only, for the mounted Secret",
            example.get("kind") == "Secret" and placeholders
            and example["metadata"]["name"] == secret_name,
            "secret.example.yaml must be the Secret %s with placeholder values" % secret_name)
    refs = secret_file_refs(config)
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        repl = {}
        for ref in refs:
            if not secret_mount or not ref.startswith(secret_mount + "/"):
                continue
            k = ref[len(secret_mount) + 1:]
            if k not in example_keys:
                problems.append("%s is not a key of the Secret %s" % (k, secret_name))
            p = os.path.join(tmp, k.replace("/", "_"))
            with open(p, "w", encoding="utf-8") as f:
                f.write("placeholder\n")
            repl[ref] = p
        R.check("ConfigMap secret files are keys of the mounted Secret", not problems,
                "; ".join(problems))
        config_check(binary, config, repl, "ConfigMap config --config.check")

    kubectl = shutil.which("kubectl")
    if not kubectl:
        R.skip("kubectl kustomize", "kubectl not installed")
        return
    res = run([kubectl, "kustomize", K8S_DIR])
    if R.check("kubectl kustomize deploy/kubernetes", res.returncode == 0, res.stderr.strip()):
        out = [d for d in yaml.safe_load_all(res.stdout) if d]
        cm = [d["metadata"]["name"] for d in out if d.get("kind") == "ConfigMap"
              and d["metadata"]["name"].startswith(CONFIG_GENERATOR + "-")]
        vols = [v.get("configMap", {}).get("name") for d in out if d.get("kind") == "Deployment"
                for v in d["spec"]["template"]["spec"].get("volumes") or []]
        crd_kinds = [d.get("kind") for d in out
                     if str(d.get("apiVersion", "")).startswith("monitoring.coreos.com/")]
        R.check("kubectl kustomize: hashed config ConfigMap, referenced by the Deployment, "
                "no Operator objects", len(cm) == 1 and cm[0] in vols and not crd_kinds,
                "ConfigMaps %s, Deployment configMap volumes %s, Operator objects %s"
                % (cm, vols, crd_kinds))
    # An overlay that opts in to the component, as docs/deployment.md shows. kustomize wants
    # relative paths to local directories.
    with tempfile.TemporaryDirectory() as tmp:
        base_rel = os.path.relpath(K8S_DIR, tmp)
        with open(os.path.join(tmp, "kustomization.yaml"), "w", encoding="utf-8") as f:
            yaml.safe_dump({"apiVersion": "kustomize.config.k8s.io/v1beta1",
                            "kind": "Kustomization", "resources": [base_rel],
                            "components": [base_rel + "/" + PROMETHEUS_OPERATOR_COMPONENT]}, f)
        res = run([kubectl, "kustomize", tmp])
    kinds = sorted(d.get("kind") for d in yaml.safe_load_all(res.stdout) if d) \
        if res.returncode == 0 else []
    R.check("kubectl kustomize with components: [%s]" % PROMETHEUS_OPERATOR_COMPONENT,
            res.returncode == 0 and "ServiceMonitor" in kinds and "PrometheusRule" in kinds,
            res.stderr.strip() or "kinds %s" % kinds)


# ------------------------------------------------------------------------------------------------
# systemd
# ------------------------------------------------------------------------------------------------

CREDENTIALS_DIR = "/run/credentials/cdc-sentinel.service/"


def check_systemd():
    unit = os.path.join(SYSTEMD_DIR, "cdc-sentinel.service")
    dropin = os.path.join(SYSTEMD_DIR, "credentials.conf")
    if not R.check("systemd credentials.conf drop-in exists", os.path.exists(dropin),
                   "%s missing" % rel(dropin)):
        return
    loaded = {}
    section = None
    for line in read(dropin).splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "Service" and line.startswith("LoadCredential="):
            name, _, src = line[len("LoadCredential="):].partition(":")
            loaded[name] = src
    problems = []
    if not loaded:
        problems.append("credentials.conf has no LoadCredential= in [Service]")
    for name, src in loaded.items():
        if not src.startswith("/etc/cdc-sentinel/secrets/"):
            problems.append("LoadCredential=%s reads %s, not /etc/cdc-sentinel/secrets/" % (name,
                                                                                          src))
    # Every place that shows the setup: the same credentials, and every path the configuration is
    # told to use is one of them.
    places = {rel(unit): read(unit), rel(dropin): read(dropin)}
    guide = os.path.join(REPO, "docs", "deployment.md")
    if os.path.exists(guide):
        text = read(guide)
        m = re.search(r"^## systemd\n(.*?)(?=^## )", text, re.M | re.S)
        places["docs/deployment.md#systemd"] = m.group(1) if m else ""
    for where, text in places.items():
        shown = dict(re.findall(r"LoadCredential=([^:\s]+):(\S+)", text))
        if shown != loaded:
            problems.append("%s shows LoadCredential %s, credentials.conf has %s"
                            % (where, shown, loaded))
        paths = set(re.findall(re.escape(CREDENTIALS_DIR) + r"([A-Za-z0-9_.-]*)", text))
        paths.discard("")
        if paths != set(loaded):
            problems.append("%s names %s%s, credentials.conf loads %s"
                            % (where, CREDENTIALS_DIR, sorted(paths), sorted(loaded)))
    R.check("systemd secret paths == LoadCredential names (unit, drop-in, docs)", not problems,
            "; ".join(problems))

    analyze = shutil.which("systemd-analyze")
    if not analyze:
        R.skip("systemd-analyze verify (unit + credentials.conf)", "systemd-analyze not installed")
        return
    with tempfile.TemporaryDirectory() as tmp:
        # ExecStart must name an executable: the unit's binary is not installed here.
        text = read(unit).replace("ExecStart=/usr/local/bin/cdc-sentinel ", "ExecStart=/bin/true ")
        path = os.path.join(tmp, "cdc-sentinel.service")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        os.mkdir(path + ".d")
        shutil.copy(dropin, os.path.join(path + ".d", "credentials.conf"))
        res = run([analyze, "verify", path], env=dict(os.environ, SYSTEMD_UNIT_PATH=tmp + ":"))
    # Warnings about the host (no systemd as PID 1 in a container) are not about these files.
    out = [l for l in (res.stdout + res.stderr).splitlines() if "cdc-sentinel.service" in l]
    R.check("systemd-analyze verify (unit + credentials.conf)", not out, "\n".join(out))


def guarded(section, fn, *args):
    """Runs one section; a file it cannot read or parse is a failure, not a crash."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001
        R.fail(section, "stopped checking: %s: %s" % (type(e).__name__, e))
        return None


def main():
    if len(sys.argv) != 2:
        print("usage: deploy_test.py PATH/TO/cdc-sentinel", file=sys.stderr)
        return 2
    binary = os.path.abspath(sys.argv[1])
    if not os.access(binary, os.X_OK):
        print("deploy_test.py: %s is not an executable" % binary, file=sys.stderr)
        return 2
    port = default_port(binary) or 9877
    owners = runtime_packages_from_binary(binary)
    uid = guarded("Dockerfile", check_dockerfile, binary, port, owners)
    guarded("deploy/compose", check_compose, binary, port)
    guarded("deploy/kubernetes", check_kubernetes, binary, port, uid)
    guarded("deploy/systemd", check_systemd)
    if R.failures:
        print("deploy_test.py: %d check(s) failed" % R.failures)
        return 1
    print("deploy_test.py: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
