#!/usr/bin/env bash
# Tests the Prometheus alerting rules (alerts/):
#   1. promtool check rules alerts/cdc-sentinel.rules.yml
#   2. promtool test rules alerts/tests/cdc-sentinel.test.yml
#   3. the conventions of /work/shared/STYLE.md item 12, for every alert of the rules file:
#      - name: CamelCase with the prefix "Cdc", unique;
#      - an explicit `for:`, whose value appears ("for: <value>") in the comment block just above
#        the rule's "- alert:" line and in the alert's section of docs/runbooks.md;
#      - labels.severity in {critical, warning, info}; `none` only for an alert whose comment
#        block carries the line "# always firing" (the watchdog), which also needs no
#        non-firing case and no $labels in its description;
#      - annotations.summary: one static sentence (no "{{", ends with ".", a single line);
#      - annotations.description: contains $labels.connector and $labels.tls_version, unless the
#        comment block above "- alert:" contains the line "# not per connector" (then it must
#        use some other $labels.<name>);
#      - a per-connector alert (no "# not per connector") joins cdc_connector_pipeline_info in
#        its expr, and every expected alert of its firing cases has the labels connector,
#        tls_version, kafka_cluster and source, and at least one has connect_cluster (absent
#        only for a connector without a REST API, MSK Connect);
#      - annotations.runbook_url: <RUNBOOK_BASE>#<alert name in lower case>, and that anchor is a
#        heading of docs/runbooks.md (and every "## Cdc..." heading there is an alert);
#      - the test file has at least one case firing it (non-empty exp_alerts, each with
#        severity in exp_labels and summary, description, runbook_url in exp_annotations) and
#        at least one case where it does not fire (empty exp_alerts); test cases name no alert
#        that does not exist.
#   4. the Alertmanager inhibition rules (alerts/alertmanager-inhibit.yml): only the key
#      inhibit_rules; every alert name in their matchers is an alert of the rules file;
#      deploy/compose/alertmanager/alertmanager.yml carries the same list; amtool check-config
#      accepts both (the file merged into a minimal route); and alerts/tests/inhibit_test.py,
#      which runs them in a real Alertmanager, passes.
#   5. the routing example (alerts/alertmanager-route.yml): amtool check-config accepts it, and
#      `amtool config routes test` sends CdcWatchdog to the dead man's switch only, every
#      critical alert of the rules file to the pager, warnings to tickets, info nowhere.
# Runs from the repository root (or CDC_ALERTS_ROOT, a copy of the tree, to try broken rules).
# Needs promtool (Debian package prometheus), amtool and prometheus-alertmanager (Debian package
# prometheus-alertmanager) and python3 with PyYAML (python3-yaml).
# Exits 0 on success, 1 with a message per problem otherwise.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=${CDC_ALERTS_ROOT:-$(cd "$here/.." && pwd)}
cd "$root"

rules=alerts/cdc-sentinel.rules.yml
tests=alerts/tests/cdc-sentinel.test.yml
runbooks=docs/runbooks.md
inhibit=alerts/alertmanager-inhibit.yml
compose_am=deploy/compose/alertmanager/alertmanager.yml
route=alerts/alertmanager-route.yml

fail() { echo "alerts_test: FAIL: $*" >&2; exit 1; }

command -v promtool >/dev/null 2>&1 ||
  fail "promtool not found (Debian package prometheus; scripts/deps.sh installs it)"
command -v amtool >/dev/null 2>&1 ||
  fail "amtool not found (Debian package prometheus-alertmanager; scripts/deps.sh installs it)"
command -v prometheus-alertmanager >/dev/null 2>&1 ||
  fail "prometheus-alertmanager not found (Debian package prometheus-alertmanager; scripts/deps.sh installs it)"
py=""
for cand in python3 /usr/bin/python3; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import yaml' >/dev/null 2>&1; then
    py=$cand
    break
  fi
done
[ -n "$py" ] || fail "python3 with PyYAML not found (Debian package python3-yaml)"
for f in "$rules" "$tests" "$runbooks" "$inhibit" "$compose_am" "$route"; do
  [ -f "$f" ] || fail "missing $root/$f"
done

echo "== promtool check rules $rules"
promtool check rules "$rules" || fail "promtool check rules $rules"

echo "== promtool test rules $tests"
promtool test rules "$tests" || fail "promtool test rules $tests"

echo "== conventions"
"$py" - "$rules" "$tests" "$runbooks" <<'PY'
import re
import sys

import yaml

rules_path, tests_path, runbooks_path = sys.argv[1:4]
RUNBOOK_BASE = ("https://github.com/cdc-sentinel/cdc-sentinel/blob/main/"
                "docs/runbooks.md#")
SEVERITIES = {"critical", "warning", "info"}
NOT_PER_CONNECTOR = "# not per connector"
PIPELINE_LABELS = ("connector", "tls_version", "kafka_cluster", "source")
ALWAYS_FIRING = "# always firing"

problems = []


def problem(msg):
    problems.append(msg)


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def github_anchor(heading):
    """The anchor GitHub makes of a Markdown heading."""
    a = heading.strip().lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")


# --- the rules, and the comment block above each "- alert:" line -------------------------
rules_doc = load(rules_path)
alerts = []
for group in rules_doc.get("groups") or []:
    for rule in group.get("rules") or []:
        if "alert" in rule:
            alerts.append(rule)
if not alerts:
    problem(f"{rules_path}: no alerts found")

comments = {}
with open(rules_path, encoding="utf-8") as f:
    lines = f.read().splitlines()
for i, line in enumerate(lines):
    m = re.match(r"^\s*-\s*alert:\s*(\S+)\s*$", line)
    if not m:
        continue
    block = []
    j = i - 1
    while j >= 0 and lines[j].strip().startswith("#"):
        block.insert(0, lines[j].strip())
        j -= 1
    comments[m.group(1)] = block

# --- the runbooks: headings, and the text of each section ---------------------------------
with open(runbooks_path, encoding="utf-8") as f:
    rb_lines = f.read().splitlines()
anchors = set()
sections = {}  # "## " heading text -> its text up to the next "## " heading
current = None
in_code = False
for line in rb_lines:
    if line.startswith("```"):
        in_code = not in_code
    if in_code:
        if current is not None:
            sections[current].append(line)
        continue
    m = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
    if m:
        anchors.add(github_anchor(m.group(2)))
        if len(m.group(1)) == 2:
            current = m.group(2)
            sections[current] = []
            continue
    if current is not None:
        sections[current].append(line)
sections = {k: "\n".join(v) for k, v in sections.items()}

# --- the tests: firing / not firing cases per alert --------------------------------------
tests_doc = load(tests_path)
firing = {}
quiet = {}
firing_labels = {}  # alert -> [(where, exp_labels)] of its firing cases
for t in tests_doc.get("tests") or []:
    name = t.get("name", "?")
    for case in t.get("alert_rule_test") or []:
        a = case.get("alertname")
        exp = case.get("exp_alerts") or []
        where = f"{tests_path}: test '{name}', {a} at {case.get('eval_time')}"
        if exp:
            firing[a] = firing.get(a, 0) + 1
            for e in exp:
                labels = e.get("exp_labels") or {}
                ann = e.get("exp_annotations") or {}
                firing_labels.setdefault(a, []).append((where, labels))
                if "severity" not in labels:
                    problem(f"{where}: exp_labels without severity")
                for k in ("summary", "description", "runbook_url"):
                    if k not in ann:
                        problem(f"{where}: exp_annotations without {k}")
        else:
            quiet[a] = quiet.get(a, 0) + 1

# --- the checks -------------------------------------------------------------------------
names = [r["alert"] for r in alerts]
seen = set()
for n in names:
    if n in seen:
        problem(f"{n}: alert name used more than once")
    seen.add(n)

for r in alerts:
    n = r["alert"]
    if not re.fullmatch(r"Cdc[A-Z][A-Za-z0-9]*", n):
        problem(f"{n}: name is not CamelCase with the prefix Cdc")
    block = comments.get(n, [])
    not_per_connector = NOT_PER_CONNECTOR in block
    always_firing = ALWAYS_FIRING in block

    # for:
    if "for" not in r:
        problem(f"{n}: no explicit for: (write for: 0m if it is meant to fire at once)")
        for_value = None
    else:
        for_value = str(r["for"])
        if not any(f"for: {for_value}" in c for c in block):
            problem(f"{n}: the comment above the rule does not explain its "
                    f"'for: {for_value}'")
        if f"for: {for_value}" not in sections.get(n, ""):
            problem(f"{n}: its section in {runbooks_path} does not explain its "
                    f"'for: {for_value}'")

    labels = r.get("labels") or {}
    if always_firing:
        if labels.get("severity") != "none":
            problem(f"{n}: an always-firing alert must have severity none (never routed to "
                    f"a pager or a ticket queue by severity)")
    elif labels.get("severity") not in SEVERITIES:
        problem(f"{n}: severity {labels.get('severity')!r} is not one of "
                f"{sorted(SEVERITIES)}")

    ann = r.get("annotations") or {}
    summary = ann.get("summary")
    if not summary:
        problem(f"{n}: no summary")
    else:
        if "{{" in summary:
            problem(f"{n}: summary is not static (contains '{{{{')")
        if "\n" in summary.strip() or not summary.strip().endswith("."):
            problem(f"{n}: summary is not one sentence ending with '.'")
        elif re.search(r"\.\s+[A-Z]", summary.strip()):
            problem(f"{n}: summary has more than one sentence")

    desc = ann.get("description") or ""
    if not desc:
        problem(f"{n}: no description")
    elif always_firing:
        pass
    elif not_per_connector:
        if "$labels." not in desc:
            problem(f"{n}: description (not per connector) uses no $labels")
    else:
        for lab in ("$labels.connector", "$labels.tls_version"):
            if lab not in desc:
                problem(f"{n}: description lacks {lab} (or mark the rule "
                        f"'{NOT_PER_CONNECTOR}' in the comment above it)")

    # Per-connector alerts carry the pipeline labels, joined from cdc_connector_pipeline_info.
    if not not_per_connector and not always_firing:
        if "cdc_connector_pipeline_info" not in str(r.get("expr", "")):
            problem(f"{n}: per-connector alert whose expr does not join "
                    f"cdc_connector_pipeline_info (connect_cluster, kafka_cluster, source)")
        cases = firing_labels.get(n, [])
        for where, labels in cases:
            for lab in PIPELINE_LABELS:
                if lab not in labels:
                    problem(f"{where}: expected labels of per-connector alert {n} lack {lab}")
        if cases and not any("connect_cluster" in labels for _, labels in cases):
            problem(f"{n}: no firing case expects connect_cluster (only connectors without a "
                    f"REST API lack it)")

    url = ann.get("runbook_url") or ""
    if url != RUNBOOK_BASE + n.lower():
        problem(f"{n}: runbook_url {url!r} is not {RUNBOOK_BASE + n.lower()!r}")
    if n.lower() not in anchors:
        problem(f"{n}: {runbooks_path} has no heading '## {n}' "
                f"(anchor #{n.lower()})")

    if firing.get(n, 0) < 1:
        problem(f"{n}: no test case where it fires ({tests_path})")
    if quiet.get(n, 0) < 1 and not always_firing:
        problem(f"{n}: no test case where it does not fire ({tests_path})")

for a in sorted(set(firing) | set(quiet)):
    if a not in seen:
        problem(f"{tests_path}: test cases for {a}, which is not an alert in {rules_path}")
for heading in sections:
    if re.fullmatch(r"Cdc[A-Za-z0-9]+", heading) and heading not in seen:
        problem(f"{runbooks_path}: section '## {heading}' for an alert that does not exist")

if problems:
    for p in problems:
        print(f"alerts_test: FAIL: {p}", file=sys.stderr)
    sys.exit(1)
n_cases = sum(firing.values()) + sum(quiet.values())
print(f"alerts_test: {len(alerts)} alerts OK "
      f"({sum(firing.values())} firing and {sum(quiet.values())} non-firing cases, "
      f"{n_cases} in all)")
PY
echo "== alertmanager inhibitions $inhibit"
"$py" - "$rules" "$inhibit" "$compose_am" <<'PY'
import re
import sys

import yaml

rules_path, inhibit_path, compose_path = sys.argv[1:4]
problems = []
with open(rules_path, encoding="utf-8") as f:
    alerts = {r["alert"] for g in yaml.safe_load(f)["groups"] for r in g["rules"] if "alert" in r}
with open(inhibit_path, encoding="utf-8") as f:
    inhibit = yaml.safe_load(f)
if not isinstance(inhibit, dict) or set(inhibit) != {"inhibit_rules"}:
    problems.append(f"{inhibit_path}: must hold the single key inhibit_rules")
else:
    for i, rule in enumerate(inhibit["inhibit_rules"], 1):
        for side in ("source_matchers", "target_matchers"):
            for m in rule.get(side) or []:
                for name in re.findall(r"Cdc[A-Za-z0-9]+", m):
                    if name not in alerts:
                        problems.append(f"{inhibit_path}: rule {i} {side} names {name}, "
                                        f"which is not an alert of {rules_path}")
        if not rule.get("equal"):
            problems.append(f"{inhibit_path}: rule {i} has no equal: labels")
    with open(compose_path, encoding="utf-8") as f:
        compose = yaml.safe_load(f)
    if compose.get("inhibit_rules") != inhibit["inhibit_rules"]:
        problems.append(f"{compose_path}: inhibit_rules differ from {inhibit_path} "
                        f"(copy them from its inhibit_rules: line)")
for p in problems:
    print(f"alerts_test: FAIL: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
tmp_am=$(mktemp -d)
trap 'rm -rf "$tmp_am"' EXIT
printf 'route:\n  receiver: none\nreceivers:\n  - name: none\n' > "$tmp_am/alertmanager.yml"
cat "$inhibit" >> "$tmp_am/alertmanager.yml"
amtool check-config "$tmp_am/alertmanager.yml" || fail "amtool check-config $inhibit (merged into a minimal route)"
amtool check-config "$compose_am" || fail "amtool check-config $compose_am"
"$py" alerts/tests/inhibit_test.py || fail "alerts/tests/inhibit_test.py"

echo "== alertmanager routes $route"
amtool check-config "$route" >/dev/null || fail "amtool check-config $route"
# receiver_of LABELS...: the receiver(s) amtool routes an alert with these labels to.
receiver_of() { amtool config routes test --config.file="$route" "$@" 2>/dev/null; }
[ "$(receiver_of alertname=CdcWatchdog severity=none)" = cdc-deadmans-switch ] ||
  fail "$route: CdcWatchdog does not go (only) to cdc-deadmans-switch"
while read -r name severity; do
  case $severity in
    critical) want=cdc-pager ;;
    warning) want=cdc-tickets ;;
    info) want=cdc-ui-only ;;
    *) continue ;;
  esac
  got=$(receiver_of alertname="$name" severity="$severity" connector=x job=cdc-sentinel)
  [ "$got" = "$want" ] || fail "$route: $name (severity $severity) goes to '$got', not $want"
done < <("$py" -c '
import sys, yaml
for g in yaml.safe_load(open(sys.argv[1]))["groups"]:
    for r in g["rules"]:
        if "alert" in r:
            print(r["alert"], r["labels"]["severity"])
' "$rules")

echo "alerts_test: PASS"
