"""Blocking (silent to the blocked user) and the limits on room creation and member changes."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat import services
from chat.models import Invitation, Message
from tests.chat.conftest import make_group, open_direct

db = database_sync_to_async


@pytest.mark.django_db(transaction=True)
async def test_a_blocked_users_direct_messages_invitations_and_typing_never_arrive(chat_socket, user_factory):
    alice, bob, carol = [await db(user_factory)() for _ in range(3)]
    direct = await db(open_direct)(alice, bob)
    group = await db(make_group)(carol, [alice, bob])
    a, b = await chat_socket(alice), await chat_socket(bob)
    for sock in (a, b):
        for room in (direct, group):
            await sock.send({"type": "subscribe", "room": room.pk})
            await sock.recv_type("presence.state")
    blocked, created = await db(services.block_add)(user=bob, user_id=alice.pk)
    assert created and blocked == {"id": alice.pk, "display_name": "", "avatar_url": None}

    # Alice's direct message is acknowledged and shown to her like any other...
    await a.send({"type": "message.send", "room": direct.pk, "text": "are you there?", "client_id": "w1"})
    ack = await a.recv_type("message.ack")
    assert (await a.recv_type("message.new"))["message"] == ack["message"]
    # ...and never reaches Bob: not live, not in history, not on resume, not as unread.
    assert await b.silent(0.3)
    assert [m["text"] for m in await db(services.selectors.messages_page)(
        user=bob, room_id=direct.pk, before=None, after=None, limit=50)] == []
    assert [m["text"] for m in await db(services.selectors.messages_page)(
        user=alice, room_id=direct.pk, before=None, after=None, limit=50)] == ["are you there?"]
    [bob_view] = [r for r in await db(services.selectors.rooms_for_user)(user=bob) if r["id"] == direct.pk]
    assert bob_view["unread_count"] == 0 and bob_view["last_message"] is None
    await b.send({"type": "subscribe", "room": direct.pk, "after": 0})
    assert (await b.recv())["type"] == "subscribed"
    await b.recv_type("presence.state")
    # Her edit of it stays hers too.
    await db(services.message_edit)(user=alice, message_id=ack["message"]["id"], text="hello?")
    assert (await a.recv_type("message.updated"))["message"]["text"] == "hello?"
    assert await b.silent(0.3)

    # Typing: dropped in the direct room and in the group.
    for room in (direct, group):
        await a.send({"type": "typing", "room": room.pk})
    assert await b.silent(0.3)
    # Group messages still arrive (a group is everyone's).
    await a.send({"type": "message.send", "room": group.pk, "text": "group", "client_id": "g1"})
    assert (await b.recv_type("message.new"))["message"]["text"] == "group"

    # Invitations from her are not made at all; she cannot tell.
    her_group = await db(make_group)(alice, [])
    _, outcome = await db(services.room_member_add)(actor=alice, room_id=her_group.pk, mobile_number=str(bob.mobile_number))
    assert outcome == "invited"
    assert not await db(Invitation.objects.filter(user=bob).exists)()
    assert await b.silent(0.3)

    # Unblocked: her next messages arrive; the withheld one stays withheld.
    await db(services.block_remove)(user=bob, user_id=alice.pk)
    await a.send({"type": "message.send", "room": direct.pk, "text": "again", "client_id": "w2"})
    assert (await b.recv_type("message.new"))["message"]["text"] == "again"
    fresh = await db(make_group)(carol, [alice, bob])  # (typing is throttled per room for 2 s)
    for sock in (a, b):
        await sock.send({"type": "subscribe", "room": fresh.pk})
        await sock.recv_type("presence.state")
    await a.send({"type": "typing", "room": fresh.pk})
    assert (await b.recv_type("typing"))["user"] == alice.pk
    assert await db(Message.objects.filter(withheld=True).count)() == 1


@pytest.mark.django_db
def test_blocks_api(auth_client, user_factory):
    client, me = auth_client()
    other = user_factory()
    assert client.post("/api/chat/blocks/", {"user_id": other.pk}, format="json").status_code == 404  # a stranger
    open_direct(other, me.user)
    first = client.post("/api/chat/blocks/", {"user_id": other.pk}, format="json")
    assert first.status_code == 201 and first.json()["id"] == other.pk
    assert client.post("/api/chat/blocks/", {"user_id": other.pk}, format="json").status_code == 200
    assert [u["id"] for u in client.get("/api/chat/blocks/").json()] == [other.pk]
    assert client.post("/api/chat/blocks/", {"user_id": me.user.pk}, format="json").status_code == 400
    assert client.delete(f"/api/chat/blocks/{other.pk}/").status_code == 204
    assert client.delete(f"/api/chat/blocks/{other.pk}/").status_code == 404
    # Someone who invited me can be blocked, which drops the invitation.
    inviter = user_factory()
    room = make_group(inviter, [])
    services.room_member_add(actor=inviter, room_id=room.pk, mobile_number=str(me.user.mobile_number))
    assert client.post("/api/chat/blocks/", {"user_id": inviter.pk}, format="json").status_code == 201
    assert client.get("/api/chat/invitations/").json() == []


@pytest.mark.django_db
def test_room_creation_and_member_changes_are_limited(auth_client, user_factory, settings):
    settings.CHAT_ROOMS_PER_HOUR = 2
    settings.CHAT_MEMBER_CHANGES_PER_HOUR = 2
    client, me = auth_client()
    people = [user_factory() for _ in range(4)]
    for person in people:
        make_group(person, [me.user])  # we share rooms: they can be added
    assert client.post("/api/chat/rooms/", {"kind": "group", "title": "a"}, format="json").status_code == 201
    room = client.post("/api/chat/rooms/", {"kind": "group", "title": "b"}, format="json").json()
    limited = client.post("/api/chat/rooms/", {"kind": "group", "title": "c"}, format="json")
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    direct = client.post("/api/chat/rooms/", {"kind": "direct", "user_id": people[0].pk}, format="json")
    assert direct.status_code == 429  # a new direct room is a new room too

    url = f"/api/chat/rooms/{room['id']}/members/"
    assert client.post(url, {"user_id": people[0].pk}, format="json").status_code == 201
    assert client.delete(f"{url}{people[0].pk}/").status_code == 204
    limited = client.post(url, {"user_id": people[1].pk}, format="json")
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    assert client.post(url, {"user_id": people[1].pk}, format="json").status_code == 429
