#!/usr/bin/env python3
"""Prints the markdown tables of bench/RESULTS.md from bench/results/*.json.

  bench/summarize.py [RESULTS_DIR]
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

RES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "results")


def load(name):
    p = os.path.join(RES, name)
    return json.load(open(p)) if os.path.exists(p) else None


def loads_of(rows):
    v = [float(r["load"].split()[0]) for r in rows if r.get("load")]
    return "%.1f–%.1f" % (min(v), max(v)) if v else "-"


def detection():
    print("### Detection latency\n")
    print("| marker interval / timeout | stalls | p50 | p95 | max | bound "
          "(interval+timeout+1 s) | over bound | missed | alarms on the "
          "other connector | recovery after heal (max) | load (1-min) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in ("detection-5s-10s.json", "detection-10s-30s.json",
                 "field-comparison.json"):
        d = load(name)
        if not d:
            continue
        st = d["stalls"]
        lat = [s["latency_s"] for s in st if s["latency_s"] is not None]
        rec = [s["recovery_s"] for s in st if s.get("recovery_s")]
        label = "%gs / %gs" % (d["interval_s"], d["timeout_s"])
        if name.startswith("field"):
            label += " (field run)"
        print("| %s | %d | %.2f s | %.2f s | %.2f s | %.0f s | %d | %d | %d "
              "| %.1f s | %s |" % (
                  label, len(st), B.percentile(lat, 50),
                  B.percentile(lat, 95), max(lat), d["bound_s"],
                  sum(1 for s in st if not s["within_bound"]),
                  len(st) - len(lat),
                  sum(1 for s in st if s["collateral_alarm"]),
                  max(rec) if rec else float("nan"), loads_of(st)))
    print()


def false_alarms():
    d = load("no-false-alarms.json")
    if not d:
        return
    print("### No false alarms\n")
    print("| run | marker rounds | checks found | not found | error | "
          "scrapes | scrapes with cdc_silent_failure != 0 | warnings in "
          "the log | exporter CPU | RSS |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    pc = d["per_connector"]
    found = sum(v["found"] for v in pc.values())
    nf = sum(v["not_found"] for v in pc.values())
    err = sum(v["error"] for v in pc.values())
    print("| %.1f min, %gs/%gs, %d connectors | %d | %d | %d | %d | %d | %d "
          "| %d | %.2f %% of a core | %.1f MB |" % (
              d["wall_s"] / 60, d["interval_s"], d["timeout_s"], len(pc),
              d["marker_rounds"], found, nf, err, d["healthy_scrapes"],
              d["healthy_scrapes_with_alarm"], d["exporter_warnings"],
              100 * d["exporter_cpu_s"] / d["wall_s"],
              d["exporter_rss_bytes"] / 1e6))
    s = d.get("samples", [])
    if s:
        print("\nLoad (1-min) during the run: %s." % loads_of(s))
    print()


def rest():
    d = load("rest_scale.json")
    if not d:
        return
    s, c = d["steady"], d["scrapes"]
    print("### REST scale\n")
    print("%d connectors × %d tasks, poll every %s; /metrics: %d series, "
          "%.1f MB.\n" % (d["connectors"], d["tasks_per_connector"],
                          d["poll"], d["metrics_series"],
                          d["metrics_bytes"] / 1e6))
    print("| phase | duration | exporter CPU | RSS mean | RSS max | "
          "other | load (1-min) |")
    print("|---|---|---|---|---|---|---|")
    print("| steady (poll every %s, a scrape every 15 s) | %.0f s | %.2f %% "
          "of a core | %.1f MB | %.1f MB | %d polls, last poll %.0f ms | "
          "%s → %s |" % (
              d["poll"], s["wall_s"], s["cpu_percent"],
              s["rss_mean_bytes"] / 1e6, s["rss_max_bytes"] / 1e6,
              s["polls"], 1000 * (s["poll_duration_s"] or 0),
              s["load_first"].split()[0], s["load_last"].split()[0]))
    print("| %d sequential scrapes | %.0f s | %.1f ms CPU per scrape | "
          "%.1f MB | %.1f MB (HWM %.1f MB) | p50 %.1f, p95 %.1f, **p99 "
          "%.1f**, max %.1f ms | %s → %s |" % (
              c["n"], c["wall_s"], c["cpu_per_scrape_ms"],
              c["rss_mean_bytes"] / 1e6, c["rss_max_bytes"] / 1e6,
              d["hwm_bytes"] / 1e6, c["p50_ms"], c["p95_ms"], c["p99_ms"],
              c["max_ms"], c["load_first"].split()[0],
              c["load_last"].split()[0]))
    print()


def marker_scale(name, title):
    d = load(name)
    if not d:
        return
    print("### %s\n" % title)
    print("| simulated connectors (+2 real) | exporter CPU | RSS mean | "
          "RSS max | threads | rdk:main (Kafka clients) | TCP to the broker "
          "| records read/min | checks found / not found / error | "
          "longest probe run | /metrics | load (1-min) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in d["runs"]:
        mr = r["marker_results_simulated"]
        pd = r["probe_duration_s"]
        longest = max(pd.items(), key=lambda kv: kv[1]) if pd else ("-", 0)
        print("| %d | %.2f %% | %.1f MB | %.1f MB | %d | %d | %d | %.0f | "
              "%d / %d / %d | %s %.2f s | %d series, %.0f ms | %s → %s |" % (
                  r["connectors"], r["cpu_percent"],
                  r["rss_mean_bytes"] / 1e6, r["rss_max_bytes"] / 1e6,
                  r["threads_total"], r["rdk_main_threads"],
                  r["tcp_to_kafka_bootstrap"],
                  r["records_consumed"] * 60 / r["wall_s"],
                  mr["found"], mr["not_found"], mr["error"],
                  longest[0], longest[1], r["metrics_series"],
                  r["scrape_ms"]["last"], r["load_start"].split()[0],
                  r["load_end"].split()[0]))
    print()


def source_load():
    d = load("marker_scale.json")
    if not d:
        return
    print("### Source load (statements of the monitoring user)\n")
    names = sorted({k for r in d["runs"] for k in
                    r["source_statements_per_min"]})
    print("| simulated connectors (+2 real) | " +
          " | ".join(n.replace("statement/", "") for n in names) +
          " | new connections | binlog bytes/min |")
    print("|---|" + "---|" * (len(names) + 2))
    for r in d["runs"]:
        sp = r["source_statements_per_min"]
        print("| %d | " % r["connectors"] +
              " | ".join("%.1f" % sp.get(n, 0) for n in names) +
              " | %d | %s |" % (r["source_new_connections"],
                                "%.0f" % r["source_binlog_bytes_per_min"]
                                if r.get("source_binlog_bytes_per_min")
                                is not None else "-"))
    print()


def field():
    d = load("field-comparison.json")
    if not d or "field" not in d:
        return
    st = d["stalls"]
    f = d["field"]
    lat = [s["latency_s"] for s in st if s["latency_s"] is not None]
    fl = [s["field_latency_s"] for s in st
          if s.get("field_latency_s") is not None]
    print("### Side by side with the field method\n")
    print("| method | stalls | detected | p50 | p95 | max |")
    print("|---|---|---|---|---|---|")
    print("| cdc-sentinel, markers %gs / %gs | %d | %d | %.1f s | %.1f s | "
          "%.1f s |" % (d["interval_s"], d["timeout_s"], len(st), len(lat),
                        B.percentile(lat, 50), B.percentile(lat, 95),
                        max(lat)))
    if fl:
        print("| field method, check every %d s, timeout %d s | %d | %d | "
              "%.1f s | %.1f s | %.1f s |" % (
                  f["interval_s"], f["timeout_s"], len(st), len(fl),
                  B.percentile(fl, 50), B.percentile(fl, 95), max(fl)))
        pairs = [(s["field_latency_s"], s["latency_s"]) for s in st
                 if s.get("field_latency_s") and s["latency_s"]]
        print("\nPer stall, field / cdc-sentinel latency: median ratio "
              "%.1f×, min %.1f×." % (
                  B.percentile([a / b for a, b in pairs], 50),
                  min(a / b for a, b in pairs)))
    cpu = f["cpu_per_check_s"]
    res = f["results"]
    print("\nField checks: %d; results %d FOUND, %d NOT_FOUND; child CPU "
          "per check: mean %.1f ms, p50 %.1f ms, max %.1f ms; wall per "
          "check p50 %.1f s." % (
              len(cpu), sum(1 for r in res if r["result"] == "FOUND"),
              sum(1 for r in res if r["result"] == "NOT_FOUND"),
              1000 * sum(cpu) / len(cpu), 1000 * B.percentile(cpu, 50),
              1000 * max(cpu), B.percentile(f["wall_per_check_s"], 50)))
    print()


if __name__ == "__main__":
    detection()
    false_alarms()
    field()
    rest()
    marker_scale("marker_scale.json",
                 "Marker scale (simulated connectors with Connect REST)")
    marker_scale("marker_scale_norest.json",
                 "Marker scale, no Connect REST (MSK Connect style)")
    source_load()
