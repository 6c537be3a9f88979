"""The load harness shared by every scenario.

- `prepare_backends()` picks PostgreSQL and Redis on 127.0.0.1 when they answer (the bench's own
  database `h_bench` and Redis db 7 under the `ht-bench` prefixes), migrates, and clears old state.
- `ServerGroup` starts the server the way production runs it: N daphne (or uvicorn) processes serving
  `config.asgi:application`, each on its own 127.0.0.1 port, plus a Celery worker when Redis is used.
- `ClientPool` runs load generators in separate processes (spawned, each with its own asyncio loop),
  driven by commands over a pipe, so the harness process never competes with them for the GIL.
- `Report` collects one row per figure and prints one table, also saved as JSON in bench/results/.

Every loop in the bench is bounded in count and in time; every server and client process started
here is stopped by its own handle.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import math
import multiprocessing
import os
import platform
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
LOG_DIR = ROOT / "var" / "bench"
PREFIX = os.environ.get("BENCH_PREFIX", "ht-bench")
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/h_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
# Loopback source addresses the clients spread their sockets over (each has its own ephemeral ports).
SOURCE_ADDRESSES = [f"127.0.0.{n}" for n in range(2, 18)]


# --- machine and limits -------------------------------------------------------------------------

def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard limit (sockets are files); returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1_048_576
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def machine_info() -> dict[str, Any]:
    import psutil

    mem = psutil.virtual_memory()
    versions = {}
    for name in ("django", "channels", "channels_redis", "daphne", "uvicorn", "redis", "websockets", "httpx"):
        try:
            versions[name] = importlib.import_module(name).__version__
        except Exception:  # some packages keep no __version__; the row just says unknown
            versions[name] = "?"
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem.total / 2**30, 1),
        "memory_available_gib": round(mem.available / 2**30, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "open_files_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        # hotline's metrics (METRICS_ENABLED; on: multiprocess mode, as in production)
        "metrics": "on" if metrics_enabled() else "off",
        "versions": versions,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def metrics_enabled(env: dict[str, str] | None = None) -> bool:
    """Whether hotline's processes count metrics (METRICS_ENABLED, on unless 0/false/no/off)."""
    raw = (env if env is not None else os.environ).get("METRICS_ENABLED", "").strip().lower()
    return raw not in {"0", "false", "no", "off"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- statistics -----------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def latency_summary(seconds: list[float]) -> dict[str, float | None]:
    """p50/p99/max in milliseconds."""
    def ms(value):
        return None if value is None else round(value * 1000, 1)
    return {
        "p50_ms": ms(percentile(seconds, 50)),
        "p99_ms": ms(percentile(seconds, 99)),
        "max_ms": ms(max(seconds) if seconds else None),
    }


# --- the backends (database, Redis) ---------------------------------------------------------------

@dataclass
class Backends:
    database_url: str
    redis_url: str
    database: str  # "postgresql" | "sqlite"
    secret_key: str

    def base_env(self) -> dict[str, str]:
        """Environment of every server, worker and client process of the bench."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "BENCH_"))}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "DATABASE_URL": self.database_url,
                "SECRET_KEY": self.secret_key,
                "DEBUG": "0",
                "SMS_ALLOW_DEV_PROVIDER": "1",  # the otp scenario reads codes from the console provider's log
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "PYTHONUNBUFFERED": "1",
                "CACHE_KEY_PREFIX": PREFIX,
                "CHANNEL_LAYER_PREFIX": PREFIX,
                "CELERY_QUEUE": PREFIX,
                "LOG_LEVEL": "INFO",
            }
        )
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        else:
            env.pop("REDIS_URL", None)
        return env


def _redis_answers(url: str) -> bool:
    try:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=2)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


def postgres_ensure(url: str) -> bool:
    """True when PostgreSQL answers; creates the bench database when it is missing."""
    try:
        import dj_database_url
        import psycopg
        from psycopg import sql

        cfg = dj_database_url.parse(url)
        params = dict(host=cfg["HOST"] or "127.0.0.1", port=cfg["PORT"] or 5432, user=cfg["USER"] or "postgres",
                      password=cfg["PASSWORD"] or None, connect_timeout=3)
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]]).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["NAME"])))
        return True
    except Exception:
        return False


_prepared: Backends | None = None


def prepare_backends(log=print) -> Backends:
    """Choose, migrate and clean the database and Redis the bench runs against (once per run)."""
    global _prepared
    if _prepared is not None:
        return _prepared
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    database = "postgresql"
    if database_url.startswith("postgres") and not postgres_ensure(database_url):
        log("bench: PostgreSQL does not answer at 127.0.0.1; using SQLite (figures are not production's)")
        database_url = f"sqlite:///{ROOT / 'var' / 'bench.sqlite3'}"
    if database_url.startswith("sqlite"):
        database = "sqlite"
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    if not _redis_answers(redis_url):
        log("bench: no Redis at 127.0.0.1; single-process embedded mode only (2-process runs are skipped)")
        redis_url = ""
    backends = Backends(database_url=database_url, redis_url=redis_url, database=database,
                        secret_key=os.environ.get("BENCH_SECRET_KEY", "bench-" + secrets.token_hex(24)))
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    env = backends.base_env()
    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    if migrate.returncode != 0:
        raise RuntimeError(f"bench: migrate failed:\n{migrate.stdout}\n{migrate.stderr}")
    clear_redis(backends)
    _prepared = backends
    return backends


def clear_redis(backends: Backends) -> None:
    """Delete the bench's keys (its prefix only) so limits and queues start empty."""
    if not backends.redis_url:
        return
    import redis

    client = redis.Redis.from_url(backends.redis_url)
    for pattern in (f"{PREFIX}*", f"*{PREFIX}*"):
        batch = []
        for key in client.scan_iter(pattern, count=2000):
            batch.append(key)
            if len(batch) >= 1000:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
    client.close()


def django_setup(backends: Backends) -> None:
    """Use the project's ORM and cache from this process with the bench's database and Redis."""
    for key, value in backends.base_env().items():
        if key in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CACHE_KEY_PREFIX", "CHANNEL_LAYER_PREFIX",
                   "CELERY_QUEUE", "DJANGO_SETTINGS_MODULE", "DEBUG", "SMS_ALLOW_DEV_PROVIDER", "ALLOWED_HOSTS"):
            os.environ[key] = value
    if not backends.redis_url:
        os.environ.pop("REDIS_URL", None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import logging

    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)


class LayerRedisServers:
    """`count` private redis-server processes on free 127.0.0.1 ports for hotline's channel layer
    (CHANNEL_LAYER_REDIS_URLS), nothing saved; stopped by their own handles."""

    def __init__(self, count: int):
        self.ports = [free_port() for _ in range(count)]
        self._procs: list[subprocess.Popen] = []

    @property
    def urls(self) -> str:
        return ",".join(f"redis://127.0.0.1:{port}/0" for port in self.ports)

    def __enter__(self) -> "LayerRedisServers":
        for port in self.ports:
            self._procs.append(subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while not all(_redis_answers(f"redis://127.0.0.1:{port}/0") for port in self.ports):
            if time.monotonic() > deadline:
                raise RuntimeError("bench: the channel layer's redis-server processes did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            proc.wait(10)


# --- server processes -----------------------------------------------------------------------------

# The ASGI servers the bench can run every kind under (`--servers`):
# - daphne: Channels' reference server (Twisted), what the Procfile runs;
# - uvicorn: with its standard extras, uvloop's event loop and httptools' HTTP parser (named explicitly,
#   so a missing extra fails the start instead of silently measuring the slow path);
# - uvicorn-h11: the pure-Python asyncio loop and h11, how the bench ran uvicorn before issue 19;
# - granian: the Rust HTTP server, one worker process, ASGI without lifespan (Channels' router has
#   no lifespan application).
SERVERS = ("daphne", "uvicorn", "uvicorn-h11", "granian")
# Which program serves which kind: hotline, the floor (bench/bare_app.py) and the peer (bench/peer.py).
KIND_APPS = {"hotline": "config.asgi:application", "bare": "bench.bare_app:application",
             "peer": "benchproj.asgi:application"}


def server_command(server: str, app: str, port: int, python: str = sys.executable) -> list[str]:
    """The command line of one ASGI server process serving `app` on 127.0.0.1:`port`."""
    if server == "daphne":
        # hotline runs the Procfile's command (config.serve: daphne with the access log through logging).
        entry = "config.serve" if app == "config.asgi:application" else "daphne"
        return [python, "-m", entry, "-b", "127.0.0.1", "-p", str(port), app]
    if server in ("uvicorn", "uvicorn-h11"):
        loop, http = ("uvloop", "httptools") if server == "uvicorn" else ("asyncio", "h11")
        return [python, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
                "--ws-per-message-deflate", "false", "--timeout-keep-alive", "30", "--backlog", "4096",
                "--loop", loop, "--http", http, "--ws", "websockets-sansio"]  # what --ws auto picks
    if server == "granian":
        return [python, "-m", "granian", "--interface", "asginl", "--host", "127.0.0.1", "--port", str(port),
                "--workers", "1", "--backlog", "4096", "--no-access-log", "--log-level", "warning", app]
    raise ValueError(f"unknown ASGI server {server!r}; choose from {', '.join(SERVERS)}")


@dataclass
class ServerGroup:
    """N ASGI server processes on their own 127.0.0.1 ports (+ a Celery worker when Redis is used)."""

    backends: Backends
    server: str = "daphne"  # one of SERVERS
    processes: int = 1
    app: str = "config.asgi:application"
    env: dict[str, str] = field(default_factory=dict)
    worker: bool = True
    health: str = ""  # path answered once the process is ready (default: /healthz, or / for the bare app)
    # Another program's Python, directory and whole environment (the peer's virtualenv and host project);
    # by default hotline's Python in the repository with the bench's environment plus `env`.
    python: str = sys.executable
    cwd: Path = ROOT
    base_env: dict[str, str] | None = None
    kind: str = ""  # hotline | bare | peer (default: from `app`)
    label_suffix: str = ""  # after server/kind in the table, e.g. "+2 layer Redis"
    ports: list[int] = field(default_factory=list)
    _procs: list[subprocess.Popen] = field(default_factory=list)
    _worker: subprocess.Popen | None = None
    _metrics_dir: str | None = None
    log_paths: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.kind:
            found = [kind for kind, app in KIND_APPS.items() if app == self.app]
            self.kind = found[0] if found else self.app

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    @property
    def ws_urls(self) -> list[str]:
        return [f"ws://127.0.0.1:{port}" for port in self.ports]

    @property
    def label(self) -> str:
        return f"{self.server}/{self.kind}{self.label_suffix}"

    def _env(self) -> dict[str, str]:
        env = dict(self.base_env) if self.base_env is not None else self.backends.base_env()
        env.update(self.env)
        return env

    def start(self, timeout: float = 60) -> "ServerGroup":
        import httpx

        raise_fd_limit()  # inherited by the children
        env = self._env()
        if self.kind == "hotline" and metrics_enabled(env) and not env.get("PROMETHEUS_MULTIPROC_DIR"):
            # As production runs it (docs/deployment.md): the servers and the worker share a directory of
            # metrics files, one per group. METRICS_ENABLED=0 in the bench's environment measures without.
            self._metrics_dir = tempfile.mkdtemp(prefix="hotline-bench-metrics-")
            env["PROMETHEUS_MULTIPROC_DIR"] = self._metrics_dir
        stamp = datetime.now().strftime("%H%M%S")
        for index in range(self.processes):
            port = free_port()
            cmd = server_command(self.server, self.app, port, self.python)
            log_path = LOG_DIR / f"{stamp}-{self.server}-{self.kind}-{port}.log"
            self.log_paths.append(log_path)
            self._procs.append(subprocess.Popen(cmd, cwd=self.cwd, env=env, stdout=open(log_path, "wb"),
                                                stderr=subprocess.STDOUT))
            self.ports.append(port)
        if self.worker and self.backends.redis_url and self.kind == "hotline":
            log_path = LOG_DIR / f"{stamp}-worker.log"
            self.log_paths.append(log_path)
            cmd = [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO", "--pool=threads",
                   "--concurrency=8", "-Q", env.get("CELERY_QUEUE", PREFIX), "--without-gossip", "--without-mingle",
                   "--without-heartbeat"]
            self._worker = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=open(log_path, "wb"),
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        health = self.health or ("/healthz" if self.kind == "hotline" else "/")
        for proc, url in zip(self._procs, self.urls):
            while True:
                if proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"bench: server exited early:\n{self.logs()[-3000:]}")
                try:
                    if httpx.get(url + health, timeout=2).status_code < 600:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"bench: server did not start in {timeout}s:\n{self.logs()[-3000:]}")
                time.sleep(0.1)
        return self

    def pids(self) -> list[int]:
        """The server processes and their live children (granian serves from a worker process it forks)."""
        return [pid for p in self._procs for pid in _with_children(p.pid)]

    def worker_pid(self) -> int | None:
        return self._worker.pid if self._worker and self._worker.poll() is None else None

    def rss_bytes(self) -> int:
        """Resident memory of the server processes (the worker is not counted)."""
        import psutil

        total = 0
        for pid in self.pids():
            try:
                total += psutil.Process(pid).memory_info().rss
            except psutil.Error:
                pass
        return total

    def cpu_seconds(self) -> float:
        """CPU seconds the server processes have used so far."""
        return cpu_seconds(self.pids())

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.log_paths if p.exists())

    def stop(self) -> None:
        everyone = [*self._procs, *([self._worker] if self._worker else [])]
        for proc in everyone:
            if proc.poll() is None:
                proc.terminate()
        for proc in everyone:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._procs.clear()
        self._worker = None
        if self._metrics_dir:
            shutil.rmtree(self._metrics_dir, ignore_errors=True)
            self._metrics_dir = None

    def __enter__(self) -> "ServerGroup":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --- client processes -----------------------------------------------------------------------------

def _client_main(conn, index: int, count: int, env: dict[str, str]) -> None:
    """Body of one load-generating process: run commands from the harness on one asyncio loop."""
    os.environ.update(env)
    raise_fd_limit()
    sys.path.insert(0, str(ROOT))

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        state: dict[str, Any] = {"index": index, "count": count}
        while True:
            message = await loop.run_in_executor(None, conn.recv)
            if message is None:
                break
            module_name, function_name, kwargs = message
            try:
                function = getattr(importlib.import_module(module_name), function_name)
                result = await function(state, **kwargs)
                conn.send(("ok", result))
            except BaseException as exc:  # reported to the harness, which decides
                import traceback

                conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-2000:]}"))
        closer = state.get("close")
        if closer is not None:
            await closer()

    asyncio.run(serve())


class ClientPool:
    """`count` load-generator processes. `call(fn, kwargs_per_client)` runs `await fn(state, **kwargs)`
    in each (state persists between calls, e.g. held sockets) and returns their results."""

    def __init__(self, count: int, env: dict[str, str] | None = None):
        self.count = count
        context = multiprocessing.get_context("spawn")
        self._conns = []
        self._procs = []
        for index in range(count):
            parent, child = context.Pipe()
            proc = context.Process(target=_client_main, args=(child, index, count, env or {}), daemon=True)
            proc.start()
            self._conns.append(parent)
            self._procs.append(proc)

    def call(self, function, kwargs: list[dict] | dict | None = None, timeout: float = 300) -> list[Any]:
        kwargs_list = kwargs if isinstance(kwargs, list) else [dict(kwargs or {}) for _ in range(self.count)]
        target = (function.__module__, function.__name__)
        for conn, kw in zip(self._conns, kwargs_list):
            conn.send((*target, kw))
        results = []
        deadline = time.monotonic() + timeout
        for conn in self._conns:
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"bench: client {function.__name__} did not answer in {timeout}s")
            status, value = conn.recv()
            if status != "ok":
                raise RuntimeError(f"bench: client {function.__name__} failed: {value}")
            results.append(value)
        return results

    def pids(self) -> list[int]:
        return [proc.pid for proc in self._procs if proc.pid]

    def close(self) -> None:
        for conn in self._conns:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for proc in self._procs:
            proc.join(20)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)

    def __enter__(self) -> "ClientPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes have used so far; gone ones count 0.

    Children that ended (a PostgreSQL backend whose connection closed) are counted by their parent;
    the ones still running must be listed themselves."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def _with_children(pid: int) -> list[int]:
    import psutil

    try:
        return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
    except psutil.Error:
        return []


class CpuMeter:
    """CPU seconds spent by each part of the machine between `start()` and `stop()`.

    Everything shares the same 2 cores during a run, so a figure such as "CPU per login" says how far
    the machine is from a target before any tuning: at N ms of CPU per request (all parts together)
    two cores can never do more than 2000 / N per second. Parts: the server processes, the Celery
    worker, the load generators, and PostgreSQL's and Redis's processes (found by name, so they
    include whatever else those servers did meanwhile: nothing else runs during a bench).
    """

    SERVICE_NAMES = {"postgres": ("postgres", "postmaster"), "redis": ("redis-server",)}

    def __init__(self, group: "ServerGroup", pool: "ClientPool"):
        self.group = group
        self.pool = pool
        self._before: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    def _pids(self) -> dict[str, list[int]]:
        import psutil

        worker = self.group.worker_pid()
        parts: dict[str, list[int]] = {
            "servers": list(self.group.pids()),
            "worker": _with_children(worker) if worker else [],
            "clients": self.pool.pids(),
        }
        for part, names in self.SERVICE_NAMES.items():
            parts[part] = [p.pid for p in psutil.process_iter(["name"]) if (p.info["name"] or "") in names]
        return parts

    def _sample(self) -> dict[str, float]:
        return {part: cpu_seconds(pids) for part, pids in self._pids().items()}

    def start(self) -> "CpuMeter":
        self._before = self._sample()
        return self

    def stop(self) -> dict[str, float]:
        after = self._sample()
        self.seconds = {part: max(0.0, after.get(part, 0.0) - self._before.get(part, 0.0)) for part in after}
        return self.seconds

    def per_item_ms(self, items: int) -> dict[str, float]:
        """CPU milliseconds per item (request, message) of each part, and `total`."""
        per = {part: 1000 * seconds / max(items, 1) for part, seconds in self.seconds.items()}
        per["total"] = sum(per.values())
        return per

    def stop_per_item(self, items: int) -> tuple[float, str]:
        """Stop; the total CPU ms per item and a note splitting it by part, with the rate it bounds
        (the split itself stays in `self.per`, for the report's JSON)."""
        self.stop()
        per = self.per = self.per_item_ms(items)
        parts = ", ".join(f"{part} {per[part]:.2f}" for part in ("servers", "worker", "postgres", "redis", "clients"))
        cores = os.cpu_count() or 1
        return per["total"], f"{parts}; at most {cores * 1000 / max(per['total'], 1e-6):.0f}/s on {cores} cores"


# --- the report -----------------------------------------------------------------------------------

@dataclass
class Report:
    """One row per figure: scenario, server, processes, metric, value, unit, target, note."""

    quick: bool = False
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    machine: dict[str, Any] = field(default_factory=machine_info)
    backends: dict[str, str] = field(default_factory=dict)

    def add(self, scenario: str, server: str, processes: int, metric: str, value, unit: str = "",
            target: str = "", note: str = "", parts: dict[str, float] | None = None) -> None:
        """One figure; `parts` is a CPU row's split by part of the machine (ms per item), kept in the JSON."""
        if isinstance(value, float):
            value = round(value, 3 if abs(value) < 10 else 1)
        row = {"scenario": scenario, "server": server, "processes": processes, "metric": metric,
               "value": value, "unit": unit, "target": target, "note": note}
        if parts:
            row["parts"] = {part: round(ms, 3) for part, ms in parts.items()}
        self.rows.append(row)

    def comparisons(self) -> list[dict[str, Any]]:
        """hotline's figures over the peer's and the floor's (see `comparisons`)."""
        return comparisons(self.rows)

    def table(self) -> str:
        m = self.machine
        header = (f"hotline bench{' (--quick)' if self.quick else ''} - {m['cores']} cores, {m['memory_gib']} GiB, "
                  f"{m['cpu']}, load at start {m['load_average_at_start']}, now "
                  f"{[round(x, 2) for x in os.getloadavg()]}, "
                  f"database {self.backends.get('database', '?')}, redis {self.backends.get('redis', '?')}")
        columns = ["scenario", "server", "processes", "metric", "value", "unit", "target", "note"]
        out = [header, "", *_columns(columns, [[_cell(row[c]) for c in columns] for row in self.rows])]
        out += [f"note: {n}" for n in self.notes]
        ratios = self.comparisons()
        if ratios:
            out += ["", "hotline against the peer (django-chelseru) and the floor (bench/bare_app.py), same server, "
                        "processes and clients: ratio = hotline / other; 'ahead' when better in the row's "
                        "direction (rates: higher; ms and KiB: lower)", ""]
            out += _columns(COMPARISON_COLUMNS, [comparison_cells(r) for r in ratios])
        return "\n".join(out)

    def as_json(self) -> dict[str, Any]:
        return {
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "quick": self.quick,
            "duration_s": round(time.monotonic() - self.started, 1),
            "machine": {**self.machine, "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
            "backends": self.backends,
            "rows": self.rows,
            "comparisons": self.comparisons(),
            "notes": self.notes,
        }

    def save(self, name: str) -> Path:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = RESULTS_DIR / f"{stamp}-{name}{'-quick' if self.quick else ''}.json"
        path.write_text(json.dumps(self.as_json(), indent=2) + "\n")
        return path


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


# --- hotline against the peer and the floor ------------------------------------------------------

# The direction of a figure, by its unit: a rate is better higher; a time, a CPU cost or memory lower.
# Not compared: counts, and messages/s (the rate the clients offered, the same for every kind).
HIGHER_IS_BETTER = {"req/s", "conn/s", "frames/s", "subs/s", "logins/s"}
LOWER_IS_BETTER = {"ms", "KiB"}
REFERENCES = {"peer": "peer", "floor": "bare"}  # what the ratio is against -> kind in the row's server
COMPARISON_COLUMNS = ["scenario", "server", "processes", "metric", "unit", "hotline", "peer", "hotline/peer",
                      "floor", "hotline/floor"]


def comparisons(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each of hotline's figures with a direction (see the units above) that the peer or the floor
    also has in the same scenario, server and process count: both values and hotline / other, with
    `ahead_of_peer` / `ahead_of_floor` saying whether hotline is better in that direction (the issue's
    "at or better than 1.0x" reads the ratio the same way: >= 1 for rates, <= 1 for costs)."""
    def numeric(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    index = {(r["scenario"], r["server"], r["processes"], r["metric"]): r["value"] for r in rows}
    out = []
    for row in rows:
        server, _, kind = row["server"].partition("/")
        if kind != "hotline" or not numeric(row["value"]):
            continue
        if row["unit"] not in HIGHER_IS_BETTER | LOWER_IS_BETTER:
            continue
        higher = row["unit"] in HIGHER_IS_BETTER
        entry = {"scenario": row["scenario"], "server": server, "processes": row["processes"],
                 "metric": row["metric"], "unit": row["unit"], "better": "higher" if higher else "lower",
                 "hotline": row["value"]}
        for name, other_kind in REFERENCES.items():
            other = index.get((row["scenario"], f"{server}/{other_kind}", row["processes"], row["metric"]))
            if not numeric(other):
                continue
            entry[name] = other
            if other:
                ratio = row["value"] / other
                entry[f"hotline/{name}"] = round(ratio, 3)
                entry[f"ahead_of_{name}"] = ratio >= 1 if higher else ratio <= 1
        if "peer" in entry or "floor" in entry:
            out.append(entry)
    return out


def comparison_cells(entry: dict[str, Any]) -> list[str]:
    def ratio(name: str) -> str:
        value = entry.get(f"hotline/{name}")
        if value is None:
            return "-"
        return f"{_cell(value)} {'ahead' if entry[f'ahead_of_{name}'] else 'behind'}"

    return [entry["scenario"], entry["server"], str(entry["processes"]), entry["metric"], entry["unit"],
            _cell(entry["hotline"]), _cell(entry.get("peer")), ratio("peer"), _cell(entry.get("floor")),
            ratio("floor")]


def _columns(header: list[str], cells: list[list[str]]) -> list[str]:
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(header)]
    out = ["  ".join(c.ljust(w) for c, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    return out
