"""Real-time events go out through the channel layer, only after the data they describe is committed."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from core import metrics

logger = logging.getLogger(__name__)


def group_send_now(group: str, event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception:  # pragma: no cover - the database stays the source of truth; clients resync
        metrics.CHANNEL_LAYER_PUBLISH_FAILURES.labels("event").inc()
        logger.exception("channel layer group_send to %s failed", group)


def send_on_commit(group: str, event: dict) -> None:
    """Publish `event` to `group` once the current transaction commits (immediately outside one)."""
    transaction.on_commit(lambda: group_send_now(group, event))


def group_send_many_now(messages: list[tuple[str, dict]]) -> None:
    """Publish several (group, event) pairs in order, in one event-loop hop (not one per event)."""
    layer = get_channel_layer()
    if layer is None or not messages:
        return

    async def publish():
        for group, event in messages:
            await layer.group_send(group, event)

    try:
        async_to_sync(publish)()
    except Exception:  # pragma: no cover - the database stays the source of truth; clients resync
        metrics.CHANNEL_LAYER_PUBLISH_FAILURES.labels("event").inc(len(messages))
        logger.exception("channel layer group_send of %d events failed", len(messages))


def send_many_on_commit(messages: list[tuple[str, dict]]) -> None:
    """`send_on_commit` for several (group, event) pairs, published in order after one commit."""
    if messages:
        batch = list(messages)
        transaction.on_commit(lambda: group_send_many_now(batch))
