"""Malformed chat frames (issue 21, "Bad input"): each is answered with an error frame or a
documented close code, never a crash (1011), and a socket that did crash still cleans up after itself."""

import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from chat import presence
from chat.consumers import ChatConsumer
from chat.models import Message
from tests.chat.conftest import make_group

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


@pytest.fixture
def pair(user_factory):
    alice, bob = user_factory(), user_factory()
    return alice, bob, make_group(alice, [bob])


async def still_open(sock) -> None:
    await sock.send({"type": "ping"})
    assert await sock.recv() == {"type": "pong"}


async def test_deeply_nested_json_is_a_bad_frame(chat_socket, pair):
    a = await chat_socket(pair[0])
    await a.send("[" * 3000 + "]" * 3000)
    error = await a.recv()
    assert error["type"] == "error" and error["code"] == "bad_frame" and error["ref"] is None
    await a.send('{"type":"ping","x":' + "[" * 3000 + "]" * 3000 + "}")
    assert (await a.recv())["code"] == "bad_frame"
    await still_open(a)


@pytest.mark.parametrize(
    "frame, ref",
    [
        ('{"type":"message.send","room":ROOM,"text":"a\\ud800b","client_id":"c1"}', "c1"),
        ('{"type":"message.send","room":ROOM,"text":"ok","client_id":"a\\ud800b"}', None),
        ('{"type":"no.such.type","client_id":"a\\udfffb"}', None),
        ('{"type":"a\\ud800","client_id":"c2"}', "c2"),
        ('{"type":"message.edit","message":1,"text":"\\udc00"}', None),
        ('{"type":"ping","\\ud800":1}', None),
    ],
)
async def test_an_unpaired_surrogate_anywhere_is_a_bad_frame(chat_socket, pair, frame, ref):
    alice, _, room = pair
    a = await chat_socket(alice)
    await a.send(frame.replace("ROOM", str(room.pk)))
    error = await a.recv()
    assert {k: error[k] for k in ("type", "code", "ref")} == {"type": "error", "code": "bad_frame", "ref": ref}
    await still_open(a)
    assert not await db(Message.objects.exists)()


@pytest.mark.parametrize("field", ["text", "client_id"])
async def test_a_nul_is_a_validation_error_not_unavailable(chat_socket, pair, field):
    alice, _, room = pair
    a = await chat_socket(alice)
    frame = {"type": "message.send", "room": room.pk, "text": "hi", "client_id": "n1"}
    frame[field] = "a\x00b"
    await a.send(frame)
    error = await a.recv()
    assert error["type"] == "error" and error["code"] == "invalid", error
    assert field in error["detail"]
    await a.send({"type": "message.send", "room": room.pk, "text": "fine\x00", "client_id": "n2"})
    assert (await a.recv())["code"] == "invalid"
    await still_open(a)


async def test_a_database_data_error_is_invalid_not_unavailable(chat_socket, pair, monkeypatch):
    from django.db import DataError

    async def refused(self, frame):
        raise DataError("value out of range")

    monkeypatch.setitem(ChatConsumer.FRAME_HANDLERS, "read", refused)
    a = await chat_socket(pair[0])
    await a.send({"type": "read", "room": pair[2].pk, "message": 1, "client_id": "d1"})
    error = await a.recv()
    assert (error["code"], error["ref"]) == ("invalid", "d1")
    await still_open(a)


async def test_a_bug_in_a_handler_is_an_error_frame_and_the_socket_stays(chat_socket, pair, monkeypatch):
    async def broken(self, frame):
        raise KeyError("a bug")

    monkeypatch.setitem(ChatConsumer.FRAME_HANDLERS, "typing", broken)
    a = await chat_socket(pair[0])
    await a.send({"type": "typing", "room": pair[2].pk, "client_id": "b1"})
    error = await a.recv()
    assert (error["type"], error["code"], error["ref"]) == ("error", "server_error", "b1")
    await still_open(a)


async def test_a_crashed_socket_still_leaves_presence_and_the_socket_count(chat_socket, pair, monkeypatch, settings):
    """A consumer that dies of an exception outside any frame handler still runs disconnect():
    its presence entry goes, the heartbeat stops renewing it and it no longer counts toward the cap."""
    settings.CHAT_MAX_SOCKETS_PER_USER = 2
    alice = pair[0]

    async def broken(self, event):
        raise RuntimeError("a bug in an event handler")

    monkeypatch.setattr(ChatConsumer, "chat_user_frame", broken)
    layer = get_channel_layer()
    for _ in range(3):  # more crashes than the cap: each must give its slot back
        sock = await chat_socket(alice)
        assert sock.connected
        channel = next(c for c, uid in presence.heartbeat().sockets.items() if uid == alice.pk)
        await layer.send(channel, {"type": "chat.user_frame", "frame": "{}"})
        with pytest.raises(RuntimeError):
            await sock.comm.receive_output(2)
        sock.crashed = True
        assert alice.pk not in presence.heartbeat().sockets.values()
        assert await presence.store().online([alice.pk], presence.now()) == []
    socks = [await chat_socket(alice) for _ in range(2)]
    assert all(s.connected for s in socks)
    for sock in socks:
        await still_open(sock)
    assert await presence.store().online([alice.pk], presence.now()) == [alice.pk]


async def test_the_largest_allowed_message_fits_in_a_frame_as_escaped_json(chat_socket, pair):
    """4,000 characters are allowed; sent as ASCII-escaped JSON a Persian one is 6 bytes, an emoji
    12 (a surrogate pair): both fit the frame limit."""
    alice, _, room = pair
    a = await chat_socket(alice)
    for i, text in enumerate(["س" * 4000, "😀" * 4000]):
        frame = json.dumps({"type": "message.send", "room": room.pk, "text": text, "client_id": str(i) + "x" * 63},
                           ensure_ascii=True)
        assert len(frame) > 24_000
        await a.send(frame)
        ack = await a.recv_type("message.ack")
        assert ack["message"]["text"] == text
