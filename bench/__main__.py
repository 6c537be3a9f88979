"""`python -m bench [otp] [auth_push] [chat] [--quick] [--servers daphne,uvicorn] [--processes 1,2]
[--kinds hotline,peer,bare] [--layer-redis 1,2]`

Runs the named scenarios (all when none is named) against real server processes on 127.0.0.1 for each
ASGI server and process count, and in each configuration every server kind the scenario applies to:
hotline, the peer (django-chelseru, bench/peer.py) and the floor (bench/bare_app.py). Prints one table,
then hotline's ratios to the peer and the floor, and saves both as JSON in bench/results/.
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

from bench.harness import SERVERS, ClientPool, Report, prepare_backends, raise_fd_limit

SCENARIOS = ("otp", "auth_push", "chat")
KINDS = ("hotline", "peer", "bare")
# Seconds each scenario may take in a full run: a configuration that would end past its scenario's
# budget (predicted from the slowest one so far with the same process count) is skipped and the table
# says so. Every phase inside is time-bounded as well. Sized for the default run (daphne and uvicorn,
# 1 and 2 processes) with all three kinds on a 2-core machine: at most about 18 minutes in all
# (before the peer, 10 minutes; each chat configuration now also runs the peer and the group fan-outs).
BUDGET_SECONDS = {"otp": 240, "auth_push": 125, "chat": 720}


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
    parser.add_argument("--servers", default="daphne,uvicorn",
                        help=f"ASGI servers to compare, of {', '.join(SERVERS)} (default: daphne,uvicorn)")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help="server kinds to run where a scenario applies to them (default: all three)")
    parser.add_argument("--processes", default="1,2", help="server process counts (default: 1,2)")
    parser.add_argument("--clients", type=int, default=2, help="load-generating processes (default: 2)")
    parser.add_argument("--layer-redis", default="1",
                        help="chat only: channel-layer Redis server counts; 1 is REDIS_URL's, N > 1 runs hotline with "
                             "its layer sharded over N Redis servers of the bench's own (default: 1)")
    parser.add_argument("--name", default="", help="name of the JSON file in bench/results/")
    parser.add_argument("--no-budget", action="store_true", help="run every configuration, however long")
    args = parser.parse_args(argv)
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    args.scenarios = args.scenarios or list(SCENARIOS)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    wrong = [s for s in args.servers if s not in SERVERS]
    if wrong:
        parser.error(f"unknown server {', '.join(wrong)}; choose from {', '.join(SERVERS)}")
    args.kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    wrong = [k for k in args.kinds if k not in KINDS]
    if wrong or not args.kinds:
        parser.error(f"unknown kind {', '.join(wrong)}; choose from {', '.join(KINDS)}")
    args.processes = [int(p) for p in args.processes.split(",") if p.strip()]
    args.layer_redis = [int(n) for n in args.layer_redis.split(",") if n.strip()]
    if not args.layer_redis or min(args.layer_redis) < 1:
        parser.error("--layer-redis takes counts of 1 or more, e.g. 1,2")
    return args


def scenario_kinds(name: str) -> tuple[str, ...]:
    return importlib.import_module(f"bench.{name}").KINDS


def prepare_peer(report: Report, backends, kinds: list[str]) -> list[str]:
    """Install (once) and migrate the peer; without a package index to install it from, the run goes on
    without the peer and the table says why."""
    from bench import peer

    try:
        prepared = peer.prepare(backends, log=lambda line: print(line, file=sys.stderr, flush=True))
    except peer.PeerUnavailable as exc:
        report.notes.append(f"the peer was not run: {exc}")
        return [k for k in kinds if k != "peer"]
    report.machine["peer"] = {"package": peer.PACKAGE, "database": prepared.database, "versions": peer.versions()}
    return kinds


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
    kinds = list(args.kinds)
    if "peer" in kinds and any("peer" in scenario_kinds(name) for name in args.scenarios):
        kinds = prepare_peer(report, backends, kinds)
    failed = False
    run_id = int(time.time()) % 100_000
    with ClientPool(args.clients, env=backends.base_env()) as pool:
        for name in args.scenarios:
            module = importlib.import_module(f"bench.{name}")
            run_kinds = [k for k in module.KINDS if k in kinds]
            if "hotline" not in run_kinds:
                report.notes.append(f"{name}: not run (it measures hotline, and hotline is not among --kinds)")
                continue
            scenario_began, took = time.monotonic(), {}  # process count -> seconds of each configuration
            budget = None if args.quick or args.no_budget else BUDGET_SECONDS[name]
            # process count first: 1-process daphne and uvicorn are compared even if the budget ends early
            layer_counts = args.layer_redis if name == "chat" and backends.redis_url else [1]
            for count, server, layers in [(c, s, n) for c in processes for s in args.servers for n in layer_counts]:
                began = time.monotonic()
                if budget is not None and over_budget(began - scenario_began, took, count, budget):
                    report.add(name, f"{server}/hotline", count, "skipped", None,
                               note=f"time budget of {budget} s for {name} spent; run it alone: "
                                    f"python -m bench {name} --servers {server} --processes {count}")
                    continue
                print(f"bench: {name} on {server} x{count} ...", file=sys.stderr, flush=True)
                try:
                    extra = {"layer_redis": layers} if layers > 1 else {}
                    module.run(report, backends, server=server, processes=count, quick=args.quick, pool=pool,
                               run_id=run_id, kinds=run_kinds, **extra)
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
