"""Every frame of /ws/chat/ through the real middleware stack (Channels' communicator, Redis layer)."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from chat import services
from chat.models import Membership, Message
from tests.chat.conftest import make_group

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


@pytest.fixture
def trio(user_factory):
    alice, bob, carol = user_factory(), user_factory(), user_factory()
    room = make_group(alice, [bob])
    return alice, bob, carol, room


async def subscribe(sock, room, **extra):
    await sock.send({"type": "subscribe", "room": room, **extra})
    return await sock.recv_type("subscribed")


async def test_resume_replays_after_last_id_without_gaps_or_duplicates(chat_socket, trio):
    alice, bob, _, room = trio
    ids = [(await db(services.message_send)(user=alice, room_id=room.pk, text=f"m{i}"))[0]["id"] for i in range(5)]
    b = await chat_socket(bob)
    await b.send({"type": "subscribe", "room": room.pk, "after": ids[1]})
    replayed = [await b.recv() for _ in range(3)]
    assert [f["type"] for f in replayed] == ["message.new"] * 3
    assert [f["message"]["id"] for f in replayed] == ids[2:]
    assert await b.recv() == {"type": "subscribed", "room": room.pk, "last_id": ids[-1]}
    assert (await b.recv())["type"] == "presence.state"
    # Without "after": nothing replayed, last_id is the latest.
    b2 = await chat_socket(bob)
    assert await subscribe(b2, room.pk) == {"type": "subscribed", "room": room.pk, "last_id": ids[-1]}
    # Live after subscribe: exactly once.
    a = await chat_socket(alice)
    await a.send({"type": "message.send", "room": room.pk, "text": "live", "client_id": "L1"})
    live = await b.recv_type("message.new")
    assert live["message"]["text"] == "live"
    assert await b.silent(0.2)


async def test_message_send_retry_is_idempotent_and_sender_subscribed_gets_new(chat_socket, trio):
    alice, _, _, room = trio
    a = await chat_socket(alice)
    await subscribe(a, room.pk)
    frame = {"type": "message.send", "room": room.pk, "text": "once", "client_id": "9b1f-retry"}
    await a.send(frame)
    ack = await a.recv_type("message.ack")
    new = await a.recv_type("message.new")
    assert new["message"] == ack["message"]
    await a.send(frame)
    again = await a.recv_type("message.ack")
    assert again == ack
    assert await a.silent(0.2)  # no second message.new
    assert await db(Message.objects.filter(client_id="9b1f-retry").count)() == 1


async def test_membership_is_enforced_with_error_frames(chat_socket, trio):
    _, _, carol, room = trio
    c = await chat_socket(carol)
    for frame in (
        {"type": "subscribe", "room": room.pk},
        {"type": "message.send", "room": room.pk, "text": "x", "client_id": "c1"},
        {"type": "typing", "room": room.pk},
        {"type": "read", "room": room.pk, "message": 1},
    ):
        await c.send(frame)
        error = await c.recv()
        assert error["type"] == "error" and error["code"] == "not_found", frame
    assert error["ref"] is None
    await c.send({"type": "message.send", "room": room.pk, "text": "x", "client_id": "c2"})
    assert (await c.recv())["ref"] == "c2"


async def test_bad_frames_never_close_the_socket(chat_socket, trio):
    alice, _, _, room = trio
    a = await chat_socket(alice)
    cases = [
        ("not json", "bad_frame"),
        (json.dumps([1, 2]), "bad_frame"),
        (json.dumps({"no": "type"}), "bad_frame"),
        (json.dumps({"type": "dance"}), "unknown_type"),
        (json.dumps({"type": "subscribe", "room": "1"}), "bad_frame"),
        (json.dumps({"type": "subscribe", "room": room.pk, "after": -1}), "bad_frame"),
        (json.dumps({"type": "message.send", "room": room.pk, "text": 5}), "bad_frame"),
        (json.dumps({"type": "message.send", "room": room.pk, "text": "y" * 4001, "client_id": "long"}), "too_long"),
        (json.dumps({"type": "read", "room": room.pk, "message": "x"}), "bad_frame"),
        (json.dumps({"type": "read", "room": room.pk, "message": 999999}), "not_found"),
    ]
    for raw, code in cases:
        await a.send(raw)
        error = await a.recv()
        assert error["type"] == "error" and error["code"] == code, raw
        assert isinstance(error["detail"], str)
    await a.comm.send_to(bytes_data=b"\x00\x01")
    assert (await a.recv())["code"] == "bad_frame"
    await a.send({"type": "ping"})
    assert await a.recv() == {"type": "pong"}


async def test_rate_limit_error_frame_has_retry_after(chat_socket, trio, settings):
    settings.CHAT_MESSAGES_PER_WINDOW = 2
    alice, _, _, room = trio
    a = await chat_socket(alice)
    for i in range(2):
        await a.send({"type": "message.send", "room": room.pk, "text": "x", "client_id": f"r{i}"})
        assert (await a.recv_type("message.ack"))["client_id"] == f"r{i}"
    await a.send({"type": "message.send", "room": room.pk, "text": "x", "client_id": "r2"})
    error = await a.recv()
    assert error["code"] == "rate_limited" and error["ref"] == "r2" and 1 <= error["retry_after"] <= 10


async def test_frame_over_16_kib_closes_4413(chat_socket, trio):
    alice, _, _, room = trio
    a = await chat_socket(alice)
    await a.send({"type": "message.send", "room": room.pk, "text": "é" * 8200})  # 16.4 KB of UTF-8
    assert await a.expect_close() == 4413


async def test_eleventh_socket_is_closed_4429(chat_socket, trio, settings):
    settings.CHAT_MAX_SOCKETS_PER_USER = 3
    alice = trio[0]
    socks = [await chat_socket(alice) for _ in range(3)]
    for sock in socks:
        await sock.send({"type": "ping"})
        assert await sock.recv() == {"type": "pong"}
    fourth = await chat_socket(alice)
    assert await fourth.expect_close() == 4429
    await socks[0].close()
    fifth = await chat_socket(alice)
    await fifth.send({"type": "ping"})
    assert await fifth.recv() == {"type": "pong"}


async def test_typing_is_relayed_to_others_and_throttled(chat_socket, trio):
    alice, bob, _, room = trio
    a, b = await chat_socket(alice), await chat_socket(bob)
    await subscribe(a, room.pk)
    await subscribe(b, room.pk)
    await a.recv_type("presence.state")
    await b.recv_type("presence.state")
    await a.send({"type": "typing", "room": room.pk})
    assert await b.recv_type("typing") == {"type": "typing", "room": room.pk, "user": alice.pk}
    await a.send({"type": "typing", "room": room.pk})  # within 2 s: dropped
    assert await b.silent(0.3)
    assert await a.silent(0.1)  # never echoed to the typing socket
    await asyncio.sleep(1.8)
    await a.send({"type": "typing", "room": room.pk})
    assert (await b.recv_type("typing"))["user"] == alice.pk


async def test_read_marker_never_moves_back(chat_socket, trio):
    alice, bob, _, room = trio
    ids = [(await db(services.message_send)(user=alice, room_id=room.pk, text=f"m{i}"))[0]["id"] for i in range(3)]
    a, b = await chat_socket(alice), await chat_socket(bob)
    await subscribe(a, room.pk)
    await b.send({"type": "read", "room": room.pk, "message": ids[1]})
    assert await a.recv_type("read") == {"type": "read", "room": room.pk, "user": bob.pk, "message": ids[1]}
    await b.send({"type": "read", "room": room.pk, "message": ids[0]})
    assert await a.silent(0.3)
    marker = await db(lambda: Membership.objects.get(room=room, user=bob).last_read_id)()
    assert marker == ids[1]
    from chat.selectors import rooms_for_user

    assert (await db(rooms_for_user)(user=bob))[0]["unread_count"] == 1


async def test_presence_first_and_last_socket(chat_socket, trio):
    alice, bob, _, room = trio
    a = await chat_socket(alice)
    await subscribe(a, room.pk)
    assert (await a.recv_type("presence.state"))["online"] == [alice.pk]
    b1 = await chat_socket(bob)
    assert await a.recv_type("presence") == {"type": "presence", "room": room.pk, "user": bob.pk, "online": True}
    b2 = await chat_socket(bob)
    await b1.close()
    assert await a.silent(0.3)  # bob still has a socket: no change
    await b2.close()
    assert await a.recv_type("presence") == {"type": "presence", "room": room.pk, "user": bob.pk, "online": False}


async def test_unsubscribe_and_removed_member_stop_getting_the_room(chat_socket, trio):
    alice, bob, _, room = trio
    a, b = await chat_socket(alice), await chat_socket(bob)
    await subscribe(b, room.pk)
    await b.recv_type("presence.state")
    await b.send({"type": "unsubscribe", "room": room.pk})
    assert await b.recv() == {"type": "unsubscribed", "room": room.pk}
    await a.send({"type": "message.send", "room": room.pk, "text": "x", "client_id": "u1"})
    await a.recv_type("message.ack")
    assert await b.silent(0.3)

    await subscribe(b, room.pk)
    await b.recv_type("presence.state")
    await db(services.room_member_remove)(actor=alice, room_id=room.pk, user_id=bob.pk)
    assert await b.recv_type("unsubscribed", timeout=1) == {"type": "unsubscribed", "room": room.pk, "reason": "removed"}
    assert await b.recv_type("room.removed", timeout=1) == {"type": "room.removed", "room": room.pk}
    await a.send({"type": "message.send", "room": room.pk, "text": "secret", "client_id": "u2"})
    await a.recv_type("message.ack")
    assert await b.silent(0.3)
    await b.send({"type": "message.send", "room": room.pk, "text": "x", "client_id": "u3"})
    assert (await b.recv())["code"] == "not_found"
    await b.send({"type": "typing", "room": room.pk})
    assert (await b.recv())["code"] == "not_found"
    await b.send({"type": "subscribe", "room": room.pk})
    assert (await b.recv())["code"] == "not_found"


async def test_revoked_session_closes_4401(chat_socket, trio, login):
    from accounts.services import session_revoke

    alice = trio[0]
    result = await db(login)(alice)
    a = await chat_socket(session=result)
    await a.send({"type": "ping"})
    assert await a.recv() == {"type": "pong"}
    await db(session_revoke)(session=result.session)
    assert await a.expect_close() == 4401


async def test_access_token_in_query_and_foreign_origin(chat_socket, trio, login):
    alice = trio[0]
    result = await db(login)(alice)
    a = await chat_socket(query=f"token={result.access}")
    await a.send({"type": "ping"})
    assert await a.recv() == {"type": "pong"}
    foreign = await chat_socket(session=result, headers=[(b"origin", b"https://evil.example")])
    assert not foreign.connected


async def test_slow_client_is_closed_4408(chat_socket, trio, settings, monkeypatch):
    settings.CHAT_SEND_QUEUE_LIMIT = 10
    alice, bob, _, room = trio
    b = await chat_socket(bob)
    await subscribe(b, room.pk)
    await b.recv_type("presence.state")

    # Make this process's sends to the client slow, like a peer that stops reading.
    from chat.consumers import ChatConsumer

    original = ChatConsumer.send

    async def slow_send(self, *args, **kwargs):
        await asyncio.sleep(0.05)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(ChatConsumer, "send", slow_send)
    layer = get_channel_layer()
    for i in range(60):
        await layer.group_send(
            services.room_group(room.pk),
            {"type": "chat.event", "room": room.pk, "frame": json.dumps({"type": "noise", "n": i})},
        )
    assert await b.expect_close(timeout=5) == 4408


@pytest.fixture
def dead_presence_redis(requires_redis):
    """Point this event loop's presence store at a Redis that refuses connections (nothing listens on
    127.0.0.1:1), as during an outage; the real store comes back afterwards."""
    from chat import presence
    from core import redis_clients

    def use_dead_redis():
        saved = presence._stores.peek()
        presence._stores.set(presence.RedisPresence(redis_clients.async_client_for("redis://127.0.0.1:1/0")))
        return lambda: presence._stores.set(saved) if saved else presence._stores.pop()

    return use_dead_redis


async def test_a_backend_failure_answers_unavailable_and_keeps_the_socket(chat_socket, trio, dead_presence_redis):
    _, bob, _, room = trio
    b = await chat_socket(bob)
    restore = dead_presence_redis()
    try:
        await b.send({"type": "subscribe", "room": room.pk, "client_id": "s1"})
        assert (await b.recv_type("subscribed"))["room"] == room.pk
        error = await b.recv_type("error", timeout=10)  # the presence state could not be read
        assert error == {"type": "error", "code": "unavailable", "ref": "s1", "detail": error["detail"]}
        await b.send({"type": "ping"})
        assert await b.recv_type("pong") == {"type": "pong"}  # still open
    finally:
        restore()
    await b.send({"type": "subscribe", "room": room.pk})  # sent again once Redis is back: served
    await b.recv_type("subscribed")
    assert (await b.recv_type("presence.state"))["online"] == [bob.pk]


async def test_a_backend_failure_in_the_handshake_closes_1013(chat_socket, trio, dead_presence_redis):
    _, bob, _, _ = trio
    restore = dead_presence_redis()
    try:
        sock = await chat_socket(bob)
        assert sock.connected  # accepted, so that the close code reaches the client
        assert await sock.expect_close(timeout=10) == 1013
    finally:
        restore()


async def test_a_channel_layer_reconnect_closes_every_socket_4503_so_clients_resume(chat_socket, trio):
    """The layer's doorbell may have missed rings while it reconnected (core.redis_clients): every
    chat socket of the process is closed 4503, and a client that comes back with `after` gets what
    it missed (docs/websocket.md)."""
    from core import redis_clients

    alice, bob, _, room = trio
    a, b = await chat_socket(alice), await chat_socket(bob)
    last = (await subscribe(b, room.pk))["last_id"]
    for sock in (a, b):
        await sock.send({"type": "ping"})
        assert await sock.recv_type("pong")
    # A message stored around the reconnect: live or not, the resume brings it.
    missed, _ = await db(services.message_send)(user=alice, room_id=room.pk, text="while away", client_id="away")
    redis_clients.channel_layer_reconnected()
    assert await a.expect_close() == 4503
    assert await b.expect_close() == 4503
    again = await chat_socket(bob)
    await again.send({"type": "subscribe", "room": room.pk, "after": last})
    assert (await again.recv_type("message.new"))["message"]["id"] == missed["id"]
