"""The project's structure rules, read from the source (ast), so that they hold as the code changes.

- Redis: `core/redis_clients.py` is the only module that creates a Redis client or pool, and no
  module reaches into the private attributes of Django's Redis cache (docs/architecture.md).
- Imports run one way: no module imports one that imports it back (imports inside functions
  included), and each app imports only its own floor and below (core -> accounts/sms ->
  otp/chat/auth4app/social -> pages).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
# The application: every Django app and the project package. Tests and the bench are harness code:
# they start, kill and inspect Redis servers of their own on purpose.
APP_PACKAGES = ("accounts", "auth4app", "chat", "config", "core", "devtools", "otp", "pages", "sms", "social")
REDIS_MODULE = "core/redis_clients.py"

# What only the Redis module may use: redis-py's client and pool constructors...
REDIS_CONSTRUCTORS = {"Redis", "StrictRedis", "from_url", "ConnectionPool", "BlockingConnectionPool",
                      "SentinelConnectionPool", "Sentinel", "RedisCluster"}
# ...and the private attributes of Django's Redis cache backend and its client.
DJANGO_CACHE_PRIVATES = {"_cache", "_class", "_servers", "_options", "_serializer", "_pool_class",
                         "_pool_options", "_pools", "_get_connection_pool", "_get_connection_pool_index",
                         "_client", "_lib"}


def app_modules() -> list[Path]:
    files = []
    for package in APP_PACKAGES:
        if (ROOT / package).is_dir():
            files += sorted((ROOT / package).rglob("*.py"))
    return files


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.as_posix()


def redis_violations(path: Path) -> list[str]:
    """What in one file creates a Redis client or touches Django's cache privately."""
    found = []
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        where = f"{_relative(path)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "redis" or alias.name.startswith("redis."):
                    found.append(f"{where} imports {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if (node.module == "redis" or node.module.startswith("redis.")) and node.module != "redis.exceptions":
                found.append(f"{where} imports from {node.module}")
        elif isinstance(node, ast.Attribute):
            if node.attr in DJANGO_CACHE_PRIVATES:
                found.append(f"{where} uses .{node.attr}")
            elif node.attr in REDIS_CONSTRUCTORS and isinstance(node.ctx, ast.Load):
                found.append(f"{where} uses .{node.attr}")
    return found


def test_only_the_redis_module_creates_redis_clients_or_touches_the_cache_privately():
    violations = [v for path in app_modules() if _relative(path) != REDIS_MODULE for v in redis_violations(path)]
    assert violations == [], "Ask core.redis_clients instead (docs/architecture.md, 'Redis'):\n" + "\n".join(violations)


def test_the_checker_sees_what_it_forbids(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import redis.asyncio as aioredis\n"
        "from redis import Redis\n"
        "from redis.exceptions import RedisError\n"  # allowed: catching errors is not making clients
        "client = aioredis.Redis.from_url('redis://x')\n"
        "raw = cache._cache.get_client('k').get('k')\n"
    )
    found = redis_violations(sample)
    assert any("imports redis.asyncio" in v for v in found)
    assert any("imports from redis" in v for v in found)
    assert not any("redis.exceptions" in v for v in found)
    assert any(".from_url" in v for v in found) and any(".Redis" in v for v in found)
    assert any("._cache" in v for v in found)


@pytest.mark.django_db
def test_every_redis_client_retries_and_checks_its_connections(requires_redis):
    """The policy (core/redis_clients.py): the process's pool, which Django's cache uses too, and
    the event loop's pool both retry connection errors and health-check idle connections."""
    import asyncio

    from django.core.cache import caches

    from core import redis_clients

    policy = settings.REDIS_CLIENTS
    assert policy["retries"] >= 1 and policy["health_check_interval"] > 0

    def check(pool, max_connections):
        kwargs = pool.connection_kwargs
        assert kwargs["retry"].get_retries() == policy["retries"]
        assert kwargs["health_check_interval"] == policy["health_check_interval"]
        assert pool.max_connections == max_connections

    check(redis_clients.sync_client().connection_pool, policy["sync_max_connections"])
    assert caches["default"]._cache.get_client().connection_pool is redis_clients.sync_client().connection_pool

    async def async_pools():
        try:
            first, second = redis_clients.async_client(), redis_clients.async_client()
            assert first is second  # one per event loop
            check(first.connection_pool, policy["async_max_connections"])
            assert await first.ping()
        finally:
            await redis_clients.aclose_async_client()

    asyncio.run(async_pools())


def test_the_channel_layer_connects_with_the_same_policy(requires_redis):
    from channels.layers import get_channel_layer

    from core.redis_clients import RedisPubSubChannelLayer

    layer = get_channel_layer()
    assert isinstance(layer, RedisPubSubChannelLayer)
    (host,) = layer._kwargs["hosts"]  # what channels-redis hands to redis-py's pool for each loop
    assert host["retry"].get_retries() == settings.REDIS_CLIENTS["retries"]
    assert host["health_check_interval"] == settings.REDIS_CLIENTS["health_check_interval"]
    # ...and its connections report a lost subscriber connection (core.layer_links).
    from core.redis_clients import _ReportsLostSubscriptions

    assert issubclass(host["connection_class"], _ReportsLostSubscriptions)


# --- Imports run one way -----------------------------------------------------------------------------

# Each package's floor (docs/architecture.md): a module imports its own package or packages on a lower
# floor, never one on its own floor or above (one sideways step is allowed, below). `config` is the
# project (settings, URLs, ASGI) and sits on top; `devtools` is mounted by config/urls.py only.
FLOORS = {"core": 0, "accounts": 1, "sms": 1, "otp": 2, "chat": 2, "auth4app": 2, "social": 2, "pages": 3,
          "devtools": 4, "config": 5}
# social's bind step proves the phone with otp's code (otp.services.otp_code_redeemed); otp knows
# nothing of social.
SIDEWAYS = {("social", "otp")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(paths: list[Path]) -> dict[str, set[str]]:
    """module -> the project modules it imports, anywhere in its source (inside functions too)."""
    modules = {_module_name(path): path for path in paths}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(resolve(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                for alias in node.names:
                    targets.add(resolve(f"{prefix}.{alias.name}") or resolve(prefix))
        graph[name] = {target for target in targets if target and target != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that import each other, directly or through others (Tarjan's SCCs)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_module_imports_one_that_imports_it_back():
    """Within and across apps, imports inside functions included: a circle is a layering mistake that
    an import inside a function only hides."""
    assert import_cycles(import_graph(app_modules())) == []


def test_apps_import_only_their_own_floor_and_below():
    wrong = []
    for module, targets in import_graph(app_modules()).items():
        package = module.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other != package and FLOORS[other] >= FLOORS[package] and (package, other) not in SIDEWAYS:
                wrong.append(f"{module} imports {target}")
    assert sorted(wrong) == []


def test_the_cycle_check_sees_a_circle_hidden_in_a_function(tmp_path, monkeypatch):
    """Against a small made-up project: a circle through an import inside a function is found."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "store.py").write_text("def publish():\n    from .push import encode\n    return encode\n")
    (app / "push.py").write_text("from app import poller\n")
    (app / "poller.py").write_text("from . import store\n")
    (app / "frames.py").write_text("import app.store\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    graph = import_graph(sorted(app.rglob("*.py")))
    assert graph["app.frames"] == {"app.store"}
    assert import_cycles(graph) == [["app.poller", "app.push", "app.store"]]
