"""docs/ops/ cannot drift from the code: every metric and label the Grafana dashboard and the alert
rules use is one the app exports, and promtool (Debian's `prometheus` package, installed by
./scripts/test when it can) checks the rules, runs their unit tests and parses every dashboard query."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from core import metrics

OPS = Path(__file__).resolve().parents[2] / "docs" / "ops"
DASHBOARD = OPS / "grafana-dashboard.json"
ALERTS = OPS / "alerts.yml"
ALERT_TESTS = OPS / "alerts.test.yml"

# Prometheus's own: `up` per target, and the labels every target has.
PROMETHEUS_SERIES = {"up": {"job", "instance"}}
TARGET_LABELS = {"job", "instance"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


def exported() -> dict[str, set[str]]:
    """{sample name: label names} of everything GET /metrics can show."""
    names: dict[str, set[str]] = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            labels = set(value._labelnames)
            kind, base = value._type, value._name
            if kind == "counter":
                names[f"{base}_total"] = labels
            elif kind == "histogram":
                names[f"{base}_bucket"] = labels | {"le"}
                names[f"{base}_sum"] = names[f"{base}_count"] = labels
            else:
                names[base] = labels | {"pid"}  # the socket gauge is per process in multiprocess mode
    return names


@pytest.fixture(scope="module")
def exported_names(django_db_blocker) -> dict[str, set[str]]:
    from core.metrics_endpoint import collect_dependencies

    names = exported()
    with django_db_blocker.unblock():
        for collect in [collect_dependencies, *metrics.scrape_collectors()]:
            for family in collect():
                names[family.name] = {label for sample in family.samples for label in sample.labels}
    return names


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            queries.append(variable["definition"])
    return queries


def alert_queries() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def used(query: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) a PromQL (or Grafana label_values) query uses."""
    query = re.sub(r"\$__\w+|\$\w+", "x", query)
    labels: set[str] = set()
    names: set[str] = set()
    for metric, label in re.findall(r"label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*(\w+)\s*\)", query):
        names.add(metric)
        labels.add(label)
    query = re.sub(r"label_values\([^)]*\)", " ", query)
    for _, grouped in GROUPING.findall(query):
        labels |= {label.strip() for label in grouped.split(",") if label.strip()}
    query = GROUPING.sub(" ", query)
    for matchers in re.findall(r"\{([^}]*)\}", query):
        labels |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", re.sub(r'"(?:[^"\\]|\\.)*"', '""', matchers)))
    query = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"(?:[^\"\\]|\\.)*\"", " ", query)
    for token in re.finditer(r"[a-zA-Z_:][\w:]*", query):
        rest = query[token.end():].lstrip()
        if rest.startswith("(") or token.group() in KEYWORDS:
            continue  # a function, an aggregation or a keyword
        names.add(token.group())
    return names, labels


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_metric_and_label_used_is_exported(source, exported_names):
    queries = dashboard_queries() if source == "dashboard" else alert_queries()
    assert len(queries) >= 10
    known = {**exported_names, **PROMETHEUS_SERIES}
    seen_metrics = set()
    for query in queries:
        names, labels = used(query)
        assert names, query
        unknown = names - set(known)
        assert not unknown, f"{sorted(unknown)} in {query!r} is not exported (core/metrics.py)"
        available = TARGET_LABELS.union(*(known[name] for name in names))
        assert labels <= available, f"labels {sorted(labels - available)} of {query!r} are not on {sorted(names)}"
        seen_metrics |= names
    if source == "dashboard":
        # The dashboard shows every metric the app exports.
        def base(name: str) -> str:
            return re.sub(r"_(bucket|sum|count)$", "", name)

        missing = {base(name) for name in exported_names} - {base(name) for name in seen_metrics}
        assert not missing, f"not on the dashboard: {sorted(missing)}"


def test_the_parser_of_this_test_sees_what_it_must():
    names, labels = used('sum by (le, route) (rate(hotline_x_bucket{job="$job", status=~"5.."}[$__rate_interval])) / on(job) up')
    assert names == {"hotline_x_bucket", "up"} and labels == {"le", "route", "job", "status"}
    assert used("label_values(hotline_y_total, job)") == ({"hotline_y_total"}, {"job"})


def test_the_alerts_cover_what_the_issue_lists():
    alerts = {rule["alert"]: rule["expr"] for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]}
    wanted = {
        "HotlineSmsFailing": "hotline_sms_provider_results_total",
        "HotlineSmsOutboxBackingUp": "hotline_sms_outbox_oldest_age_seconds",
        "HotlineOtpGlobalBudgetNearlySpent": "hotline_otp_global_sends_limit",
        "HotlineAuth4appUpstreamErrors": "hotline_auth4app_upstream_requests_total",
        "HotlineHttp5xx": "hotline_http_requests_total",
        "HotlineDatabaseUnavailable": 'dependency="database"',
        "HotlineRedisUnavailable": 'dependency="redis"',
    }
    for alert, needle in wanted.items():
        assert needle in alerts[alert], alert


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.skip("promtool is not installed (Debian: apt-get install --no-install-recommends prometheus; "
                    "./scripts/test installs it when it runs as root)")
    return found


def test_promtool_accepts_the_rules_and_their_unit_tests_pass():
    tool = promtool()
    checked = subprocess.run([tool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([tool, "test", "rules", ALERT_TESTS.name], cwd=OPS, capture_output=True, text=True,
                            timeout=120)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_promtool_parses_every_dashboard_query(tmp_path):
    tool = promtool()
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"hotline_dashboard:query_{index}", "expr": re.sub(r"\$__rate_interval", "5m", query).replace("$job", "hotline")}
        for index, query in enumerate(dashboard_queries()) if not query.startswith("label_values(")
    ]}]}
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = subprocess.run([tool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
