"""The live room list (issue 16): every socket of a user hears room.added / room.updated /
room.removed, room.invited and user.updated, whether or not it subscribed to anything."""

from __future__ import annotations

import io

import pytest
from channels.db import database_sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts import profiles
from chat import services
from tests.chat.conftest import make_group, open_direct

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


async def test_a_new_direct_room_reaches_every_socket_of_both_people(chat_socket, user_factory):
    alice, bob = await db(user_factory)(), await db(user_factory)()
    a = await chat_socket(alice)
    b1, b2 = await chat_socket(bob), await chat_socket(bob)
    room, created = await db(services.room_direct_open)(user=alice, mobile_number=str(bob.mobile_number))
    assert created
    mine = (await a.recv_type("room.added"))["room"]
    theirs = [(await sock.recv_type("room.added"))["room"] for sock in (b1, b2)]
    assert mine["id"] == room.pk and theirs[0] == theirs[1]
    # Alice typed Bob's number, so her room shows it; Bob's shows no number of Alice's.
    assert {m["id"]: m.get("mobile_number") for m in mine["members"]} == {alice.pk: None, bob.pk: str(bob.mobile_number)}
    assert all("mobile_number" not in m for m in theirs[0]["members"])
    assert theirs[0]["unread_count"] == 0 and theirs[0]["last_message"] is None
    # Opening it again is no news.
    await db(services.room_direct_open)(user=alice, mobile_number=str(bob.mobile_number))
    assert await b1.silent(0.3)


async def test_group_changes_reach_members_and_a_removed_member_stops_at_once(chat_socket, user_factory):
    alice, bob, carol = [await db(user_factory)() for _ in range(3)]
    for other in (bob, carol):
        await db(open_direct)(alice, other)
    a, b, c = await chat_socket(alice), await chat_socket(bob), await chat_socket(carol)
    room = await db(services.room_group_create)(owner=alice, title="team", members=[bob.pk])
    for sock in (a, b):
        added = await sock.recv_type("room.added")
        assert added["room"]["title"] == "team" and added["room"]["owner"] == alice.pk
    assert await c.silent(0.2)

    room2, outcome = await db(services.room_member_add)(actor=alice, room_id=room.pk, user_id=carol.pk)
    assert outcome == "added"
    assert (await c.recv_type("room.added"))["room"]["id"] == room.pk
    updated = await b.recv_type("room.updated")
    assert updated["room"]["id"] == room.pk and {m["id"] for m in updated["room"]["members"]} == {alice.pk, bob.pk, carol.pk}
    assert set(updated["room"]) == {"id", "kind", "title", "owner", "members"}
    assert (await a.recv_type("room.updated"))["room"] == updated["room"]

    await db(services.room_update)(actor=alice, room_id=room.pk, title="crew")
    for sock in (a, b, c):
        assert (await sock.recv_type("room.updated"))["room"]["title"] == "crew"

    # Bob is subscribed; once removed he gets nothing more of the room, on any socket.
    await b.send({"type": "subscribe", "room": room.pk})
    await b.recv_type("presence.state")
    await db(services.room_member_remove)(actor=alice, room_id=room.pk, user_id=bob.pk)
    assert await b.recv_type("unsubscribed") == {"type": "unsubscribed", "room": room.pk, "reason": "removed"}
    assert await b.recv_type("room.removed") == {"type": "room.removed", "room": room.pk}
    await db(services.message_send)(user=alice, room_id=room.pk, text="after bob left")
    await db(services.room_update)(actor=alice, room_id=room.pk, title="no bob")
    assert await b.silent(0.3)
    assert bob.pk not in [m["id"] for m in (await c.recv_type("room.updated"))["room"]["members"]]
    assert (await c.recv_type("room.updated"))["room"]["title"] == "no bob"

    # Carol leaves by herself: room.removed to her, room.updated to Alice.
    await db(services.room_member_remove)(actor=carol, room_id=room.pk, user_id=carol.pk)
    assert await c.recv_type("room.removed") == {"type": "room.removed", "room": room.pk}
    while True:
        members = [m["id"] for m in (await a.recv_type("room.updated"))["room"]["members"]]
        if carol.pk not in members:
            break
    assert members == [alice.pk]


async def test_a_profile_change_reaches_the_people_who_share_a_room_once(chat_socket, user_factory, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    alice, bob, stranger = [await db(user_factory)() for _ in range(3)]
    await db(open_direct)(alice, bob)
    await db(make_group)(alice, [bob])  # two shared rooms: still one frame per socket
    a, b, s = await chat_socket(alice), await chat_socket(bob), await chat_socket(stranger)
    await db(profiles.profile_update)(user=alice, display_name="Alice")
    expected = {"type": "user.updated", "user": {"id": alice.pk, "display_name": "Alice", "avatar_url": None}}
    assert await b.recv_type("user.updated") == expected
    assert await a.recv_type("user.updated") == expected  # her own sockets too
    assert await s.silent(0.3)
    assert await b.silent(0.2)

    png = io.BytesIO()
    Image.new("RGB", (300, 300), (0, 0, 255)).save(png, "PNG")
    await db(profiles.avatar_set)(user=alice, upload=SimpleUploadedFile("a.png", png.getvalue(), content_type="image/png"))
    updated = await b.recv_type("user.updated")
    assert updated["user"]["avatar_url"].startswith("/media/avatars/")

    # Her socket's own messages carry the new name without reconnecting.
    room = await db(open_direct)(alice, bob)
    await a.recv_type("user.updated")
    await a.send({"type": "message.send", "room": room.pk, "text": "hi", "client_id": "p1"})
    ack = await a.recv_type("message.ack")
    assert ack["message"]["sender"] == {"id": alice.pk, "display_name": "Alice", "avatar_url": updated["user"]["avatar_url"]}


@pytest.mark.integration
async def test_room_added_reaches_a_users_sockets_on_every_server_process(start_server, user_factory, login):
    from tests.chat.test_multiprocess import SERVER_ENV, open_socket, recv

    one, two = start_server(**SERVER_ENV), start_server(**SERVER_ENV)
    alice, bob = await db(user_factory)(), await db(user_factory)()
    alice_login, bob_login = await db(login)(alice), await db(login)(bob)
    bob_on_one, bob_on_two = await open_socket(one, bob_login), await open_socket(two, bob_login)
    try:
        import httpx

        async with httpx.AsyncClient(base_url=two.url) as http:
            response = await http.post("/api/chat/rooms/", json={"kind": "direct", "mobile_number": str(bob.mobile_number)},
                                       headers={"Authorization": f"Bearer {alice_login.access}"})
        assert response.status_code == 201
        room = response.json()["id"]
        for sock in (bob_on_one, bob_on_two):
            added = await recv(sock, "room.added")
            assert added["room"]["id"] == room
            assert all("mobile_number" not in m for m in added["room"]["members"])
    finally:
        await bob_on_one.close()
        await bob_on_two.close()
