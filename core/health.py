"""Health endpoints for load balancers and orchestrators.

- `GET /livez`: the process answers; touches nothing else. A failing liveness probe restarts the
  process, so it must not fail because a dependency is down (a restart would not bring it back).
- `GET /readyz`: the database, Redis (when configured) and a channel-layer round trip, run at once,
  each bounded by CHECK_TIMEOUT_SECONDS, with each check's time. A failing readiness probe takes the
  process out of the load balancer until the dependency is back.
- `GET /healthz`: the same as `/readyz` (the older name).
"""

from __future__ import annotations

import asyncio
import time
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import JsonResponse

from core.db import discard_broken_connections

CHECK_TIMEOUT_SECONDS = 3


def _check_database() -> None:
    # This runs on whichever executor thread is free, outside any request, so nothing else gives
    # its connection back: without the close, a connection broken by a PostgreSQL restart would stay
    # on its thread and fail every later check while the real endpoints had recovered long ago.
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        discard_broken_connections()
        raise
    finally:
        connection.close()


def _check_cache() -> None:
    from django.core.cache import cache

    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return what was written")
    cache.delete(key)


async def _check_channel_layer() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    payload = {"type": "healthz.ping", "nonce": uuid.uuid4().hex}
    await layer.send(channel, payload)
    received = await asyncio.wait_for(layer.receive(channel), timeout=2)
    if received.get("nonce") != payload["nonce"]:
        raise RuntimeError("channel layer returned another message")


async def livez(request):
    return JsonResponse({"status": "ok"})


async def readyz(request):
    checks = {"database": sync_to_async(_check_database, thread_sensitive=False)}
    if settings.REDIS_URL:
        checks["redis"] = sync_to_async(_check_cache, thread_sensitive=False)
    checks["channel_layer"] = _check_channel_layer

    async def run(check) -> tuple[str, float]:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT_SECONDS)
            outcome = "ok"
        except Exception as exc:  # the report names what failed
            outcome = f"error: {exc.__class__.__name__}"
        return outcome, round((time.perf_counter() - started) * 1000, 1)

    results = dict(zip(checks, await asyncio.gather(*(run(check) for check in checks.values()))))
    failed = [name for name, (outcome, _) in results.items() if outcome != "ok"]
    body = {
        "status": "ok" if not failed else "error",
        "checks": {name: outcome for name, (outcome, _) in results.items()},
        "timings_ms": {name: ms for name, (_, ms) in results.items()},
        "mode": "embedded" if settings.EMBEDDED_MODE else "redis",
    }
    if failed:
        body["failed"] = failed
    return JsonResponse(body, status=200 if not failed else 503)


healthz = readyz
