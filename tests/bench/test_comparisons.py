"""bench.harness.comparisons: hotline's figures over the peer's and the floor's, read in each row's direction."""

from __future__ import annotations

from bench.harness import Report, comparisons
from bench.markdown import render


def row(server: str, metric: str, value, unit: str, scenario: str = "chat", processes: int = 1) -> dict:
    return {"scenario": scenario, "server": server, "processes": processes, "metric": metric, "value": value,
            "unit": unit, "target": "", "note": ""}


def by_metric(rows: list[dict]) -> dict[str, dict]:
    return {entry["metric"]: entry for entry in comparisons(rows)}


def test_a_rate_is_ahead_when_higher_and_a_cost_when_lower():
    found = by_metric([
        row("daphne/hotline", "connects/s", 200.0, "conn/s"),
        row("daphne/peer", "connects/s", 400.0, "conn/s"),
        row("daphne/bare", "connects/s", 800.0, "conn/s"),
        row("daphne/hotline", "RSS per socket", 30.0, "KiB"),
        row("daphne/peer", "RSS per socket", 40.0, "KiB"),
        row("daphne/bare", "RSS per socket", 20.0, "KiB"),
    ])
    connects = found["connects/s"]
    assert connects["hotline/peer"] == 0.5 and connects["ahead_of_peer"] is False
    assert connects["hotline/floor"] == 0.25 and connects["ahead_of_floor"] is False
    assert connects["better"] == "higher"
    memory = found["RSS per socket"]
    assert memory["hotline/peer"] == 0.75 and memory["ahead_of_peer"] is True
    assert memory["hotline/floor"] == 1.5 and memory["ahead_of_floor"] is False
    assert memory["better"] == "lower"


def test_equal_figures_count_as_not_behind():
    found = by_metric([row("daphne/hotline", "send p50", 50.0, "ms", "otp"),
                       row("daphne/peer", "send p50", 50.0, "ms", "otp")])
    assert found["send p50"]["ahead_of_peer"] is True


def test_only_the_same_scenario_server_and_process_count_are_compared():
    found = comparisons([
        row("daphne/hotline", "connects/s", 200.0, "conn/s"),
        row("uvicorn/peer", "connects/s", 400.0, "conn/s"),
        row("daphne/peer", "connects/s", 400.0, "conn/s", processes=2),
        row("daphne/peer", "connects/s", 400.0, "conn/s", scenario="otp"),
    ])
    assert found == []


def test_counts_offered_rates_and_missing_figures_are_left_out():
    found = by_metric([
        row("daphne/hotline", "1:1 lost", 0, "frames"),
        row("daphne/bare", "1:1 lost", 0, "frames"),
        row("daphne/hotline", "1:1 messages/s", 500.0, "msg/s"),
        row("daphne/bare", "1:1 messages/s", 500.0, "msg/s"),
        row("daphne/hotline", "1:1 p99", 12.0, "ms"),
        row("daphne/bare", "1:1 p99", None, "ms"),
        row("daphne/hotline", "send requests/s", 10.0, "req/s", "otp"),
    ])
    assert found == {}


def test_a_zero_reference_gives_its_value_but_no_ratio():
    entry = comparisons([row("daphne/hotline", "fan-out 20 at 200/s p99", 3.0, "ms"),
                         row("daphne/bare", "fan-out 20 at 200/s p99", 0.0, "ms")])[0]
    assert entry["floor"] == 0.0 and "hotline/floor" not in entry


def test_the_table_json_and_markdown_carry_the_ratios():
    report = Report(quick=True)
    report.add("otp", "daphne/hotline", 1, "authenticate requests/s", 300.0, "req/s")
    report.add("otp", "daphne/peer", 1, "authenticate requests/s", 100.0, "req/s")
    report.add("otp", "daphne/hotline", 1, "CPU per authenticate (whole machine)", 5.0, "ms",
               parts={"servers": 4.0, "clients": 1.0})
    table = report.table()
    assert "hotline/peer" in table and "3 ahead" in table
    data = report.as_json()
    assert data["comparisons"][0]["hotline/peer"] == 3.0
    assert data["rows"][2]["parts"] == {"servers": 4.0, "clients": 1.0}
    data.setdefault("backends", {})
    markdown = render(data)
    assert "| daphne | 1 | authenticate requests/s | req/s | 300.0 | 100.0 | 3 ahead | - | - |" in markdown
