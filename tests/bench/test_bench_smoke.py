"""Keeps the load harness working: `python -m bench --quick` must produce the table and its JSON with
every scenario's figures, and count nothing lost or duplicated. Timings are never asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.harness import Report, latency_summary, percentile
from bench.otp import codes_from_log
from bench.otp import sizes as otp_sizes

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    "otp": ["send requests/s", "send p50", "send p99", "codes read", "authenticate requests/s",
            "authenticate p50", "authenticate p99", "authenticate failed", "CPU per send (whole machine)",
            "CPU per authenticate (whole machine)"],
    "auth_push": ["push after the poll that saw it p50", "push after the poll that saw it p99",
                  "push after upstream confirmation p99", "pushes delivered / expected", "pushes lost",
                  "pushes duplicated", "upstream code/result calls per login", "seed 3 s polling: delay p50",
                  "seed 3 s polling: upstream calls per login", "CPU per login started (whole machine)",
                  "CPU per confirmation (whole machine)"],
    "chat": ["connects/s", "sockets held", "RSS per socket", "1:1 messages/s", "1:1 p50", "1:1 p99",
             "1:1 lost", "1:1 duplicated", "fan-out 100 p50", "fan-out 100 p99", "fan-out 100 lost",
             "fan-out 100 duplicated", "CPU per connect (whole machine)", "CPU per 1:1 message (whole machine)",
             "fan-out 5 at 40/s deliveries/s", "fan-out 5 at 40/s p99", "fan-out 5 at 40/s lost",
             "fan-out 20 at 20/s deliveries/s", "fan-out 20 at 20/s p99", "fan-out 20 at 20/s lost",
             "fan-out 20 at 20/s duplicated", "CPU per fan-out 20 at 20/s delivery (whole machine)"],
}
# The peer's rows (issue 19's table): OTP, and in chat connects, memory and the group fan-outs.
PEER_EXPECTED = {
    "otp": EXPECTED["otp"],
    "chat": ["connects/s", "CPU per connect (whole machine)", "sockets held", "RSS per socket",
             "fan-out 5 at 40/s deliveries/s", "fan-out 5 at 40/s p99", "fan-out 5 at 40/s lost",
             "fan-out 20 at 20/s deliveries/s", "fan-out 20 at 20/s p99", "fan-out 20 at 20/s lost",
             "fan-out 20 at 20/s duplicated", "CPU per fan-out 20 at 20/s delivery (whole machine)"],
}
MUST_BE_ZERO = ("lost", "duplicated", "failed", "failures", "pushes lost", "pushes duplicated")


def test_percentiles_and_summary():
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert percentile(values, 50) == 0.05
    assert percentile(values, 99) == 0.099
    assert percentile([], 50) is None
    assert latency_summary(values) == {"p50_ms": 50.0, "p99_ms": 99.0, "max_ms": 100.0}


def test_codes_are_read_from_the_console_provider_line_only():
    log = (
        "2026-01-01 INFO sms.console SMS to +989121234567: Your hotline code is 123456. It expires in 5 min.\n"
        "[2026-01-01: INFO/ForkPoolWorker-1] SMS to +989120000001: Your hotline code is 654321.\n"
        "[2026-01-01: INFO/ForkPoolWorker-1] SMS 7 to +98912***0001 sent by console (console-1)\n"
        "2026-01-01 INFO sms.console SMS to +989121234567: Your hotline code is 000111.\n"
    )
    assert codes_from_log(log) == {"+989121234567": "000111", "+989120000001": "654321"}


def test_table_has_every_row_and_the_machine():
    report = Report(quick=True)
    report.add("otp", "daphne/hotline", 1, "send p99", 12.345, "ms", "< 50 ms")
    table = report.table()
    assert f"{report.machine['cores']} cores" in table and "GiB" in table
    assert "send p99" in table and "12.3" in table
    data = report.as_json()
    assert data["machine"]["cores"] >= 1 and data["machine"]["memory_gib"] > 0
    assert data["rows"][0]["metric"] == "send p99"


def _bench_redis_url() -> str:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    return url.rsplit("/", 1)[0] + "/7"


def _bench_database_url(name: str) -> str | None:
    """A throwaway database of its own beside the tests' PostgreSQL (dropped afterwards), so the smoke
    run never meets a schema that another checkout's migrations left in the bench's default `h_bench`."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return None  # the bench's own default (PostgreSQL on 127.0.0.1 if it answers, else SQLite)
    return url.rsplit("/", 1)[0] + "/h_" + name.replace("-", "_")


def _drop_databases(url: str) -> None:
    import dj_database_url
    import psycopg
    from psycopg import sql

    cfg = dj_database_url.parse(url)
    params = dict(host=cfg["HOST"] or "127.0.0.1", port=cfg["PORT"] or 5432, user=cfg["USER"] or "postgres",
                  password=cfg["PASSWORD"] or None, connect_timeout=3)
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        for name in (cfg["NAME"], f"{cfg['NAME']}_peer"):
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def quick_run() -> dict:
    """One `python -m bench --quick` of every scenario and kind on daphne x1, shared by the tests below."""
    name = f"smoke-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.setdefault("BENCH_REDIS_URL", _bench_redis_url())
    database_url = None if "BENCH_DATABASE_URL" in env else _bench_database_url(name)
    if database_url:
        env["BENCH_DATABASE_URL"] = database_url
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench", "--quick", "--servers", "daphne", "--processes", "1", "--name", name],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=500,
        )
    finally:
        if database_url:
            _drop_databases(database_url)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    saved = sorted((ROOT / "bench" / "results").glob(f"*-{name}-quick.json"))
    assert saved, "no JSON result was saved"
    try:
        data = json.loads(saved[-1].read_text())
    finally:
        for path in saved:
            path.unlink()
    return {"stdout": done.stdout, "data": data}


def check_rows(rows: list[dict], server: str, expected: dict[str, list[str]], flawless: bool = True) -> None:
    """Every expected row is there; nothing lost, duplicated or failed (`flawless`: hotline and the
    floor; the peer's own losses are its figures, but its counts must still add up)."""
    for scenario, metrics in expected.items():
        have = {r["metric"]: r["value"] for r in rows if r["scenario"] == scenario and r["server"] == server}
        have_notes = {r["metric"]: r["note"] for r in rows if r["scenario"] == scenario and r["server"] == server}
        missing = [m for m in metrics if m not in have]
        assert not missing, f"{scenario} {server} lacks {missing}: {sorted(have)}"
        for metric, value in have.items():
            if metric.endswith(MUST_BE_ZERO) and flawless:
                assert value == 0, f"{scenario} {server}: {metric} = {value}"
            if metric.startswith("CPU per"):
                # the meter saw the servers work, and the load generators too
                assert value > 0 and "servers 0.00," not in have_notes[metric], (metric, have_notes[metric])
            if metric.endswith("delivered / expected"):
                got, expected_frames = (int(x) for x in value.split("/"))
                assert got == expected_frames or not flawless, f"{scenario} {server}: {metric} = {value}"
                lost = have[metric.replace("delivered / expected", "lost")]
                assert 0 < expected_frames and got + lost == expected_frames, (metric, value, lost)
            if metric == "codes read":  # every number sent had its code read back
                assert value == otp_sizes(quick=True)["numbers"], f"{scenario} {server}: {value} codes"


@pytest.mark.integration
@pytest.mark.timeout(540)
def test_quick_run_of_every_scenario_prints_the_table_and_saves_the_json(quick_run):
    stdout, data = quick_run["stdout"], quick_run["data"]
    assert "scenario" in stdout and "metric" in stdout  # the table was printed
    assert data["quick"] is True
    assert {"cores", "memory_gib", "cpu", "python", "versions"} <= set(data["machine"])
    rows = data["rows"]
    assert not [r for r in rows if "failed" in r["metric"] and r["value"] is None], rows
    check_rows(rows, "daphne/hotline", EXPECTED)
    floor = {r["metric"] for r in rows if r["scenario"] == "chat" and r["server"] == "daphne/bare"}
    assert {"connects/s", "RSS per socket", "1:1 p99", "fan-out 100 p99", "1:1 lost",
            "fan-out 20 at 20/s p99", "CPU per 1:1 message (whole machine)"} <= floor
    against_floor = {c["metric"] for c in data["comparisons"] if "hotline/floor" in c}
    assert {"fan-out 100 p99", "CPU per 1:1 message (whole machine)", "CPU per connect (whole machine)",
            "RSS per socket"} <= against_floor
    cpu = [r for r in rows if r["metric"].startswith("CPU per")]
    assert all({"servers", "postgres", "redis", "clients", "total"} <= set(r["parts"]) for r in cpu), cpu[:1]


@pytest.mark.integration
@pytest.mark.timeout(540)
def test_quick_run_measures_the_peer_beside_hotline(quick_run):
    data = quick_run["data"]
    not_run = [n for n in data["notes"] if n.startswith("the peer was not run")]
    if not_run:
        pytest.skip(f"no package index to install django-chelseru from, and no virtualenv yet: {not_run[0]}")
    assert data["machine"]["peer"]["versions"]["django-chelseru"] == "3.1.2"
    rows = data["rows"]
    check_rows(rows, "daphne/peer", PEER_EXPECTED, flawless=False)
    against_peer = {(c["scenario"], c["metric"]) for c in data["comparisons"] if "hotline/peer" in c}
    for scenario, metric in [("otp", "send requests/s"), ("otp", "authenticate requests/s"),
                             ("otp", "authenticate p50"), ("chat", "connects/s"), ("chat", "RSS per socket"),
                             ("chat", "fan-out 20 at 20/s deliveries/s"), ("chat", "fan-out 5 at 40/s p99")]:
        assert (scenario, metric) in against_peer, (scenario, metric)
    assert "hotline/peer" in quick_run["stdout"]
