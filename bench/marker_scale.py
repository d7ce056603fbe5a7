#!/usr/bin/env python3
"""Marker scale (issue "Scale and speed", item 4), and the source load (item 5).

The sandbox runs two real binlog connectors. For N more, this benchmark:
- runs a second cdc-sim serving N REST-only connectors `scale-NNNN` (so the
  exporter's REST probe and offset-lag probe see N RUNNING connectors);
- runs bench/marker_echo.cc (cdc-bench-echo), which copies every record of
  the real connector aurora-cdc-tls13's marker topic, unchanged, to each
  `scale-NNNN.cdc_canary.markers`, and writes a heartbeat per connector every
  --heartbeat-ms and a source offset per connector every --offset-flush-ms to
  connect-offsets;
- configures cdc-sentinel with the 2 real + N simulated connectors, all on the
  sandbox MariaDB (one source, one marker write per interval for all of them)
  and the sandbox Kafka (one Kafka cluster), markers every --interval.
After --warmup s, for --minutes it measures the exporter's CPU (utime+stime),
RSS (sampled every 2 s), threads (librdkafka threads by name), its TCP
connections to the broker, marker results, probe durations and the
statements the monitoring user ran on the source (performance_schema
events_statements_summary_by_user_by_event_name deltas). Repeats per N.

Limits (also in RESULTS.md): all simulated connectors ride one real binlog
stream and one source; the records they deliver are exact copies, but their
binlog sessions (binlog_user) are not simulated, so the binlog-session probe
watches only the two real connectors.
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


def build_echo(out_dir):
    src = os.path.join(B.REPO, "bench", "marker_echo.cc")
    binary = os.path.join(out_dir, "cdc-bench-echo")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "rdkafka"],
                           capture_output=True, text=True,
                           check=True).stdout.split()
    subprocess.run(["c++", "-std=c++20", "-O2", "-o", binary, src] + flags,
                   check=True)
    return binary


def statements(sb, user="cdc_monitor"):
    """{event_name: count} of `user` from performance_schema."""
    out = sb.mysql(
        "SELECT EVENT_NAME, COUNT_STAR FROM performance_schema."
        "events_statements_summary_by_user_by_event_name WHERE USER='%s' "
        "AND COUNT_STAR > 0" % user)
    d = {}
    for line in out.splitlines():
        if line.strip():
            k, v = line.split("\t")
            d[k] = int(v)
    return d


def binlog_pos(sb):
    """(file, position) of the source's binlog."""
    f, pos = sb.mysql("SHOW MASTER STATUS").split("\t")[:2]
    return f, int(pos)


def connections(sb, user="cdc_monitor"):
    out = sb.mysql("SELECT TOTAL_CONNECTIONS FROM performance_schema.users "
                   "WHERE USER='%s'" % user).strip()
    return int(out or 0)


def write_config(path, env, sim_url, names, interval, timeout, rest,
                 with_real=True, kafka_properties=(), heartbeats=True,
                 topics_per_consumer=None):
    lines = ["connect_clusters:",
             "  - name: sandbox", "    url: %s" % env["CONNECT_URL"],
             "    interval: 15s", "    timeout: 5s"]
    if rest and names:
        lines += ["  - name: scale", "    url: %s" % sim_url,
                  "    interval: 15s", "    timeout: 5s"]
    lines += [
        "sources:",
        "  - name: sandbox-mariadb",
        "    host: %s" % env["MYSQL_HOST"],
        "    port: %s" % env["MYSQL_PORT"],
        "    user: %s" % env["MYSQL_MONITOR_USER"],
        "    password_file: %s" % env["MYSQL_MONITOR_PASSWORD_FILE"],
        "    tls: {mode: verify_ca, ca_file: %s}" % env["MYSQL_CA"],
        "    canary: {database: cdc_canary, table: markers}",
        "kafka_clusters:",
        "  - name: sandbox",
        "    bootstrap_servers: %s" % env["KAFKA_BOOTSTRAP"],
        "    offsets_topic: %s" % env["KAFKA_OFFSETS_TOPIC"]]
    if topics_per_consumer:
        lines += ["    topics_per_consumer: %d" % topics_per_consumer]
    if kafka_properties:
        lines += ["    properties:"] + [
            "      %s: \"%s\"" % tuple(kv.split("=", 1))
            for kv in kafka_properties]
    lines += ["connectors:"]
    marker = "    marker: {interval: %s, timeout: %s}" % (interval, timeout)
    if with_real:
        for t in env["CONNECTORS"].split(","):
            T = t.upper()
            lines += ["  - name: %s" % env["CONNECTOR_%s_NAME" % T],
                      "    connect_cluster: sandbox",
                      "    source: sandbox-mariadb", "    kafka: sandbox",
                      "    topic_prefix: %s" % env["CONNECTOR_%s_TOPIC_PREFIX"
                                                   % T],
                      "    binlog_user: %s" % env["CONNECTOR_%s_USER" % T],
                      "    tls_version: auto", marker]
    for n in names:
        lines += ["  - name: %s" % n]
        if rest:
            lines += ["    connect_cluster: scale"]
        lines += ["    source: sandbox-mariadb", "    kafka: sandbox",
                  "    topic_prefix: %s" % n, "    tls_version: \"1.3\"",
                  marker]
        if not heartbeats:
            lines += ["    heartbeat: {enabled: false}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def create_topics(env, topics, partitions):
    """Creates `topics` with `partitions` partitions on the sandbox broker."""
    import urllib.parse
    import urllib.request
    for t in topics:
        url = "%s/topics?%s" % (env["KAFKA_CONTROL_URL"], urllib.parse.urlencode(
            {"name": t, "partitions": partitions}))
        with urllib.request.urlopen(urllib.request.Request(url, method="POST"),
                                    timeout=10) as r:
            r.read()


def run_one(args, sb, env, work, echo_bin, n, exporter_bin):
    r = {"connectors": n, "simulated": n, "real": 2,
         "interval": args.interval, "timeout": args.timeout,
         "rest": args.rest, "load_start": B.loadavg()}
    sim = echo = exp = None
    try:
        names = []
        sim_url = ""
        if n:
            sim, sim_url, names = B.start_scale_sim(
                args.build_dir, work, env["KAFKA_BOOTSTRAP"], n, 1,
                tag="m%d" % n)
            names_file = os.path.join(work, "names-%d" % n)
            with open(names_file, "w") as f:
                f.write("\n".join(names) + "\n")
            if args.partitions > 1:
                # Before the echo's first record would auto-create them with
                # one partition.
                create_topics(env, [t for name in names for t in (
                    name + ".cdc_canary.markers",
                    "__debezium-heartbeat." + name)], args.partitions)
            ready = os.path.join(work, "echo-%d.ready" % n)
            echo = B.Daemon([echo_bin, "--bootstrap", env["KAFKA_BOOTSTRAP"],
                             "--source-topic", args.source_topic,
                             "--names", names_file,
                             "--heartbeat-ms", str(args.heartbeat_ms),
                             "--offset-flush-ms", str(args.offset_flush_ms),
                             "--offsets-topic", env["KAFKA_OFFSETS_TOPIC"],
                             "--ready-file", ready],
                            os.path.join(work, "echo-%d.log" % n))
            end = time.time() + 300
            while not os.path.exists(ready):
                if not echo.alive() or time.time() > end:
                    raise RuntimeError("echo not ready; see its log")
                time.sleep(0.2)
        cfg = os.path.join(work, "exporter-%d.yaml" % n)
        write_config(cfg, env, sim_url, names, args.interval, args.timeout,
                     args.rest, kafka_properties=args.kafka_property,
                     heartbeats=args.watch_heartbeats,
                     topics_per_consumer=args.topics_per_consumer)
        exp = B.Exporter(exporter_bin, cfg,
                         os.path.join(work, "exporter-%d.log" % n))
        time.sleep(args.warmup)

        m0 = exp.metrics()
        st0, conn0, bl0 = statements(sb), connections(sb), binlog_pos(sb)
        th0 = exp.proc.threads()
        t0, c0 = time.time(), exp.proc.cpu_seconds()
        ech0 = echo.proc.cpu_seconds() if echo else 0
        sampler = B.Sampler(exp.proc)
        scrape_ms = []
        end = t0 + args.minutes * 60
        while time.time() < end:
            time.sleep(min(15, max(0, end - time.time())))
            if time.time() < end:
                a = time.perf_counter()
                exp.get("/metrics")
                scrape_ms.append(1000 * (time.perf_counter() - a))
        t1, c1 = time.time(), exp.proc.cpu_seconds()
        ech1 = echo.proc.cpu_seconds() if echo else 0
        th1 = exp.proc.threads()
        s = sampler.stop()
        st1, conn1, bl1 = statements(sb), connections(sb), binlog_pos(sb)
        a = time.perf_counter()
        body = exp.get("/metrics")
        scrape_ms.append(1000 * (time.perf_counter() - a))
        m1 = B.parse_metrics(body)
        wall = t1 - t0

        def delta(name, **kw):
            return ((B.value(m1, name, **kw) or 0) -
                    (B.value(m0, name, **kw) or 0))

        sim_names = set(names)
        res = {"found": 0, "not_found": 0, "error": 0}
        for lab, v in m1.get("cdc_marker_probes_total", []):
            if lab["connector"] in sim_names or not names:
                res[lab["result"]] += v
        for lab, v in m0.get("cdc_marker_probes_total", []):
            if lab["connector"] in sim_names or not names:
                res[lab["result"]] -= v
        silent = sum(v for lab, v in m1.get("cdc_silent_failure", []))
        lat = [v for lab, v in m1.get("cdc_marker_last_latency_seconds", [])
               if lab["connector"] in sim_names]
        bootstrap_port = env["KAFKA_BOOTSTRAP"].rsplit(":", 1)[1]
        peers = exp.proc.tcp_peers()
        thread_names = [c for _, c, _ in th1]
        probes = {}
        for lab, v in m1.get("cdc_probe_duration_seconds", []):
            probes.setdefault(lab["probe"], []).append(v)
        runs = {}
        for lab, v in m1.get("cdc_probe_runs_total", []):
            key = "%s/%s" % (lab["probe"], lab["result"])
            runs[key] = runs.get(key, 0) + v
        for lab, v in m0.get("cdc_probe_runs_total", []):
            key = "%s/%s" % (lab["probe"], lab["result"])
            runs[key] = runs.get(key, 0) - v
        stmt = {k: st1.get(k, 0) - st0.get(k, 0) for k in st1
                if st1.get(k, 0) - st0.get(k, 0)}
        r.update({
            "wall_s": wall, "cpu_s": c1 - c0,
            "cpu_percent": 100 * (c1 - c0) / wall,
            "echo_cpu_percent": 100 * (ech1 - ech0) / wall,
            "rss_end_bytes": exp.proc.rss_bytes(),
            "hwm_bytes": exp.proc.hwm_bytes(), **s,
            "threads_total": len(th1),
            "rdk_main_threads": thread_names.count("rdk:main"),
            "kafka_consumers": B.value(m1, "cdc_kafka_consumers"),
            "kafka_assigned_partitions": B.value(
                m1, "cdc_kafka_assigned_partitions"),
            "kafka_parked_partitions": B.value(
                m1, "cdc_kafka_parked_partitions"),
            "rdk_threads": sorted(c for c in thread_names
                                  if c.startswith("rdk:")),
            "thread_cpu_s": B.thread_cpu_by_name(th0, th1),
            "tcp_to_kafka_bootstrap": sum(1 for p in peers
                                          if p.endswith(":" + bootstrap_port)),
            "tcp_peers": sorted(peers),
            "marker_results_simulated": res,
            "marker_rounds": delta("cdc_probe_runs_total", probe="marker"),
            "silent_failure_series_at_end": silent,
            "marker_latency_max_s": max(lat) if lat else None,
            "records_consumed": delta("cdc_kafka_records_consumed_total"),
            "probe_duration_s": {k: max(v) for k, v in probes.items()},
            "probe_runs": {k: v for k, v in runs.items() if v},
            "scrape_ms": {"n": len(scrape_ms),
                          "max": max(scrape_ms),
                          "p50": B.percentile(scrape_ms, 50),
                          "last": scrape_ms[-1]},
            "metrics_series": sum(1 for l in body.splitlines()
                                  if l and l[0] != "#"),
            "source_statements": stmt,
            "source_statements_per_min": {
                k: v * 60 / wall for k, v in stmt.items()},
            "source_new_connections": conn1 - conn0,
            "source_binlog_bytes_per_min": (
                (bl1[1] - bl0[1]) * 60 / wall if bl1[0] == bl0[0] else None),
            "load_end": B.loadavg()})
        B.log("N=%d: CPU %.2f%% RSS max %.1f MB threads %d rdk:main %d "
              "kafka conns %d markers %s scrape %.0f ms load %s" % (
                  n, r["cpu_percent"], r["rss_max_bytes"] / 1e6,
                  r["threads_total"], r["rdk_main_threads"],
                  r["tcp_to_kafka_bootstrap"], res, r["scrape_ms"]["last"],
                  r["load_end"]))
        B.log("N=%d: %s Kafka consumers, %s partitions assigned, %s parked" % (
            n, r["kafka_consumers"], r["kafka_assigned_partitions"],
            r["kafka_parked_partitions"]))
    finally:
        for d in (exp, echo, sim):
            if d:
                d.stop()
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--counts", default="10,100,200,1000")
    ap.add_argument("--interval", default="10s")
    ap.add_argument("--timeout", default="30s")
    ap.add_argument("--minutes", type=float, default=4)
    ap.add_argument("--warmup", type=float, default=60)
    ap.add_argument("--heartbeat-ms", type=int, default=10000)
    ap.add_argument("--offset-flush-ms", type=int, default=60000)
    ap.add_argument("--no-rest", dest="rest", action="store_false",
                    help="simulated connectors without connect_cluster "
                         "(as on MSK Connect)")
    ap.add_argument("--kafka-property", action="append", default=[],
                    metavar="KEY=VALUE",
                    help="librdkafka property for the exporter's consumer "
                         "(kafka_clusters[].properties), repeatable")
    ap.add_argument("--no-heartbeat-watch", dest="watch_heartbeats",
                    action="store_false",
                    help="heartbeat: {enabled: false} for the simulated "
                         "connectors (their heartbeat topics are not read)")
    ap.add_argument("--partitions", type=int, default=1,
                    help="partitions of each simulated connector's marker and "
                         "heartbeat topic (its records have one key each, so "
                         "go to one partition: the exporter learns which)")
    ap.add_argument("--topics-per-consumer", type=int, default=None,
                    help="kafka_clusters[].topics_per_consumer (default: "
                         "the exporter's, 250)")
    ap.add_argument("--build-dir", default=B.default_build_dir())
    ap.add_argument("--exporter", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--max-rss-mb", type=float, default=0)
    ap.add_argument("--max-cpu-percent", type=float, default=0)
    ap.add_argument("--min-found-ratio", type=float, default=0,
                    help="exit 1 if fewer of the simulated connectors' "
                         "marker checks were found (0..1)")
    args = ap.parse_args()
    exporter_bin = args.exporter or os.path.join(args.build_dir, "exporter",
                                                 "cdc-sentinel")
    work = tempfile.mkdtemp(prefix="cdc-bench-mscale-")
    sb = B.Sandbox(os.path.join(work, "sandbox"), args.build_dir)
    out = {"runs": [], "exporter": exporter_bin, "rest": args.rest,
           "kafka_properties": args.kafka_property,
           "watch_heartbeats": args.watch_heartbeats,
           "topics_per_consumer": args.topics_per_consumer,
           "partitions": args.partitions,
           "heartbeat_ms": args.heartbeat_ms,
           "offset_flush_ms": args.offset_flush_ms}
    ok = True
    try:
        echo_bin = build_echo(work)
        env = sb.up()
        args.source_topic = env["CONNECTOR_TLS13_TOPIC_PREFIX"] + \
            ".cdc_canary.markers"
        # The echo's source topic exists once a canary row was captured.
        sb.mysql("INSERT INTO cdc_canary.markers (id, token) VALUES "
                 "('bench-init', 'bench') ON DUPLICATE KEY UPDATE token = "
                 "'bench2'")
        for n in [int(x) for x in args.counts.split(",")]:
            r = run_one(args, sb, env, work, echo_bin, n, exporter_bin)
            out["runs"].append(r)
            if args.max_rss_mb and max(r["rss_max_bytes"], r["hwm_bytes"]) \
                    > args.max_rss_mb * 1e6:
                print("FAIL N=%d: RSS %.1f MB" % (n, r["hwm_bytes"] / 1e6))
                ok = False
            if args.max_cpu_percent and \
                    r["cpu_percent"] > args.max_cpu_percent:
                print("FAIL N=%d: CPU %.1f%%" % (n, r["cpu_percent"]))
                ok = False
            mr = r["marker_results_simulated"]
            judged = mr["found"] + mr["not_found"] + mr["error"]
            if args.min_found_ratio and (
                    judged == 0 or
                    mr["found"] < args.min_found_ratio * judged):
                print("FAIL N=%d: markers %s" % (n, mr))
                ok = False
            # One librdkafka instance per Kafka consumer the exporter says
            # it has (kafka_clusters[].topics_per_consumer topics each).
            if r["rdk_main_threads"] != r["kafka_consumers"]:
                print("FAIL N=%d: %d librdkafka instances, %s consumers "
                      "reported" % (n, r["rdk_main_threads"],
                                    r["kafka_consumers"]))
                ok = False
    finally:
        sb.down()
        shutil.rmtree(work, ignore_errors=True)
    if args.out:
        B.write_json(args.out, out)
    print("%6s %8s %10s %10s %8s %9s %10s %10s" % (
        "N", "CPU %", "RSS MB", "RSS max", "threads", "rdk:main",
        "found", "not_found"))
    for r in out["runs"]:
        mr = r["marker_results_simulated"]
        print("%6d %8.2f %10.1f %10.1f %8d %9d %10d %10d" % (
            r["connectors"], r["cpu_percent"], r["rss_mean_bytes"] / 1e6,
            r["rss_max_bytes"] / 1e6, r["threads_total"],
            r["rdk_main_threads"], mr["found"], mr["not_found"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
