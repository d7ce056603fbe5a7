#!/usr/bin/env python3
"""Checks the Grafana dashboards in dashboards/*.json (python3, standard library only).

Static checks (always):
  - valid JSON; uid and title unique across files; uid equal to the stable value for the file;
  - Grafana 10+ model: schemaVersion 38/39, editable, time now-1h..now, links to the other dashboards;
  - a `datasource` variable of type datasource with query prometheus; query variables job and
    instance (label_values of cdc_exporter_build_info), every cdc_ selector filtered by both;
    query variables connect_cluster,
    connector and tls_version on `${datasource}` via label_values(...) of documented metrics;
  - every panel (rows included, and panels nested in collapsed rows): title, gridPos, unique id;
    every non-row panel: description, unit, datasource `${datasource}`, at least one target with a
    non-empty `expr`, every target on `${datasource}`;
  - every expr: balanced (), {}, []; only metric names from the tables of docs/metrics.md (plus
    _bucket/_sum/_count of histograms); only known PromQL functions; every selector of a metric that
    has a `connector`, `tls_version` or `connect_cluster` label filters it with the dashboard variable.

With --prometheus URL, also runs every panel query and every label_values() variable query against
that Prometheus (instant queries, /api/v1/query), after substituting $connector/$tls_version/$connect_cluster
with `.*`, $__range/$__rate_interval/$__interval with 5m/1m/15s and custom variables with their
current value. A query that errors or returns no data fails, naming dashboard/panel/query, unless the
panel's description contains "(may be empty)": then it is reported, not failed.

Exit status 0 when everything passed, 1 otherwise.
"""

import argparse
import glob
import json
import math
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# File name -> stable uid. A new dashboard needs an entry here (links and bookmarks use the uid).
EXPECTED_UIDS = {
    "cdc-overview.json": "cdc-sentinel-overview",
    "cdc-connector.json": "cdc-sentinel-connector",
    "cdc-tls-comparison.json": "cdc-sentinel-tls",
}
# Dashboards whose `connector` variable selects exactly one connector.
SINGLE_CONNECTOR_UIDS = {"cdc-sentinel-connector"}
LABEL_VARIABLES = ("connect_cluster", "connector", "tls_version")
# Target labels Prometheus adds: every cdc_ selector filters on them, so that a dashboard shows one
# exporter (a shard, one of a redundant pair) or job at a time.
TARGET_VARIABLES = ("job", "instance")
DATASOURCE = "${datasource}"
MAY_BE_EMPTY = "(may be empty)"

LIVE_SUBSTITUTIONS = {
    "job": ".*",
    "instance": ".*",
    "connector": ".*",
    "tls_version": ".*",
    "connect_cluster": ".*",
    "__range": "5m",
    "__rate_interval": "1m",
    "__interval": "15s",
}

PROMQL_FUNCTIONS = {
    # aggregation operators
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
    "topk", "quantile", "limitk", "limit_ratio",
    # functions
    "abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
    "day_of_month", "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp", "floor",
    "histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev",
    "histogram_stdvar", "histogram_sum", "holt_winters", "double_exponential_smoothing", "hour",
    "idelta", "increase", "irate", "label_join", "label_replace", "ln", "log2", "log10", "minute",
    "month", "predict_linear", "rate", "resets", "round", "scalar", "sgn", "sort", "sort_desc",
    "sort_by_label", "sort_by_label_desc", "sqrt", "time", "timestamp", "vector", "year",
    "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
    "quantile_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time",
    "present_over_time", "mad_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "cos",
    "cosh", "sin", "sinh", "tan", "tanh", "deg", "rad", "pi",
}
PROMQL_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "offset", "inf", "nan", "atan2",
}


# ------------------------------------------------------------------------------------------------
# docs/metrics.md
# ------------------------------------------------------------------------------------------------

HISTOGRAMS = set()  # filled by load_metrics: documented histograms (no series of their own)


def load_metrics(path):
    """Returns {metric name: set of labels} from the tables of docs/metrics.md.

    A table's first column names the metric(s) in backticks, its type column says `histogram` for
    histograms, and a `labels` column lists the labels. An `extra labels` column adds to the labels
    named in the section heading ("labels `connector`, `tls_version`"), unless the cell says "only".
    """
    metrics = {}
    heading_labels = set()
    header = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#"):
                heading_labels = set(re.findall(r"`([a-zA-Z_][a-zA-Z0-9_]*)`", line.split("labels", 1)[1])) \
                    if "labels" in line else set()
                header = None
                continue
            if not line.startswith("|"):
                header = None
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None:
                header = [c.lower() for c in cells]
                continue
            if all(re.fullmatch(r":?-+:?", c) for c in cells):
                continue
            if not header or header[0] != "metric":
                continue
            names = re.findall(r"`([a-zA-Z_:][a-zA-Z0-9_:]*)`", cells[0])
            kind = cells[header.index("type")] if "type" in header else ""
            labels = set()
            for i, h in enumerate(header):
                if h in ("labels", "extra labels") and i < len(cells):
                    cell_labels = set(re.findall(r"`([a-zA-Z_][a-zA-Z0-9_]*)`", cells[i]))
                    if h == "extra labels" and "only" not in cells[i]:
                        cell_labels |= heading_labels
                    labels |= cell_labels
            for n in names:
                metrics[n] = labels
                if kind.startswith("histogram"):
                    HISTOGRAMS.add(n)
                    for suffix in ("_bucket", "_sum", "_count"):
                        metrics[n + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return metrics


# ------------------------------------------------------------------------------------------------
# PromQL (just enough of it)
# ------------------------------------------------------------------------------------------------

STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')


def balanced(expr):
    """None if (), {}, [] are balanced outside string literals, else a message."""
    pairs = {")": "(", "}": "{", "]": "["}
    stack = []
    for i, ch in enumerate(STRING_RE.sub('""', expr)):
        if ch in "({[":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack[-1] != pairs[ch]:
                return f"unbalanced '{ch}' at offset {i}"
            stack.pop()
    return f"unclosed '{stack[-1]}'" if stack else None


def selectors(expr):
    """(metric name, label matcher text) for every metric selector in expr; names of calls too."""
    s = STRING_RE.sub(lambda m: "\0" * len(m.group(0)), expr)  # keep offsets, hide strings
    out, calls = [], []
    # Drop [range], by (...) etc. and numbers/durations so that only names remain.
    s = re.sub(r"\[[^\]]*\]", lambda m: " " * len(m.group(0)), s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
               lambda m: " " * len(m.group(0)), s)
    s = re.sub(r"\$\{?\w+\}?", lambda m: " " * len(m.group(0)), s)
    s = re.sub(r"(?<![\w.])\d+(\.\d+)?([eE][+-]?\d+)?[smhdwy]?\b", lambda m: " " * len(m.group(0)), s)
    # Label matchers: remember their text by the offset of "{", then blank them out.
    matchers = {}
    for m in re.finditer(r"\{[^{}]*\}", s):
        matchers[m.start()] = expr[m.start() + 1:m.end() - 1]
    s = re.sub(r"\{[^{}]*\}", lambda m: "{" + " " * (len(m.group(0)) - 1), s)
    if "}" in s:
        raise ValueError("nested label matchers")
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", s):
        name = m.group(0)
        rest = s[m.end():]
        if re.match(r"\s*\(", rest):
            calls.append(name)
            continue
        if name in PROMQL_KEYWORDS:
            continue
        mb = re.match(r"\s*\{", rest)
        out.append((name, matchers.get(m.end() + mb.end() - 1, "") if mb else ""))
    return out, calls


GRAFANA_BUILTINS = {"__range", "__range_s", "__range_ms", "__rate_interval", "__interval",
                    "__interval_ms", "__from", "__to", "__dashboard", "__org", "__user"}


def check_expr(expr, metrics, dashboard_vars):
    """List of problems with one PromQL expression."""
    problems = []
    for m in re.finditer(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", expr):
        name = m.group(1) or m.group(2)
        if name not in dashboard_vars and name not in GRAFANA_BUILTINS:
            problems.append(f"uses ${name}, which is neither a dashboard variable nor a Grafana one")
    why = balanced(expr)
    if why:
        problems.append(why)
        return problems
    try:
        sels, calls = selectors(expr)
    except ValueError as e:
        return [str(e)]
    for c in calls:
        if c not in PROMQL_FUNCTIONS:
            problems.append(f"unknown PromQL function or aggregation '{c}'")
    if not sels:
        problems.append("uses no metric")
    for name, matcher in sels:
        if name not in metrics:
            problems.append(f"metric '{name}' is not in docs/metrics.md")
            continue
        if name in HISTOGRAMS:
            problems.append(f"histogram '{name}' has no series of its own: use {name}_bucket, "
                            f"_sum or _count")
        for label in LABEL_VARIABLES:
            if label in metrics[name] and label in dashboard_vars:
                if not re.search(r'\b%s\s*=~?\s*"\$\{?%s\}?"' % (label, label), matcher):
                    problems.append(f"'{name}' has label '{label}' but is not filtered by "
                                    f'{label}=~"${label}"')
        for label in TARGET_VARIABLES:
            if label in dashboard_vars and not re.search(
                    r'\b%s\s*=~\s*"\$\{?%s\}?"' % (label, label), matcher):
                problems.append(f"'{name}' is not filtered by {label}=~\"${label}\"")
    return problems


# ------------------------------------------------------------------------------------------------
# Dashboards
# ------------------------------------------------------------------------------------------------

def all_panels(dashboard):
    """Every panel, top level first, with panels nested in (collapsed) rows."""
    for p in dashboard.get("panels", []):
        yield p
        for q in p.get("panels", []) or []:
            yield q


def is_row(p):
    return p.get("type") == "row"


def ds_uid(obj):
    ds = obj.get("datasource")
    if isinstance(ds, dict):
        return ds.get("uid")
    return ds


def var_query(v):
    q = v.get("query")
    if isinstance(q, dict):
        return q.get("query", "")
    return q or ""


def overlaps(a, b):
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and
            a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def check_dashboard(fname, d, metrics, err):
    base = os.path.basename(fname)
    uid = d.get("uid")
    want = EXPECTED_UIDS.get(base)
    if want is None:
        err(f"no stable uid registered for {base}: add it to EXPECTED_UIDS in {__file__}")
    elif uid != want:
        err(f"uid is {uid!r}, expected the stable {want!r}")
    if not d.get("title"):
        err("no title")
    if d.get("schemaVersion") not in (38, 39):
        err(f"schemaVersion {d.get('schemaVersion')!r}: want 38 or 39 (Grafana 10)")
    if d.get("editable") is not True:
        err('"editable" is not true')
    if d.get("time") != {"from": "now-1h", "to": "now"}:
        err(f'time is {d.get("time")!r}, want now-1h..now')
    if "id" in d and d["id"] is not None:
        err('dashboard has an "id": leave it out (Grafana assigns it)')

    variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
    dsv = variables.get("datasource")
    if not dsv or dsv.get("type") != "datasource" or dsv.get("query") != "prometheus":
        err("no `datasource` variable of type datasource with query prometheus")
    for name in TARGET_VARIABLES:
        v = variables.get(name)
        want = "label_values(cdc_exporter_build_info"
        if not v:
            err(f"no `{name}` variable")
        elif not (v.get("type") == "query" and ds_uid(v) == DATASOURCE
                  and var_query(v).startswith(want) and var_query(v).rstrip().endswith(
                      ", %s)" % name)
                  and v.get("multi") and v.get("includeAll") and v.get("allValue") == ".*"):
            err(f"variable {name}: want a multi, include-All (.*) query variable "
                f"{want}..., {name}) on {DATASOURCE}")
    for name in LABEL_VARIABLES:
        v = variables.get(name)
        if not v:
            err(f"no `{name}` variable")
            continue
        where = f"variable {name}"
        if v.get("type") != "query":
            err(f"{where}: type {v.get('type')!r}, want query")
        if ds_uid(v) != DATASOURCE:
            err(f"{where}: datasource is not {DATASOURCE}")
        q = var_query(v)
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", q, re.S)
        if not m:
            err(f"{where}: query {q!r} is not label_values(<metric selector>, <label>)")
        else:
            if m.group(2) != name:
                err(f"{where}: label_values(...) reads label {m.group(2)!r}")
            for metric, _ in selectors(m.group(1))[0]:
                if metric not in metrics:
                    err(f"{where}: metric '{metric}' is not in docs/metrics.md")
                elif name not in metrics[metric]:
                    err(f"{where}: metric '{metric}' has no label {name!r}")
        single = name == "connector" and uid in SINGLE_CONNECTOR_UIDS
        if single:
            if v.get("multi") or v.get("includeAll"):
                err(f"{where}: must select a single connector (multi/includeAll off)")
        elif not (v.get("multi") and v.get("includeAll") and v.get("allValue") == ".*"):
            err(f'{where}: want multi, includeAll and allValue ".*"')

    ids = {}
    top_level_pos, row_groups = [], {}
    for p in d.get("panels", []):
        if "gridPos" in p:
            top_level_pos.append((p.get("title"), p["gridPos"]))
        for q in p.get("panels", []) or []:
            if "gridPos" in q:
                row_groups.setdefault(p.get("title"), []).append((q.get("title"), q["gridPos"]))
    n_targets = 0
    for p in all_panels(d):
        title = p.get("title")
        where = f"panel {title!r} (id {p.get('id')})"
        if not title:
            err(f"{where}: no title")
        pid = p.get("id")
        if not isinstance(pid, int):
            err(f"{where}: no integer id")
        elif pid in ids:
            err(f"{where}: id {pid} already used by panel {ids[pid]!r}")
        else:
            ids[pid] = title
        gp = p.get("gridPos")
        if not isinstance(gp, dict) or not all(isinstance(gp.get(k), int) for k in "xywh"):
            err(f"{where}: no gridPos with integer x, y, w, h")
        elif gp["x"] < 0 or gp["w"] <= 0 or gp["x"] + gp["w"] > 24 or gp["h"] <= 0:
            err(f"{where}: gridPos {gp} does not fit the 24-column grid")
        if is_row(p):
            continue
        if not (p.get("description") or "").strip():
            err(f"{where}: no description")
        if "unit" not in p.get("fieldConfig", {}).get("defaults", {}):
            err(f"{where}: no unit in fieldConfig.defaults")
        if ds_uid(p) != DATASOURCE:
            err(f"{where}: datasource is not {DATASOURCE}")
        targets = p.get("targets") or []
        if not any((t.get("expr") or "").strip() for t in targets):
            err(f"{where}: no target with a non-empty expr")
        for t in targets:
            tw = f"{where} target {t.get('refId')}"
            if ds_uid(t) != DATASOURCE:
                err(f"{tw}: datasource is not {DATASOURCE}")
            expr = (t.get("expr") or "").strip()
            if not expr:
                continue
            n_targets += 1
            for problem in check_expr(expr, metrics, variables):
                err(f"{tw}: {problem}: {' '.join(expr.split())}")
    for group in [top_level_pos] + list(row_groups.values()):
        for i, (ta, a) in enumerate(group):
            for tb, b in group[i + 1:]:
                if all(isinstance(x.get(k), int) for x in (a, b) for k in "xywh") and overlaps(a, b):
                    err(f"panels {ta!r} and {tb!r} overlap")
    return n_targets


def check_links(dashboards, err_for):
    """Every dashboard links to every other one (by uid URL, or a `dashboards` link by tag)."""
    for fname, d in dashboards.items():
        for other_name, other in dashboards.items():
            if other is d:
                continue
            reached = False
            for link in d.get("links", []):
                if link.get("type") == "link" and f"/d/{other.get('uid')}" in (link.get("url") or ""):
                    reached = True
                if link.get("type") == "dashboards" and link.get("tags") and \
                        set(link["tags"]) <= set(other.get("tags", [])):
                    reached = True
            if not reached:
                err_for(fname)(f"no dashboard link to {os.path.basename(other_name)}")


# ------------------------------------------------------------------------------------------------
# Live mode
# ------------------------------------------------------------------------------------------------

def substitute(expr, variables):
    values = dict(LIVE_SUBSTITUTIONS)
    for name, v in variables.items():
        if v.get("type") in ("custom", "interval", "constant", "textbox") and name not in values:
            cur = v.get("current", {}).get("value")
            if isinstance(cur, list):
                cur = cur[0] if cur else ""
            values[name] = cur if cur is not None else v.get("query", "")
    unknown = []

    def repl(m):
        name = m.group(1) or m.group(2)
        if name in values:
            return values[name]
        unknown.append(name)
        return m.group(0)

    out = re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)
    return out, unknown


def prom_get(base, path, params, timeout):
    url = base.rstrip("/") + path + "?" + urllib.parse.urlencode(params, doseq=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        try:
            body = json.load(e)
        except Exception:  # noqa: BLE001 - any unreadable error body
            return None, f"HTTP {e.code}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        return None, f"request failed: {e}"
    if body.get("status") != "success":
        return None, f"{body.get('errorType', 'error')}: {body.get('error', body)}"
    return body.get("data"), None


def has_data(data):
    """(data present, all values NaN)."""
    rtype, result = data.get("resultType"), data.get("result")
    if rtype in ("scalar", "string"):
        return True, False
    if not result:
        return False, False
    values = []
    for s in result:
        if "value" in s:
            values.append(s["value"][1])
        for v in s.get("values", []):
            values.append(v[1])
    nan = all(isinstance(v, str) and v.lower() in ("nan", "+nan", "-nan") for v in values)
    return True, bool(values) and nan


def run_live(dashboards, base, timeout):
    failures, empty_ok, ok = [], [], 0
    for fname, d in dashboards.items():
        dname = f"{os.path.basename(fname)} ({d.get('title')})"
        variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
        for name in LABEL_VARIABLES:
            v = variables.get(name)
            if not v:
                continue
            m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", var_query(v), re.S)
            if not m:
                continue
            match, _ = substitute(m.group(1), variables)
            data, why = prom_get(base, f"/api/v1/label/{m.group(2)}/values", {"match[]": match}, timeout)
            where = f"{dname} / variable {name} / {var_query(v)}"
            if why:
                failures.append(f"{where}: {why}")
            elif not data:
                failures.append(f"{where}: no values")
            else:
                ok += 1
                print(f"  ok    {where}: {', '.join(data)}")
        for p in all_panels(d):
            if is_row(p):
                continue
            allow_empty = MAY_BE_EMPTY in (p.get("description") or "")
            for t in p.get("targets") or []:
                expr = (t.get("expr") or "").strip()
                if not expr or t.get("hide"):
                    continue
                query, unknown = substitute(expr, variables)
                where = f"{dname} / panel {p.get('title')!r} / {t.get('refId')}: {' '.join(query.split())}"
                if unknown:
                    failures.append(f"{where}: unknown variables {unknown}")
                    continue
                data, why = prom_get(base, "/api/v1/query", {"query": query}, timeout)
                if why:
                    failures.append(f"{where}: {why}")
                    continue
                present, nan = has_data(data)
                n = len(data.get("result") or [])
                if not present or nan:
                    what = "no data" if not present else "only NaN"
                    if allow_empty:
                        empty_ok.append(f"{where}: {what} (panel says {MAY_BE_EMPTY})")
                        print(f"  empty {where}: {what}, allowed")
                    else:
                        failures.append(f"{where}: {what}")
                    continue
                ok += 1
                print(f"  ok    {dname} / {p.get('title')!r} / {t.get('refId')}: {n} series")
    return ok, empty_ok, failures


# ------------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dashboards", default=os.path.join(REPO, "dashboards"),
                    help="directory with the dashboard JSON files (default: %(default)s)")
    ap.add_argument("--metrics-doc", default=os.path.join(REPO, "docs", "metrics.md"),
                    help="metrics reference to take metric names from (default: %(default)s)")
    ap.add_argument("--prometheus", metavar="URL",
                    help="also run every query against this Prometheus (e.g. http://127.0.0.1:9090)")
    ap.add_argument("--timeout", type=float, default=10.0, help="per-request timeout in seconds")
    args = ap.parse_args()

    metrics = load_metrics(args.metrics_doc)
    if len(metrics) < 10:
        print(f"FAIL: found only {len(metrics)} metrics in {args.metrics_doc}", file=sys.stderr)
        return 1
    files = sorted(glob.glob(os.path.join(args.dashboards, "*.json")))
    errors = []

    def err_for(fname):
        return lambda msg: errors.append(f"{os.path.basename(fname)}: {msg}")

    if not files:
        errors.append(f"no dashboards in {args.dashboards}")
    dashboards = {}
    for fname in files:
        try:
            with open(fname, encoding="utf-8") as f:
                dashboards[fname] = json.load(f)
        except (OSError, ValueError) as e:
            errors.append(f"{os.path.basename(fname)}: not valid JSON: {e}")
    for key in ("uid", "title"):
        seen = {}
        for fname, d in dashboards.items():
            v = d.get(key)
            if v in seen:
                errors.append(f"{os.path.basename(fname)}: {key} {v!r} also used by {seen[v]}")
            seen[v] = os.path.basename(fname)
    n_panels = n_targets = 0
    for fname, d in dashboards.items():
        n_targets += check_dashboard(fname, d, metrics, err_for(fname))
        n_panels += sum(1 for p in all_panels(d) if not is_row(p))
    check_links(dashboards, err_for)

    print(f"static: {len(dashboards)} dashboards, {n_panels} panels, {n_targets} queries, "
          f"{len(metrics)} documented metric names, {len(errors)} problems")
    for e in errors:
        print(f"FAIL: {e}")

    live_failures = []
    if args.prometheus:
        print(f"live: running every query against {args.prometheus}")
        ok, empty_ok, live_failures = run_live(dashboards, args.prometheus, args.timeout)
        print(f"live: {ok} ok, {len(empty_ok)} empty but allowed ({MAY_BE_EMPTY}), "
              f"{len(live_failures)} failed")
        for f in live_failures:
            print(f"FAIL: {f}")

    if errors or live_failures:
        print("dashboards_test: FAILED")
        return 1
    print("dashboards_test: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
