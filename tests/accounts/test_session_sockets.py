"""SessionBoundConsumerMixin in process: a consumer defined here, behind the real ticket middleware."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.core.cache import cache

from accounts import services
from accounts.models import LoginSession
from accounts.ws import (
    CLOSE_UNAUTHENTICATED,
    SessionBoundConsumerMixin,
    TicketAuthMiddleware,
    session_watch,
    ws_ticket_issue,
)

pytestmark = pytest.mark.django_db(transaction=True)


class EchoConsumer(SessionBoundConsumerMixin, AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()
        if not await self.bind_session():
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def disconnect(self, code):
        await self.unbind_session()

    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data)


application = TicketAuthMiddleware(EchoConsumer.as_asgi())


async def open_socket(result) -> WebsocketCommunicator:
    ticket = await database_sync_to_async(ws_ticket_issue)(user_id=result.user.pk, session_id=result.session.id)
    communicator = WebsocketCommunicator(application, f"/ws/test/?ticket={ticket}")
    connected, _ = await communicator.connect()
    assert connected
    # A round trip: connect() (and so bind_session) has finished once the echo comes back.
    await communicator.send_to(text_data="ping")
    assert await communicator.receive_from() == "ping"
    return communicator


async def assert_closed_with(communicator: WebsocketCommunicator, code: int, timeout: float = 1) -> None:
    output = await communicator.receive_output(timeout)
    assert output == {"type": "websocket.close", "code": code}


@pytest.fixture
def logged_in(user_factory, login):
    async def make(user=None):
        return await database_sync_to_async(lambda: login(user or user_factory()))()

    return make


async def test_revoking_the_session_closes_its_sockets_with_4401(logged_in):
    result = await logged_in()
    other = await logged_in(result.user)
    first, second, bystander = await open_socket(result), await open_socket(result), await open_socket(other)
    try:
        await database_sync_to_async(services.session_revoke)(session=result.session)

        await assert_closed_with(first, 4401)
        await assert_closed_with(second, 4401)
        await bystander.send_to(text_data="still here")
        assert await bystander.receive_from() == "still here"
    finally:
        for communicator in (first, second, bystander):
            await communicator.disconnect()


async def test_a_revoked_sessions_ticket_opens_nothing(logged_in):
    result = await logged_in()
    ticket = await database_sync_to_async(ws_ticket_issue)(user_id=result.user.pk, session_id=result.session.id)
    await database_sync_to_async(services.session_revoke)(session=result.session)
    communicator = WebsocketCommunicator(application, f"/ws/test/?ticket={ticket}")
    try:
        connected, _ = await communicator.connect()
        assert connected  # accepted first so that the close code reaches the client
        await assert_closed_with(communicator, 4401)
    finally:
        await communicator.disconnect()


@pytest.mark.parametrize("query", ["", "ticket=forged", "token=not.a.jwt"])
async def test_no_or_bad_credentials_close_4401(query):
    communicator = WebsocketCommunicator(application, f"/ws/test/?{query}")
    try:
        connected, _ = await communicator.connect()
        assert connected
        await assert_closed_with(communicator, 4401)
    finally:
        await communicator.disconnect()


async def test_revocations_from_every_source_close_sockets(logged_in):
    """Logout/API, reuse detection and deactivation all go through the same revoke path."""
    result = await logged_in()
    socket = await open_socket(result)
    try:
        user = result.user
        user.is_active = False
        await database_sync_to_async(user.save)()
        await assert_closed_with(socket, 4401)
    finally:
        await socket.disconnect()


async def test_recheck_closes_a_socket_whose_revoke_event_was_lost(logged_in, settings):
    """The channel layer may drop an event; the periodic re-check is the safety net."""
    settings.SESSION_SOCKET_RECHECK_SECONDS = 0.3
    result = await logged_in()
    socket = await open_socket(result)
    try:
        # Revoke without publishing: what a process sees when the event is lost on the way.
        await database_sync_to_async(
            lambda: LoginSession.objects.filter(pk=result.session.pk).update(revoked_at=result.session.created_at)
        )()
        await database_sync_to_async(cache.set)(services.session_state_key(result.session.id), "revoked")
        await assert_closed_with(socket, 4401, timeout=2)
    finally:
        await socket.disconnect()


async def test_session_recheck_is_one_task_per_process_not_per_socket(logged_in, settings):
    settings.SESSION_SOCKET_RECHECK_SECONDS = 0.1
    first, second = await logged_in(), await logged_in()
    before = set(asyncio.all_tasks())
    sockets = [await open_socket(first), await open_socket(first), await open_socket(second)]
    try:
        sweep = session_watch()
        assert len(sweep.sockets) == 3
        assert sweep.task is not None and not sweep.task.done()
        # Besides each consumer's own task (and the communicator's), the only new tasks are the
        # process's re-check and its one listener for revocations, whatever the number of sockets.
        extra = {t for t in asyncio.all_tasks() - before if "sweep" in repr(t.get_coro()).lower() or "watch" in repr(t.get_coro()).lower()}
        assert extra == {sweep.task, sweep.listener}
        await asyncio.sleep(0.25)  # rounds over active sessions close nothing
        for sock in sockets:
            await sock.send_to(text_data="still")
            assert await sock.receive_from() == "still"
    finally:
        for sock in sockets:
            await sock.disconnect()
    await asyncio.sleep(0.05)
    assert len(session_watch().sockets) == 0
    assert sweep.task is None


async def test_one_recheck_round_closes_only_the_ended_sessions_sockets(logged_in, settings):
    settings.SESSION_SOCKET_RECHECK_SECONDS = 3600  # the round is run by hand below
    ended, kept = await logged_in(), await logged_in()
    ended_sockets = [await open_socket(ended), await open_socket(ended)]
    kept_socket = await open_socket(kept)
    try:
        await database_sync_to_async(
            lambda: LoginSession.objects.filter(pk=ended.session.pk).update(revoked_at=ended.session.created_at)
        )()
        await database_sync_to_async(cache.delete)(services.session_state_key(ended.session.id))  # a cold cache: the database decides
        assert await session_watch().sweep() == 2
        for sock in ended_sockets:
            await assert_closed_with(sock, 4401)
        await kept_socket.send_to(text_data="ping")
        assert await kept_socket.receive_from() == "ping"
    finally:
        for sock in [*ended_sockets, kept_socket]:
            await sock.disconnect()


async def test_access_token_in_the_query_works_until_its_session_is_revoked(logged_in):
    """Clients written for django-chelseru put the access token in the URL; it obeys the session too."""
    result = await logged_in()
    live = WebsocketCommunicator(application, f"/ws/test/?token={result.access}")
    try:
        assert (await live.connect())[0]
        await live.send_to(text_data="ping")
        assert await live.receive_from() == "ping"
        await database_sync_to_async(services.session_revoke)(session=result.session)
        await assert_closed_with(live, 4401)
    finally:
        await live.disconnect()
    again = WebsocketCommunicator(application, f"/ws/test/?token={result.access}")
    try:
        assert (await again.connect())[0]
        await assert_closed_with(again, 4401)
    finally:
        await again.disconnect()


async def test_sockets_join_no_group_per_session_and_one_event_ends_a_batch(logged_in, monkeypatch):
    """A socket's session is a dict entry in the process's SessionWatch (no SUBSCRIBE of its own);
    one revocation event per batch reaches every process and closes all the batch's sockets."""
    layer = get_channel_layer()
    joined, published = [], []
    group_add, group_send = layer.group_add, layer.group_send

    async def recording_group_add(group, channel):
        joined.append(group)
        await group_add(group, channel)

    async def recording_group_send(group, message):
        published.append((group, message))
        await group_send(group, message)

    monkeypatch.setattr(layer, "group_add", recording_group_add)
    monkeypatch.setattr(layer, "group_send", recording_group_send)
    first, second, kept = await logged_in(), await logged_in(), await logged_in()
    sockets = [await open_socket(first), await open_socket(first), await open_socket(second)]
    bystander = await open_socket(kept)
    try:
        assert set(joined) <= {services.REVOCATIONS_GROUP}
        assert len(joined) <= 1  # once per process (and event loop), not per socket
        ended = await database_sync_to_async(services.sessions_revoke)(
            session_ids=[first.session.id, second.session.id], reason="admin"
        )
        assert ended == 2
        for sock in sockets:
            await assert_closed_with(sock, 4401)
        assert [group for group, _ in published] == [services.REVOCATIONS_GROUP]
        assert sorted(published[0][1]["sessions"]) == sorted([str(first.session.id), str(second.session.id)])
        await bystander.send_to(text_data="ping")
        assert await bystander.receive_from() == "ping"
    finally:
        for sock in [*sockets, bystander]:
            await sock.disconnect()
