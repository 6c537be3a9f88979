"""`python -m bench.issue19 bench/results/<run1>.json <run2>.json <run3>.json` prints issue 19's table
from full runs: for each ASGI server, every row of the issue as hotline / peer or hotline / floor in
each run, their median, and whether the target held (in every run, only in the median, or not), so
docs/performance.md copies the figures instead of retyping them."""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

# (row, scenario, metric, against, target, test of a ratio)
ROWS: list[tuple[str, str, str, str, str, Callable[[float], bool] | None]] = [
    ("OTP send requests/s (600 numbers, 40 in flight)", "otp", "send requests/s", "peer", ">= 2", lambda r: r >= 2),
    ("OTP send p50", "otp", "send p50", "peer", "<= 1", lambda r: r <= 1),
    ("OTP authenticate requests/s", "otp", "authenticate requests/s", "peer", ">= 2", lambda r: r >= 2),
    ("OTP authenticate p50", "otp", "authenticate p50", "peer", "<= 1", lambda r: r <= 1),
    ("OTP authenticate p99", "otp", "authenticate p99", "peer", "<= 1", lambda r: r <= 1),
    ("fan-out 20 members at 200 msg/s: deliveries/s", "chat", "fan-out 20 at 200/s deliveries/s", "peer", ">= 1",
     lambda r: r >= 1),
    ("fan-out 20 at 200/s p99", "chat", "fan-out 20 at 200/s p99", "peer", "<= 1", lambda r: r <= 1),
    ("fan-out 200 members at 100 msg/s: deliveries/s", "chat", "fan-out 200 at 100/s deliveries/s", "peer", ">= 4",
     lambda r: r >= 4),
    ("fan-out 200 at 100/s p99", "chat", "fan-out 200 at 100/s p99", "peer", "<= 1", lambda r: r <= 1),
    ("WebSocket connects/s", "chat", "connects/s", "peer", ">= 1.5", lambda r: r >= 1.5),
    ("WebSocket connects/s", "chat", "connects/s", "floor", "", None),
    ("CPU per connect", "chat", "CPU per connect (whole machine)", "peer", "<= 1", lambda r: r <= 1),
    ("CPU per connect", "chat", "CPU per connect (whole machine)", "floor", "<= 3", lambda r: r <= 3),
    ("idle memory per socket (2,000)", "chat", "RSS per socket", "peer", "<= 1", lambda r: r <= 1),
    ("idle memory per socket (2,000)", "chat", "RSS per socket", "floor", "<= 1.25", lambda r: r <= 1.25),
    ("CPU per 1:1 message", "chat", "CPU per 1:1 message (whole machine)", "floor", "<= 2", lambda r: r <= 2),
    ("1,000-member fan-out p99", "chat", "fan-out 1000 p99", "floor", "<= 1.5", lambda r: r <= 1.5),
]
KIND = {"peer": "peer", "floor": "bare"}


def value(run: dict, scenario: str, server: str, kind: str, metric: str) -> float | None:
    for row in run["rows"]:
        if (row["scenario"], row["server"], row["processes"], row["metric"]) == (scenario, f"{server}/{kind}", 1, metric):
            return row["value"] if isinstance(row["value"], (int, float)) and not isinstance(row["value"], bool) else None
    return None


def _ratio(mine: float | None, other: float | None) -> float | None:
    return None if mine is None or not other else mine / other


def _push_ratio(run: dict, server: str) -> float | None:
    # The floor's CPU per 1:1 delivery: each 1:1 message is delivered to both members' sockets.
    floor = value(run, "chat", server, "bare", "CPU per 1:1 message (whole machine)")
    return _ratio(value(run, "auth_push", server, "hotline", "CPU per confirmation (whole machine)"),
                  floor / 2 if floor else None)


def _cell(x: float | None) -> str:
    return "-" if x is None else (f"{x:.2f}" if x < 10 else f"{x:.1f}")


def _line(row: str, against: str, target: str, ratios: list[float | None], test) -> str:
    got = [r for r in ratios if r is not None]
    median = statistics.median(got) if got else None
    met = "" if test is None or median is None else (
        "yes" if all(test(r) for r in got) else ("median" if test(median) else "no"))
    return f"| {row} | {against} | {target} | " + " | ".join(_cell(r) for r in ratios) + f" | {_cell(median)} | {met} |"


def render(runs: list[dict]) -> str:
    servers: list[str] = []
    for run in runs:
        for row in run["rows"]:
            server = row["server"].split("/")[0]
            if server not in servers:
                servers.append(server)
    out: list[str] = []
    for server in servers:
        out += ["", f"**{server}, one process each**", "",
                "| row | ratio | target | " + " | ".join(f"run {i + 1}" for i in range(len(runs))) + " | median | met |",
                "|---|---|---|" + "---|" * (len(runs) + 2)]
        for row, scenario, metric, against, target, test in ROWS:
            ratios = [_ratio(value(run, scenario, server, "hotline", metric), value(run, scenario, server, KIND[against], metric))
                      for run in runs]
            out.append(_line(row, f"hotline/{against}", target, ratios, test))
        out.append(_line("login push: CPU per confirmation", "/ the floor's CPU per 1:1 delivery", "<= 2",
                         [_push_ratio(run, server) for run in runs], lambda r: r <= 2))
    return "\n".join(out).strip()


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    print(render([json.loads(Path(p).read_text()) for p in argv]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
