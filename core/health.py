"""GET /healthz: the database, and when configured Redis and a channel-layer round trip."""

from __future__ import annotations

import asyncio
import uuid

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from asgiref.sync import sync_to_async


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


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


async def healthz(request):
    checks: dict[str, str] = {}
    failed: list[str] = []

    async def run(name, coro):
        try:
            await asyncio.wait_for(coro, timeout=3)
            checks[name] = "ok"
        except Exception as exc:  # the report names what failed
            checks[name] = f"error: {exc.__class__.__name__}"
            failed.append(name)

    await run("database", sync_to_async(_check_database, thread_sensitive=False)())
    if settings.REDIS_URL:
        await run("redis", sync_to_async(_check_cache, thread_sensitive=False)())
    await run("channel_layer", _check_channel_layer())
    body = {"status": "ok" if not failed else "error", "checks": checks,
            "mode": "embedded" if settings.EMBEDDED_MODE else "redis"}
    if failed:
        body["failed"] = failed
    return JsonResponse(body, status=200 if not failed else 503)
