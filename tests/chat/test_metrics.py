"""What chat counts: messages stored, and message.new frames delivered live or replayed."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from tests.chat.conftest import open_direct

pytestmark = pytest.mark.django_db(transaction=True)


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_stored_and_delivered_live_and_on_replay(chat_socket, user_factory):
    from channels.db import database_sync_to_async

    alice, bob = await database_sync_to_async(user_factory)(), await database_sync_to_async(user_factory)()
    room = await database_sync_to_async(open_direct)(alice, bob)
    stored, live, replay = (value("hotline_chat_messages_stored_total"),
                            value("hotline_chat_messages_delivered_total", via="live"),
                            value("hotline_chat_messages_delivered_total", via="replay"))
    a, b = await chat_socket(alice), await chat_socket(bob)
    await b.send({"type": "subscribe", "room": room.pk})
    await b.recv_type("subscribed")
    await a.send({"type": "message.send", "room": room.pk, "text": "hi", "client_id": "c-1"})
    await a.recv_type("message.ack")
    await b.recv_type("message.new")
    # The same client_id again is the same message: acknowledged, not stored twice.
    await a.send({"type": "message.send", "room": room.pk, "text": "hi", "client_id": "c-1"})
    await a.recv_type("message.ack")
    assert value("hotline_chat_messages_stored_total") == stored + 1
    assert value("hotline_chat_messages_delivered_total", via="live") == live + 1

    late = await chat_socket(bob)
    await late.send({"type": "subscribe", "room": room.pk, "after": 0})
    await late.recv_type("subscribed")
    assert value("hotline_chat_messages_delivered_total", via="replay") == replay + 1
