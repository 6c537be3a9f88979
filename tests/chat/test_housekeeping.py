"""chat's housekeeping task (beat): a dead process's presence entries are dropped and announced."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from chat import presence, services, tasks
from core import redis_clients

pytestmark = pytest.mark.django_db(transaction=True)


async def test_presence_sweep_drops_a_dead_process_entries_and_announces_the_user_offline(
    chat_socket, user_factory, requires_redis
):
    alice, bob = await sync_to_async(user_factory)(), await sync_to_async(user_factory)()
    room, _ = await sync_to_async(services.room_direct_open)(user=alice, mobile_number=str(bob.mobile_number))
    bob_socket = await chat_socket(bob)
    await bob_socket.send({"type": "subscribe", "room": room.pk})
    await bob_socket.recv_type("presence.state")

    # Alice's socket lived on a process that died two minutes ago: nobody closed or refreshed it.
    store = presence.RedisPresence(redis_clients.async_client())
    await store.open(alice.pk, "daphne-that-died!alice", presence.now() - 120, 60, settings.CHAT_MAX_SOCKETS_PER_USER)

    assert await sync_to_async(tasks.presence_sweep, thread_sensitive=False)() == 1
    assert await bob_socket.recv_type("presence") == {"type": "presence", "room": room.pk, "user": alice.pk,
                                                       "online": False}
    assert await store.sweep(presence.now()) == []  # nothing of hers is left to sweep
    assert await sync_to_async(tasks.presence_sweep, thread_sensitive=False)() == 0
