import pytest
from channels.db import database_sync_to_async

from chat import services
from tests.chat.conftest import open_direct

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pair(user_factory):
    alice, bob = user_factory(), user_factory()
    room = open_direct(alice, bob)
    return alice, bob, room


async def test_unauthenticated_is_closed_4401(chat_socket):
    sock = await chat_socket(query="ticket=made-up")
    assert await sock.expect_close() == 4401
    sock = await chat_socket(query="")
    assert await sock.expect_close() == 4401


async def test_subscribe_send_and_receive(chat_socket, pair):
    alice, bob, room = pair
    a = await chat_socket(alice)
    b = await chat_socket(bob)
    await b.send({"type": "subscribe", "room": room.pk})
    subscribed = await b.recv_type("subscribed")
    assert subscribed == {"type": "subscribed", "room": room.pk, "last_id": 0}
    state = await b.recv_type("presence.state")
    assert state["room"] == room.pk and sorted(state["online"]) == sorted([alice.pk, bob.pk])

    await a.send({"type": "message.send", "room": room.pk, "text": "hi", "client_id": "c-1"})
    ack = await a.recv_type("message.ack")
    assert ack["client_id"] == "c-1"
    assert ack["message"]["text"] == "hi" and ack["message"]["sender"]["id"] == alice.pk
    new = await b.recv_type("message.new")
    assert new["message"] == ack["message"]


async def test_sockets_take_no_database_thread_hop(chat_socket, pair, monkeypatch):
    """Channels' dispatch would run close_old_connections() in the database thread before every
    event; the chat consumer skips it for every message: the handshake, frames, deliveries and the
    close."""
    import channels.consumer

    alice, bob, room = pair
    hops = []
    original = channels.consumer.aclose_old_connections

    async def counting():
        hops.append(1)
        await original()

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counting)
    a = await chat_socket(alice)
    b = await chat_socket(bob)
    for sock in (a, b):
        await sock.send({"type": "subscribe", "room": room.pk})
        await sock.recv_type("presence.state")
    for n in range(3):
        await a.send({"type": "message.send", "room": room.pk, "text": f"m{n}", "client_id": f"c{n}"})
        await a.recv_type("message.ack")
        assert (await b.recv_type("message.new"))["message"]["text"] == f"m{n}"
    await b.send({"type": "ping"})
    assert await b.recv_type("pong") == {"type": "pong"}
    await a.close()
    await b.close()
    assert hops == []


async def test_a_replay_stops_at_the_limit_and_says_more_is_available(chat_socket, pair, settings):
    """Issue 15: one subscribe used to stream a room's whole history. It replays at most
    CHAT_REPLAY_LIMIT messages, then `replay.more`; the client pages through the REST history."""
    settings.CHAT_REPLAY_LIMIT = 2
    alice, bob, room = pair
    sent = []
    for n in range(5):
        payload, _ = await database_sync_to_async(services.message_send)(user=alice, room_id=room.pk, text=f"t{n}")
        sent.append(payload["id"])
    b = await chat_socket(bob)
    await b.send({"type": "subscribe", "room": room.pk, "after": sent[0]})
    frames = [await b.recv() for _ in range(4)]
    assert [f["type"] for f in frames] == ["message.new", "message.new", "replay.more", "subscribed"]
    assert [f["message"]["id"] for f in frames[:2]] == sent[1:3]
    assert frames[2] == {"type": "replay.more", "room": room.pk, "after": sent[2]}
    assert frames[3] == {"type": "subscribed", "room": room.pk, "last_id": sent[2]}
    assert (await b.recv())["type"] == "presence.state"
    # Exactly the limit: no replay.more.
    await b.send({"type": "subscribe", "room": room.pk, "after": sent[2]})
    frames = [await b.recv() for _ in range(3)]
    assert [f["type"] for f in frames] == ["message.new", "message.new", "subscribed"]
    assert frames[2]["last_id"] == sent[-1]
    await b.recv_type("presence.state")
    # A live message after the subscription arrives once.
    await database_sync_to_async(services.message_send)(user=alice, room_id=room.pk, text="live")
    assert (await b.recv_type("message.new"))["message"]["text"] == "live"
    assert await b.silent(0.2)


async def test_a_refused_subscribe_leaves_the_room_group(chat_socket, pair, user_factory):
    alice, _bob, room = pair
    stranger = await database_sync_to_async(user_factory)()
    s = await chat_socket(stranger)
    await s.send({"type": "subscribe", "room": room.pk})
    assert (await s.recv_type("error"))["code"] == "not_found"
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    local = layer._get_layer() if hasattr(layer, "_get_layer") else layer
    group = services.room_group(room.pk)
    names = [name for name in local.groups if name.endswith(group)]
    assert all(not local.groups[name] for name in names)  # nobody of this process is in the room's group
    await database_sync_to_async(services.message_send)(user=alice, room_id=room.pk, text="private")
    assert await s.silent()


async def test_socket_orm_work_runs_on_the_shared_database_threads(chat_socket, pair, monkeypatch):
    """Not on Channels' one thread-sensitive thread, where every socket's queries queued up."""
    import threading

    from chat import selectors

    alice, bob, room = pair
    seen = []
    store, snapshot = services.message_store, selectors.subscribe_snapshot

    def spy(func):
        def wrapper(**kwargs):
            seen.append(threading.current_thread().name)
            return func(**kwargs)
        return wrapper

    monkeypatch.setattr(services, "message_store", spy(store))
    monkeypatch.setattr(selectors, "subscribe_snapshot", spy(snapshot))
    a = await chat_socket(alice)
    await a.send({"type": "subscribe", "room": room.pk})
    await a.recv_type("presence.state")
    await a.send({"type": "message.send", "room": room.pk, "text": "hi", "client_id": "t-1"})
    await a.recv_type("message.ack")
    assert len(seen) == 2 and all(name.startswith("socket-db") for name in seen), seen
