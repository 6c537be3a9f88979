"""Issue 21: a handshake that outlasts daphne's limit during a reconnect storm, and its client's retry
of the upgrade with the same ticket. The retry must open (it was told 4401, unauthenticated); a ticket
a socket really opened with is answered 4410 ("used: get a new ticket"), never 4401."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.ws import CLOSE_TICKET_USED, ws_ticket_issue
from chat import services
from tests.chat.conftest import ChatSocket

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_retry_with_the_same_ticket_opens_and_the_stalled_handshake_gives_way(asgi_app, login, user_factory,
                                                                                     monkeypatch):
    result = await database_sync_to_async(lambda: login(user_factory()))()
    ticket = await database_sync_to_async(ws_ticket_issue)(user_id=result.user.pk, session_id=result.session.id)

    # The first handshake stalls inside connect() (here: announcing the user online), as handshakes
    # did behind 500 others; its client gives up on it and retries the upgrade with the same ticket.
    release, stalled = asyncio.Event(), asyncio.Event()
    real_announce = services.presence_announce

    async def slow_announce(**kwargs):
        if not stalled.is_set():
            stalled.set()
            await release.wait()
        await real_announce(**kwargs)

    monkeypatch.setattr(services, "presence_announce", slow_announce)
    first = WebsocketCommunicator(asgi_app, f"/ws/chat/?ticket={ticket}")
    first_connect = asyncio.create_task(first.connect(timeout=5))
    await asyncio.wait_for(stalled.wait(), 5)

    retry = await ChatSocket(asgi_app, f"ticket={ticket}").open()
    try:
        assert retry.connected
        await retry.send({"type": "ping"})
        assert (await retry.recv())["type"] == "pong"  # open, not closed 4401

        release.set()  # the stalled handshake goes on: the retry holds the ticket, it closes itself
        await first_connect
        assert (await first.receive_output(2)) == {"type": "websocket.close", "code": CLOSE_TICKET_USED}

        # The ticket opened a socket: it is spent. Another use is told to get a new ticket, not 4401.
        again = await ChatSocket(asgi_app, f"ticket={ticket}").open()
        assert await again.expect_close() == CLOSE_TICKET_USED
        await again.close()

        await retry.send({"type": "ping"})
        assert (await retry.recv())["type"] == "pong"  # the stalled one's cleanup left the retry alone
    finally:
        await retry.close()
        await first.disconnect()


async def test_a_refused_socket_does_not_spend_its_ticket(asgi_app, login, user_factory, settings):
    """4429 (and 4503/1013) are retried later: the ticket survives them while it is fresh."""
    settings.CHAT_MAX_SOCKETS_PER_USER = 1
    result = await database_sync_to_async(lambda: login(user_factory()))()

    async def ticket():
        return await database_sync_to_async(ws_ticket_issue)(user_id=result.user.pk, session_id=result.session.id)

    first = await ChatSocket(asgi_app, f"ticket={await ticket()}").open()
    kept = await ticket()
    refused = await ChatSocket(asgi_app, f"ticket={kept}").open()
    assert await refused.expect_close() == 4429
    await refused.close()
    await first.close()
    retried = await ChatSocket(asgi_app, f"ticket={kept}").open()
    try:
        await retried.send({"type": "ping"})
        assert (await retried.recv())["type"] == "pong"
    finally:
        await retried.close()


async def test_a_retried_send_reaches_the_sockets_its_first_publish_never_reached(chat_socket, user_factory):
    """Issue 21: a process killed between committing a message and publishing it. The sender's retry
    (same client_id, on another process) is acknowledged with the stored message and publishes it
    again: live sockets get it once, a socket that had it is not sent a copy."""
    from chat.models import Message
    from tests.chat.conftest import open_direct

    alice, bob = await database_sync_to_async(user_factory)(), await database_sync_to_async(user_factory)()
    room = await database_sync_to_async(open_direct)(alice, bob)
    b = await chat_socket(bob)
    await b.send({"type": "subscribe", "room": room.pk})
    await b.recv_type("presence.state")
    # Stored and committed, never published: what a process killed right after the commit leaves.
    lost = await database_sync_to_async(services.message_store)(user=alice, room_id=room.pk, text="hi", client_id="k1")
    assert await b.silent(0.2)

    a = await chat_socket(alice)
    await a.send({"type": "subscribe", "room": room.pk})
    await a.recv_type("presence.state")
    await a.send({"type": "message.send", "room": room.pk, "text": "hi", "client_id": "k1"})
    assert (await a.recv_type("message.ack"))["message"] == lost.payload
    assert (await b.recv_type("message.new"))["message"] == lost.payload
    # (`a` subscribed after it was stored: its `subscribed.last_id` covers it, no live copy.)
    # A second retry: both sockets had it, neither gets a copy; still one row.
    await a.send({"type": "message.send", "room": room.pk, "text": "hi", "client_id": "k1"})
    assert (await a.recv_type("message.ack"))["message"] == lost.payload
    assert await b.silent(0.3) and await a.silent(0.1)
    assert await database_sync_to_async(Message.objects.filter(client_id="k1").count)() == 1


async def test_an_event_for_a_socket_its_client_just_closed_is_not_a_crash(chat_socket, user_factory, monkeypatch):
    """daphne raises autobahn's Disconnected for a send after the client's close frame: seen at the
    end of the process-kill drill as tracebacks ("Exception inside application"), and a crashed
    consumer would skip disconnect(), leaving its presence entry counting toward the socket cap."""
    from autobahn.exception import Disconnected

    from chat import presence
    from chat.consumers import ChatConsumer
    from tests.chat.conftest import open_direct

    alice, bob = await database_sync_to_async(user_factory)(), await database_sync_to_async(user_factory)()
    room = await database_sync_to_async(open_direct)(alice, bob)
    b = await chat_socket(bob)
    await b.send({"type": "subscribe", "room": room.pk})
    await b.recv_type("presence.state")

    async def gone(self, text_data=None, bytes_data=None, close=False):
        raise Disconnected("Attempt to send on a closed protocol")

    monkeypatch.setattr(ChatConsumer, "send", gone)
    await database_sync_to_async(services.message_send)(user=alice, room_id=room.pk, text="late")
    await asyncio.sleep(0.3)
    assert not b.comm.future.done()  # the consumer did not crash
    monkeypatch.undo()
    await b.close()
    await asyncio.sleep(0.1)
    assert await presence.store().online([bob.pk], presence.now()) == []  # disconnect() ran
