"""The fleet's monitoring under config/monitoring/: Prometheus alert rules and a Grafana dashboard.

- ``promtool check rules`` accepts the rules, and ``promtool test rules`` runs the scenarios in
  tests/data/monitoring/: for every alert, stations that trip it and stations that must not.
  Each expected alert's annotations are the rule's own, rendered with the expected labels, so
  a template naming a label the alert does not carry shows up as a difference.
- A real node_exporter serves a metrics file holding every station family (its textfile
  collector accepts the file) beside every node_exporter series the rules read, with the
  ``file`` label the rules match.
- The dashboard is valid JSON that Grafana can provision, promtool parses every query, and
  every query (like every rule) names only metrics that exist: the station's families
  (:data:`station.metrics.FAMILIES`) or the node_exporter and Prometheus series in
  :data:`NODE_EXPORTER`.

promtool and node_exporter come from Debian's ``prometheus`` and ``prometheus-node-exporter``
packages (``.ci/dev`` installs them); without them these tests fail rather than skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from station.metrics import FAMILIES, FILENAME, Metrics, TextfileWriter
from tests.support import node_exporter

ROOT = Path(__file__).resolve().parent.parent
MONITORING = ROOT / "config" / "monitoring"
RULES = MONITORING / "release-station-alerts.yml"
SCENARIOS = ROOT / "tests" / "data" / "monitoring" / "release-station-alerts.test.yml"
DASHBOARD = MONITORING / "grafana" / "release-station-fleet.json"
PROVIDER = MONITORING / "grafana" / "release-station-dashboards.yml"

# What the rules and the dashboard read besides the station's own families: Prometheus' own
# `up` and node_exporter's (collectors textfile, timex, filesystem, stat; all on by default).
NODE_EXPORTER = {
    "up",
    "node_textfile_mtime_seconds",
    "node_timex_sync_status",
    "node_filesystem_avail_bytes",
    "node_filesystem_size_bytes",
    "node_boot_time_seconds",
}

# PromQL words that are not metric names (functions are told by the parenthesis after them).
_KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: install Debian's prometheus package (.ci/dev test does)")
    return path


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', "", expr)  # label values, label_replace arguments
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)  # matchers, ranges
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", expr):  # not in 5m or 1e3
        word, after = match.group(), expr[match.end() :].lstrip()
        if word not in _KEYWORDS and not after.startswith("("):
            names.add(word)
    return names


def test_metric_names_are_found_in_promql() -> None:
    expr = (
        'sum by (state) (release_station_state{instance=~"$instance"} == 1) '
        'unless on (instance) label_replace(up, "a", "$1", "b", "(.*)") '
        "and time() - node_boot_time_seconds offset 5m > 300"
    )
    assert metric_names(expr) == {"release_station_state", "up", "node_boot_time_seconds"}


def test_the_rules_pass_promtool_check() -> None:
    result = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_says_what_to_do_and_reads_only_metrics_that_exist() -> None:
    known = set(FAMILIES) | NODE_EXPORTER
    for rule in rules():
        assert set(rule["annotations"]) == {"summary", "description"}, rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert metric_names(rule["expr"]) <= known, rule["alert"]


def _render(template: str, labels: dict[str, str]) -> str:
    """Prometheus' rendering of the only template construct the rules use, ``{{ $labels.NAME }}``."""
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), template)
    assert "{{" not in text, f"a template construct this test does not render: {template}"
    return text


def _with_annotations(scenarios: dict[str, Any]) -> dict[str, Any]:
    annotations = {rule["alert"]: rule["annotations"] for rule in rules()}
    for test in scenarios["tests"]:
        for check in test["alert_rule_test"]:
            for alert in check.get("exp_alerts") or []:
                assert "exp_annotations" not in alert, "the annotations come from the rules file"
                labels = {key: str(value) for key, value in alert["exp_labels"].items()}
                alert["exp_annotations"] = {
                    key: _render(text, labels) for key, text in annotations[check["alertname"]].items()
                }
    scenarios["rule_files"] = [str((SCENARIOS.parent / path).resolve()) for path in scenarios["rule_files"]]
    return scenarios


def test_every_alert_has_a_scenario_that_trips_it() -> None:
    scenarios = yaml.safe_load(SCENARIOS.read_text())
    tripped = {
        check["alertname"]
        for test in scenarios["tests"]
        for check in test["alert_rule_test"]
        if check.get("exp_alerts")
    }
    assert tripped == {rule["alert"] for rule in rules()}


def test_the_alert_scenarios_pass_promtool(tmp_path: Path) -> None:
    filled = tmp_path / SCENARIOS.name
    filled.write_text(yaml.safe_dump(_with_annotations(yaml.safe_load(SCENARIOS.read_text()))))
    result = subprocess.run([promtool(), "test", "rules", str(filled)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def test_the_dashboard_is_provisionable_and_queries_only_metrics_that_exist(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and "id" not in dashboard  # Grafana assigns ids
    provider = yaml.safe_load(PROVIDER.read_text())
    assert provider["apiVersion"] == 1 and provider["providers"][0]["type"] == "file"
    known = set(FAMILIES) | NODE_EXPORTER
    queries = [
        (panel["title"], target["expr"])
        for panel in _panels(dashboard["panels"])
        for target in panel.get("targets", [])
    ]
    queries += [
        ("variable " + var["name"], var["query"]["query"])
        for var in dashboard["templating"]["list"]
        if var["type"] == "query"
    ]
    assert queries
    for title, expr in queries:
        names = metric_names(re.sub(r"^label_values\((.*), *\w+\)$", r"\1", expr))
        assert names, f"{title}: no metric in {expr}"
        assert names <= known, (
            f"{title}: {sorted(names - known)} is no metric the station or node_exporter writes"
        )
    # promtool parses each query (with the station variable filled in) as a recording rule's.
    checked = tmp_path / "dashboard-queries.yml"
    records = [
        {"record": f"dashboard:query_{n}", "expr": expr.replace("$instance", ".*")}
        for n, (_, expr) in enumerate(queries)
        if not expr.startswith("label_values(")
    ]
    checked.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    result = subprocess.run([promtool(), "check", "rules", str(checked)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    titles = {panel["title"] for panel in _panels(dashboard["panels"])}
    for wanted in (
        "Stations by state",
        "Taps per hour",
        "Releases per hour",
        "Failures by cause",
        "Software version and slot",
        "Directory sync age",
    ):
        assert wanted in titles


def test_node_exporter_serves_every_station_family_and_the_series_the_rules_read(tmp_path: Path) -> None:
    if not node_exporter.available():
        pytest.fail("node_exporter is missing: install prometheus-node-exporter (.ci/dev test does)")
    metrics = Metrics()
    for name, family in FAMILIES.items():
        if family.kind == "counter":
            metrics.inc(name, 3, kind="x")
        else:
            metrics.set(name, 1, state="x")
    assert TextfileWriter(metrics, tmp_path, interval_s=30).write()
    with node_exporter.serving(tmp_path) as url:
        text = node_exporter.scrape(url)
    samples = [sample for family in text_string_to_metric_families(text) for sample in family.samples]
    served = {sample.name for sample in samples}
    assert ("node_textfile_scrape_error", {}, 0) in [(s.name, s.labels, s.value) for s in samples]
    assert set(FAMILIES) <= served
    assert NODE_EXPORTER - {"up"} <= served  # `up` is Prometheus' own, written at each scrape
    (mtime,) = [sample for sample in samples if sample.name == "node_textfile_mtime_seconds"]
    assert mtime.labels["file"] == str(tmp_path / FILENAME)
    matched = re.search(r'node_textfile_mtime_seconds\{[^}]*file=~"([^"]+)"', RULES.read_text())
    assert matched is not None
    assert re.fullmatch(matched.group(1).replace("\\\\", "\\"), mtime.labels["file"])


def test_the_readme_explains_every_alert() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Monitoring a fleet", 1)[1].split("\n## ", 1)[0]
    explained = set(re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE))
    assert explained == {rule["alert"] for rule in rules()}
