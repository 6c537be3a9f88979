"""The project's structure rules, read from the source (ast), so that they hold as the code changes.

- Redis: `core/redis_clients.py` is the only module that creates a Redis client or pool, and no
  module reaches into the private attributes of Django's Redis cache (docs/architecture.md).
"""

from __future__ import annotations

import ast
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
