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
