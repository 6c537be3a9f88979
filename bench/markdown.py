"""`python -m bench.markdown bench/results/<run>.json` prints that run as Markdown tables (one per
scenario) for docs/performance.md, so the figures there are copied, never retyped."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.harness import COMPARISON_COLUMNS, _cell, comparison_cells


def render(data: dict) -> str:
    m = data["machine"]
    lines = [
        f"Run of {data['created_at']} ({data['duration_s']} s{', --quick' if data['quick'] else ''}): "
        f"{m['cores']} cores, {m['memory_gib']} GiB, {m['cpu']}, Python {m['python']}; "
        f"load average {m['load_average_at_start']} at the start, {m.get('load_average_at_end', '?')} at the end; "
        f"database {data['backends'].get('database')}, Redis {data['backends'].get('redis')}.",
    ]
    lines += [f"Note: {n}" for n in data.get("notes", [])]
    scenarios: dict[str, list[dict]] = {}
    for row in data["rows"]:
        scenarios.setdefault(row["scenario"], []).append(row)
    for scenario, rows in scenarios.items():
        configs = []
        for row in rows:
            key = (row["server"], row["processes"])
            if key not in configs:
                configs.append(key)
        metrics = []
        for row in rows:
            if row["metric"] not in metrics:
                metrics.append(row["metric"])
        header = ["metric", "unit", "target"] + [f"{s} x{p}" for s, p in configs]
        lines += ["", f"#### {scenario}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for metric in metrics:
            cells, unit, target = [], "", ""
            for config in configs:
                found = [r for r in rows if (r["server"], r["processes"]) == config and r["metric"] == metric]
                if found:
                    unit, target = found[0]["unit"] or unit, found[0]["target"] or target
                    cells.append(_cell(found[0]["value"]))
                else:
                    cells.append("")
            lines.append("| " + " | ".join([metric, unit, target, *cells]) + " |")
        notes = [f"{r['server']} x{r['processes']}, {r['metric']}: {r['note']}" for r in rows if r["note"]]
        if notes:
            lines += ["", *[f"- {n}" for n in notes]]
        ratios = [c for c in data.get("comparisons", []) if c["scenario"] == scenario]
        if ratios:
            lines += ["", f"hotline / peer and hotline / floor ({scenario}; 'ahead' when better in the row's direction):",
                      "", "| " + " | ".join(COMPARISON_COLUMNS[1:]) + " |", "|" + "---|" * (len(COMPARISON_COLUMNS) - 1)]
            lines += ["| " + " | ".join(comparison_cells(c)[1:]) + " |" for c in ratios]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(Path("bench/results").glob("*.json"))[-1:]
    for path in paths:
        print(render(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
