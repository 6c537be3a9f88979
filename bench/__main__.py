"""`python -m bench [otp] [auth_push] [chat] [--quick] [--servers daphne,uvicorn] [--processes 1,2]`

Runs the named scenarios (all when none is named) against real server processes on 127.0.0.1 for each
ASGI server and process count, prints one table and saves it as JSON in bench/results/.
Exit status 0 whenever the harness ran, whatever the timings (benchmarks never fail on a timing);
1 when a scenario could not run at all.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback

from bench.harness import ClientPool, Report, prepare_backends, raise_fd_limit

SCENARIOS = ("otp", "auth_push", "chat")
# Seconds each scenario may take in a full run, so that all of them finish in under 10 minutes on a
# 2-core machine: a configuration that would end past its scenario's budget (predicted from the
# slowest one so far with the same process count) is skipped and the table says so. Every phase
# inside is time-bounded as well.
BUDGET_SECONDS = {"otp": 140, "auth_push": 125, "chat": 315}


def over_budget(elapsed: float, took: dict[int, list[float]], count: int, budget: float) -> bool:
    """Would a configuration with `count` processes, started `elapsed` s into its scenario, end past
    `budget`? Its time is predicted from the slowest one so far with the same process count (x2
    runs differ from x1 runs), or the slowest of any before the first of its kind."""
    alike = took.get(count) or [t for times in took.values() for t in times]
    return elapsed + max(alike, default=0.0) > budget


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", metavar="scenario",
                        help=f"one or more of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="smoke mode: tiny counts, a few seconds each")
    parser.add_argument("--servers", default="daphne,uvicorn", help="ASGI servers to compare (default: both)")
    parser.add_argument("--processes", default="1,2", help="server process counts (default: 1,2)")
    parser.add_argument("--clients", type=int, default=2, help="load-generating processes (default: 2)")
    parser.add_argument("--name", default="", help="name of the JSON file in bench/results/")
    parser.add_argument("--no-budget", action="store_true", help="run every configuration, however long")
    args = parser.parse_args(argv)
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    args.scenarios = args.scenarios or list(SCENARIOS)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    args.processes = [int(p) for p in args.processes.split(",") if p.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    os.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    raise_fd_limit()
    report = Report(quick=args.quick)
    backends = prepare_backends()
    report.backends = {"database": backends.database, "redis": "db " + backends.redis_url.rsplit("/", 1)[-1]
                       if backends.redis_url else "none (embedded)"}
    if report.machine["load_average_at_start"][0] > report.machine["cores"] * 0.5:
        report.notes.append("the machine was busy when the run started (see load average): figures are pessimistic")
    processes = [p for p in args.processes if p == 1 or backends.redis_url]
    failed = False
    run_id = int(time.time()) % 100_000
    with ClientPool(args.clients, env=backends.base_env()) as pool:
        for name in args.scenarios:
            module = importlib.import_module(f"bench.{name}")
            scenario_began, took = time.monotonic(), {}  # process count -> seconds of each configuration
            budget = None if args.quick or args.no_budget else BUDGET_SECONDS[name]
            # process count first: 1-process daphne and uvicorn are compared even if the budget ends early
            for count, server in [(c, s) for c in processes for s in args.servers]:
                began = time.monotonic()
                if budget is not None and over_budget(began - scenario_began, took, count, budget):
                    report.add(name, f"{server}/hotline", count, "skipped", None,
                               note=f"time budget of {budget} s for {name} spent; run it alone: "
                                    f"python -m bench {name} --servers {server} --processes {count}")
                    continue
                print(f"bench: {name} on {server} x{count} ...", file=sys.stderr, flush=True)
                try:
                    module.run(report, backends, server=server, processes=count, quick=args.quick, pool=pool,
                               run_id=run_id)
                    run_id += 1
                except Exception as exc:
                    failed = True
                    traceback.print_exc()
                    first_line = str(exc).splitlines()[0][:120] if str(exc) else ""
                    report.add(name, f"{server}/hotline", count, "scenario failed", None,
                               note=f"{type(exc).__name__}: {first_line}")
                took.setdefault(count, []).append(time.monotonic() - began)
                print(f"bench: {name} on {server} x{count} took {time.monotonic() - began:.0f} s",
                      file=sys.stderr, flush=True)
    path = report.save(args.name or "-".join(args.scenarios))
    print(report.table())
    print(f"\nsaved {path.relative_to(path.parents[2])} ({report.as_json()['duration_s']} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
