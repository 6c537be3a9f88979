"""Celery tasks of the chat app: housekeeping run by beat (CELERY_BEAT_SCHEDULE in settings)."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from celery import shared_task
from django.conf import settings

from core import redis_clients

from . import presence, services


@shared_task(name="chat.presence_sweep", ignore_result=True)
def presence_sweep() -> int:
    """Drop presence entries that expired and announce the users who went offline with them.

    Each web process with open sockets sweeps on its heartbeat; this covers the time when none has
    any (all restarted or crashed), so a dead process's entries never stay in Redis. Whoever removes
    a user's last entry announces it, once (chat.presence's Lua scripts decide). Without Redis the
    one web process's presence is in its memory and it sweeps it itself.
    """
    if not settings.REDIS_URL:
        return 0
    return async_to_sync(_sweep)()


async def _sweep() -> int:
    # async_to_sync runs each call on a new event loop: this loop's Redis client is closed at the end
    # rather than left open. (channels-redis closes its own per-loop layer when the loop closes.)
    try:
        gone = await presence.store().sweep(presence.now())
        if gone:
            await services.presence_announce_offline(gone)
    finally:
        await redis_clients.aclose_async_client()
    return len(gone)
