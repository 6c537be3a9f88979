"""Phone-number privacy (issue 16): no answer or frame carries another user's number, except the
direct room I opened by typing it; ids cannot be walked; look-ups by number are limited per user
across processes."""

from __future__ import annotations

import json

import httpx
import pytest
from channels.db import database_sync_to_async

from chat import services
from chat.models import Invitation, Membership, Room
from tests.chat.conftest import make_group, open_direct

db = database_sync_to_async


def numbers_in(text: str, users) -> set[str]:
    return {str(u.mobile_number) for u in users if str(u.mobile_number) in text}


@pytest.mark.django_db(transaction=True)
async def test_no_answer_or_frame_carries_another_users_number_except_the_one_i_typed(
    chat_socket, user_factory, auth_client
):
    alice, bob, carol, dave = [await db(user_factory)() for _ in range(4)]
    everyone = [alice, bob, carol, dave]
    bob_socket = await chat_socket(bob)
    # Alice types Bob's number (she knows it); Carol and Bob share a group; Dave invites Bob.
    direct = await db(open_direct)(alice, bob)
    group = await db(make_group)(carol, [bob, alice])
    await db(open_direct)(dave, carol)
    dave_group = await db(services.room_group_create)(owner=dave, title="d", members=[str(bob.mobile_number)])
    assert await db(Invitation.objects.filter(room=dave_group, user=bob).exists)()
    for room in (direct, group):
        for sender in (alice, bob):
            await db(services.message_send)(user=sender, room_id=room.pk, text=f"hello {room.pk}")
    edited, _ = await db(services.message_send)(user=alice, room_id=group.pk, text="to edit")
    await db(services.message_edit)(user=alice, message_id=edited["id"], text="edited")
    await db(services.block_add)(user=bob, user_id=carol.pk)

    # Everything Bob's socket heard, and everything he can ask for.
    await bob_socket.send({"type": "subscribe", "room": direct.pk, "after": 0})
    await bob_socket.send({"type": "subscribe", "room": group.pk, "after": 0})
    heard = []
    while not await bob_socket.silent(0.3):
        heard.append(await bob_socket.recv())
    assert {f["type"] for f in heard} >= {"room.added", "room.invited", "message.new", "subscribed", "presence.state"}

    client, bob_login = await db(auth_client)(bob)
    answers = [json.dumps(heard)]
    for path in ("/api/chat/rooms/", f"/api/chat/rooms/{direct.pk}/", f"/api/chat/rooms/{group.pk}/",
                 f"/api/chat/rooms/{direct.pk}/messages/", f"/api/chat/rooms/{group.pk}/messages/",
                 "/api/chat/invitations/", "/api/chat/blocks/"):
        response = await db(client.get)(path)
        assert response.status_code == 200, path
        answers.append(response.content.decode())
    # Bob opens the room with Alice by her id (they share rooms): still no number of hers.
    response = await db(client.post)("/api/chat/rooms/", {"kind": "direct", "user_id": alice.pk}, format="json")
    answers.append(response.content.decode())
    assert numbers_in("\n".join(answers), [alice, carol, dave]) == set()

    # Bob's own number only in his own things; Alice sees Bob's number in the room she opened by it.
    me = (await db(client.get)("/api/me/")).json()
    assert me["mobile_number"] == str(bob.mobile_number)
    alice_client, _ = await db(auth_client)(alice)
    rooms = (await db(alice_client.get)("/api/chat/rooms/")).content.decode()
    assert numbers_in(rooms, everyone) == {str(bob.mobile_number)}
    [room_with_bob] = [r for r in json.loads(rooms) if r["id"] == direct.pk]
    assert [m.get("mobile_number") for m in room_with_bob["members"] if m["id"] == bob.pk] == [str(bob.mobile_number)]
    group_view = (await db(alice_client.get)(f"/api/chat/rooms/{group.pk}/")).content.decode()
    assert numbers_in(group_view, everyone) == set()


@pytest.mark.django_db
def test_walking_user_ids_reveals_nothing(auth_client, user_factory):
    client, me = auth_client()
    strangers = [user_factory() for _ in range(3)]
    contact = user_factory()
    open_direct(me.user, contact)
    group = make_group(me.user, [contact])
    last = max(u.pk for u in strangers + [contact])
    probes = [u.pk for u in strangers] + [last + 1, last + 1000]  # people I don't know, and ids nobody has

    def answers(user_id):
        return [
            client.post("/api/chat/rooms/", {"kind": "direct", "user_id": user_id}, format="json"),
            client.post("/api/chat/rooms/", {"kind": "group", "title": "g", "members": [user_id]}, format="json"),
            client.post(f"/api/chat/rooms/{group.pk}/members/", {"user_id": user_id}, format="json"),
            client.post("/api/chat/blocks/", {"user_id": user_id}, format="json"),
        ]

    seen = {tuple((r.status_code, r.content) for r in answers(user_id)) for user_id in probes}
    assert len(seen) == 1, seen  # the same answers for everyone I cannot see
    assert all(status == 404 for status, _ in next(iter(seen)))
    # Nobody was added to anything, and no room was made.
    assert not Membership.objects.filter(user__in=strangers).exists()
    assert Room.objects.count() == 2


@pytest.mark.django_db
def test_an_uninvited_user_cannot_be_added(auth_client, user_factory):
    client, owner = auth_client()
    victim = user_factory()
    victim_client, _ = auth_client(victim)
    created = client.post("/api/chat/rooms/", {"kind": "group", "title": "spam",
                                                "members": [str(victim.mobile_number)]}, format="json")
    assert created.status_code == 201
    room = created.json()
    assert [m["id"] for m in room["members"]] == [owner.user.pk]  # invited, not added
    added = client.post(f"/api/chat/rooms/{room['id']}/members/", {"mobile_number": str(victim.mobile_number)},
                        format="json")
    assert added.status_code == 202 and added.json()["code"] == "invited"
    # Until they accept they see nothing and are not seen.
    assert victim_client.get("/api/chat/rooms/").json() == []
    assert victim_client.get(f"/api/chat/rooms/{room['id']}/messages/").status_code == 404
    assert victim_client.post(f"/api/chat/rooms/{room['id']}/messages/", {"text": "x"}, format="json").status_code == 404
    [invitation] = victim_client.get("/api/chat/invitations/").json()
    assert invitation["room"] == {"id": room["id"], "kind": "group", "title": "spam"}
    assert invitation["invited_by"]["id"] == owner.user.pk and "mobile_number" not in invitation["invited_by"]
    # Declining leaves no trace; a new invitation can be accepted.
    assert victim_client.post(f"/api/chat/invitations/{room['id']}/decline/").status_code == 204
    assert victim_client.get("/api/chat/invitations/").json() == []
    assert victim_client.post(f"/api/chat/invitations/{room['id']}/accept/").status_code == 404
    client.post(f"/api/chat/rooms/{room['id']}/members/", {"mobile_number": str(victim.mobile_number)}, format="json")
    accepted = victim_client.post(f"/api/chat/invitations/{room['id']}/accept/")
    assert accepted.status_code == 200 and {m["id"] for m in accepted.json()["members"]} == {owner.user.pk, victim.pk}
    assert victim_client.get(f"/api/chat/rooms/{room['id']}/messages/").status_code == 200


@pytest.mark.django_db
def test_number_look_ups_are_limited_and_unregistered_numbers_say_so(auth_client, user_factory, settings):
    settings.CHAT_NUMBER_LOOKUPS_PER_HOUR = 3
    client, me = auth_client()
    known = user_factory()
    missing = client.post("/api/chat/rooms/", {"kind": "direct", "mobile_number": "+989350000001"}, format="json")
    assert missing.status_code == 404 and missing.json()["code"] == "not_registered"
    assert client.post("/api/chat/rooms/", {"kind": "direct", "mobile_number": "not a number"},
                       format="json").status_code == 400  # not a look-up, costs nothing
    for _ in range(2):
        assert client.post("/api/chat/rooms/", {"kind": "direct", "mobile_number": str(known.mobile_number)},
                           format="json").status_code in (200, 201)
    limited = client.post("/api/chat/rooms/", {"kind": "direct", "mobile_number": str(known.mobile_number)}, format="json")
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    # Numbers in a group count too; ids of people I know do not.
    assert client.post("/api/chat/rooms/", {"kind": "group", "title": "g", "members": [str(known.mobile_number)]},
                       format="json").status_code == 429
    assert client.post("/api/chat/rooms/", {"kind": "direct", "user_id": known.pk}, format="json").status_code == 200
    other_client, _ = auth_client()  # per user
    assert other_client.post("/api/chat/rooms/", {"kind": "direct", "mobile_number": str(known.mobile_number)},
                             format="json").status_code == 201


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_look_up_limit_holds_across_processes(start_server, user_factory, login):
    env = {"CHAT_NUMBER_LOOKUPS_PER_HOUR": "4"}
    one, two = start_server(**env), start_server(**env)
    me = login(user_factory())
    targets = [user_factory() for _ in range(5)]
    headers = {"Authorization": f"Bearer {me.access}"}
    statuses = []
    for i, target in enumerate(targets):
        server = (one, two)[i % 2]
        response = httpx.post(f"{server.url}/api/chat/rooms/", json={"kind": "direct", "mobile_number": str(target.mobile_number)},
                              headers=headers, timeout=10)
        statuses.append(response.status_code)
    assert statuses == [201, 201, 201, 201, 429]
    assert int(response.headers["Retry-After"]) >= 1
