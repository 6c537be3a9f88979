import threading

import pytest
from django.db import connection

from chat import services
from chat.models import Membership, Message, Room
from tests.chat.conftest import make_group, open_direct


@pytest.mark.django_db
def test_direct_room_is_one_per_pair(auth_client, user_factory):
    client, me = auth_client()
    other = user_factory()
    first = client.post("/api/chat/rooms/", {"kind": "direct", "mobile_number": str(other.mobile_number)}, format="json")
    assert first.status_code == 201
    body = first.json()
    assert body["kind"] == "direct" and body["last_message"] is None and body["unread_count"] == 0
    assert sorted(m["id"] for m in body["members"]) == sorted([me.user.pk, other.pk])
    # Now that we share a room, the id works too.
    again = client.post("/api/chat/rooms/", {"kind": "direct", "user_id": other.pk}, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert client.post("/api/chat/rooms/", {"kind": "direct", "user_id": me.user.pk}, format="json").status_code == 400
    assert client.post("/api/chat/rooms/", {"kind": "direct", "user_id": 999999}, format="json").status_code == 404
    assert client.post("/api/chat/rooms/", {"kind": "nope"}, format="json").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_direct_room_under_concurrent_requests(user_factory):
    alice, bob = user_factory(), user_factory()
    barrier = threading.Barrier(6)
    results = []

    def open_room(user, other):
        barrier.wait()
        try:
            results.append(services.room_direct_open(user=user, mobile_number=str(other.mobile_number)))
        finally:
            connection.close()

    threads = [threading.Thread(target=open_room, args=(alice, bob) if i % 2 else (bob, alice)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6
    assert len({room.pk for room, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Room.objects.filter(kind="direct").count() == 1


@pytest.mark.django_db
def test_group_rooms_members_and_owner_rules(auth_client, user_factory):
    client, owner = auth_client()
    bob, carol, dave = user_factory(), user_factory(), user_factory()
    for contact in (bob, carol, dave):
        open_direct(owner.user, contact)
    created = client.post(
        "/api/chat/rooms/", {"kind": "group", "title": "team", "members": [bob.pk, str(carol.mobile_number)]},
        format="json",
    )
    assert created.status_code == 201
    room = created.json()
    assert room["title"] == "team" and len(room["members"]) == 3 and room["owner"] == owner.user.pk
    assert client.post("/api/chat/rooms/", {"kind": "group", "title": ""}, format="json").status_code == 400
    assert client.post("/api/chat/rooms/", {"kind": "group", "title": "x", "members": [123456789]},
                       format="json").status_code == 404

    add = client.post(f"/api/chat/rooms/{room['id']}/members/", {"user_id": dave.pk}, format="json")
    assert add.status_code == 201 and len(add.json()["members"]) == 4
    assert client.post(f"/api/chat/rooms/{room['id']}/members/", {"user_id": dave.pk}, format="json").status_code == 200

    bob_client, _ = auth_client(bob)
    assert bob_client.post(f"/api/chat/rooms/{room['id']}/members/", {"user_id": dave.pk},
                           format="json").status_code == 403
    assert bob_client.delete(f"/api/chat/rooms/{room['id']}/members/{carol.pk}/").status_code == 403
    assert bob_client.patch(f"/api/chat/rooms/{room['id']}/", {"title": "mine"}, format="json").status_code == 403
    outsider, _ = auth_client()
    assert outsider.post(f"/api/chat/rooms/{room['id']}/members/", {"user_id": dave.pk},
                         format="json").status_code == 404

    assert client.delete(f"/api/chat/rooms/{room['id']}/members/{carol.pk}/").status_code == 204
    assert client.delete(f"/api/chat/rooms/{room['id']}/members/{carol.pk}/").status_code == 404
    assert not Membership.objects.filter(room_id=room["id"], user=carol).exists()

    renamed = client.patch(f"/api/chat/rooms/{room['id']}/", {"title": "crew"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["title"] == "crew"
    assert client.patch(f"/api/chat/rooms/{room['id']}/", {"owner": carol.pk}, format="json").status_code == 404
    handed = client.patch(f"/api/chat/rooms/{room['id']}/", {"owner": bob.pk}, format="json")
    assert handed.status_code == 200 and handed.json()["owner"] == bob.pk
    # The former owner is a member like any other now, and may leave.
    assert client.patch(f"/api/chat/rooms/{room['id']}/", {"title": "x"}, format="json").status_code == 403
    assert client.delete(f"/api/chat/rooms/{room['id']}/members/{owner.user.pk}/").status_code == 204
    assert client.get(f"/api/chat/rooms/{room['id']}/").status_code == 404


@pytest.mark.django_db
def test_an_owner_who_leaves_hands_the_group_over_and_the_last_one_out_deletes_it(user_factory):
    alice, bob, carol = user_factory(), user_factory(), user_factory()
    room = make_group(alice, [bob, carol])
    services.room_member_remove(actor=alice, room_id=room.pk, user_id=alice.pk)
    room.refresh_from_db()
    assert room.owner_id == bob.pk  # the longest-standing member
    services.room_member_remove(actor=carol, room_id=room.pk, user_id=carol.pk)
    services.room_member_remove(actor=bob, room_id=room.pk, user_id=bob.pk)
    assert not Room.objects.filter(pk=room.pk).exists()


@pytest.mark.django_db
def test_history_pages_and_membership(auth_client, user_factory):
    client, me = auth_client()
    other = user_factory()
    room = open_direct(me.user, other)
    ids = [services.message_send(user=me.user, room_id=room.pk, text=f"m{i}")[0]["id"] for i in range(7)]
    url = f"/api/chat/rooms/{room.pk}/messages/"
    assert [m["id"] for m in client.get(url).json()] == ids
    assert [m["id"] for m in client.get(url, {"limit": 3}).json()] == ids[-3:]
    assert [m["id"] for m in client.get(url, {"before": ids[4], "limit": 2}).json()] == ids[2:4]
    assert [m["id"] for m in client.get(url, {"after": ids[1], "limit": 2}).json()] == ids[2:4]
    assert client.get(url, {"limit": "x"}).status_code == 400
    assert client.get(url, {"before": 1, "after": 1}).status_code == 400
    assert ids == sorted(ids)

    outsider, _ = auth_client()
    assert outsider.get(url).status_code == 404
    assert outsider.post(url, {"text": "hi"}, format="json").status_code == 404
    assert client.get("/api/chat/rooms/999999/messages/").status_code == 404


@pytest.mark.django_db
def test_post_message_idempotent_limits_and_room_list(auth_client, user_factory, settings):
    client, me = auth_client()
    other = user_factory()
    room = open_direct(me.user, other)
    group = services.room_group_create(owner=me.user, title="g", members=[other.pk])
    url = f"/api/chat/rooms/{room.pk}/messages/"
    first = client.post(url, {"text": "hello", "client_id": "abc"}, format="json")
    assert first.status_code == 201
    retry = client.post(url, {"text": "hello", "client_id": "abc"}, format="json")
    assert retry.status_code == 200 and retry.json() == first.json()
    assert Message.objects.count() == 1
    assert client.post(url, {"text": "x" * 4001}, format="json").json()["code"] == "too_long"
    assert client.post(url, {"text": ""}, format="json").status_code == 400

    # The other user's view: unread counts and most recent activity first.
    other_client, _ = auth_client(other)
    rooms = other_client.get("/api/chat/rooms/").json()
    assert [r["id"] for r in rooms] == [room.pk, group.pk]
    assert rooms[0]["unread_count"] == 1 and rooms[0]["last_message"]["text"] == "hello"
    services.message_send(user=me.user, room_id=group.pk, text="later")
    rooms = other_client.get("/api/chat/rooms/").json()
    assert [r["id"] for r in rooms] == [group.pk, room.pk]
    services.read_mark(user=other, room_id=room.pk, message_id=first.json()["id"])
    assert {r["id"]: r["unread_count"] for r in other_client.get("/api/chat/rooms/").json()} == {room.pk: 0, group.pk: 1}

    settings.CHAT_MESSAGES_PER_WINDOW = 3
    # "hello" and "later" already used two of the three slots.
    assert client.post(url, {"text": "more"}, format="json").status_code == 201
    limited = client.post(url, {"text": "one too many"}, format="json")
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    # The body of every endpoint designed here (core.errors.detail_body).
    assert limited.json() == {"detail": "Too many messages. Try again later.", "code": "rate_limited",
                              "retry_after": int(limited["Retry-After"])}


@pytest.mark.django_db
def test_the_openapi_schema_describes_the_chat_contract(client):
    import yaml

    schema = yaml.safe_load(client.get("/api/schema/").content)
    paths = schema["paths"]
    for path in ("/api/chat/rooms/{room_id}/", "/api/chat/rooms/{room_id}/messages/{message_id}/",
                 "/api/chat/invitations/", "/api/chat/invitations/{room_id}/accept/", "/api/chat/blocks/",
                 "/api/me/avatar/"):
        assert path in paths, path
    assert {"patch", "delete"} <= set(paths["/api/chat/rooms/{room_id}/messages/{message_id}/"])
    assert {"get", "patch"} <= set(paths["/api/me/"])
    components = schema["components"]["schemas"]
    assert set(components["ChatUser"]["properties"]) == {"id", "display_name", "avatar_url"}
    assert "mobile_number" in components["RoomMember"]["properties"]  # the one documented exception
    [room_id] = [p for p in paths["/api/chat/rooms/{room_id}/"]["get"]["parameters"] if p["name"] == "room_id"]
    assert room_id["schema"]["type"] == "integer"
