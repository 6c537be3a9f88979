"""Edit and delete (issue 16): one service behind the socket frames and REST, message.updated /
message.deleted to subscribers, tombstones, and changes that survive a resume by `after`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from chat import selectors, services
from chat.models import Message
from tests.chat.conftest import make_group

db = database_sync_to_async


@pytest.fixture
def team(user_factory):
    owner, alice, bob = user_factory(), user_factory(), user_factory()
    return owner, alice, bob, make_group(owner, [alice, bob])


async def subscribed(sock, room, **extra):
    await sock.send({"type": "subscribe", "room": room, **extra})
    await sock.recv_type("presence.state")


@pytest.mark.django_db(transaction=True)
async def test_edit_and_delete_over_the_socket(chat_socket, team):
    owner, alice, bob, room = team
    a, b = await chat_socket(alice), await chat_socket(bob)
    await subscribed(a, room.pk)
    await subscribed(b, room.pk)
    await a.send({"type": "message.send", "room": room.pk, "text": "helo", "client_id": "e1"})
    sent = (await a.recv_type("message.ack"))["message"]
    assert sent["edited_at"] is None
    await b.recv_type("message.new")

    await a.send({"type": "message.edit", "message": sent["id"], "text": "hello"})
    updated = await b.recv_type("message.updated")
    assert updated["message"]["text"] == "hello" and updated["message"]["edited_at"]
    assert {k: v for k, v in updated["message"].items() if k not in ("text", "edited_at")} == \
        {k: v for k, v in sent.items() if k not in ("text", "edited_at")}
    assert (await a.recv_type("message.updated")) == updated

    # Only the sender edits; only the sender or the group's owner deletes.
    await b.send({"type": "message.edit", "message": sent["id"], "text": "mine now", "client_id": "x1"})
    assert await b.recv_type("error") == {"type": "error", "code": "forbidden", "ref": "x1",
                                          "detail": "Only the sender edits a message."}
    await b.send({"type": "message.delete", "message": sent["id"]})
    assert (await b.recv_type("error"))["code"] == "forbidden"
    for bad, code in [({"message": "1"}, "bad_frame"), ({"message": 10**30}, "not_found"),
                      ({"message": sent["id"], "text": ""}, "invalid"), ({"message": sent["id"], "text": 5}, "bad_frame")]:
        await a.send({"type": "message.edit", "text": "x", **bad})
        assert (await a.recv_type("error"))["code"] == code, bad

    o = await chat_socket(owner)
    await o.send({"type": "message.delete", "message": sent["id"]})
    deleted = await b.recv_type("message.deleted")
    assert deleted == {"type": "message.deleted", "message": {"id": sent["id"], "room": room.pk, "deleted": True}}
    stored = await db(Message.objects.get)(pk=sent["id"])
    assert stored.text == "" and stored.deleted_at is not None  # the text is gone, the id stays
    await a.send({"type": "message.edit", "message": sent["id"], "text": "back"})
    assert (await a.recv_type("error"))["code"] == "not_found"

    # A stranger cannot probe messages of rooms they are not in.
    stranger = await chat_socket(await db(lambda: type(owner).objects.create_user(mobile_number="+989351234567"))())
    await stranger.send({"type": "message.delete", "message": sent["id"]})
    assert (await stranger.recv_type("error"))["code"] == "not_found"


@pytest.mark.django_db
def test_edit_and_delete_over_rest_and_the_history_shows_them(auth_client, team, time_machine):
    owner, alice, bob, room = team
    time_machine.move_to(timezone.now(), tick=False)
    client, _ = auth_client(alice)
    url = f"/api/chat/rooms/{room.pk}/messages/"
    ids = [client.post(url, {"text": f"m{i}"}, format="json").json()["id"] for i in range(3)]
    edited = client.patch(f"{url}{ids[0]}/", {"text": "m0 (fixed)"}, format="json")
    assert edited.status_code == 200 and edited.json()["text"] == "m0 (fixed)" and edited.json()["edited_at"]
    assert client.delete(f"{url}{ids[1]}/").status_code == 204
    assert client.delete(f"{url}{ids[1]}/").status_code == 204  # already a tombstone: nothing changes
    history = client.get(url).json()
    assert history[0]["text"] == "m0 (fixed)" and history[0]["edited_at"] == edited.json()["edited_at"]
    assert history[1] == {"id": ids[1], "room": room.pk, "deleted": True}
    assert history[2]["text"] == "m2" and history[2]["edited_at"] is None
    # Paging by `after` across the tombstone misses nothing.
    assert [m["id"] for m in client.get(url, {"after": ids[0]}).json()] == ids[1:]

    # The 48-hour window, and messages of another room through this room's path.
    time_machine.shift(timedelta(hours=48, seconds=1))
    client, _ = auth_client(alice)
    late = client.patch(f"{url}{ids[2]}/", {"text": "too late"}, format="json")
    assert late.status_code == 403 and late.json()["code"] == "forbidden"
    assert client.delete(f"{url}{ids[2]}/").status_code == 204  # deleting has no window
    other_room = make_group(alice, [])
    assert client.patch(f"/api/chat/rooms/{other_room.pk}/messages/{ids[0]}/", {"text": "x"},
                        format="json").status_code == 404
    bob_client, _ = auth_client(bob)
    assert bob_client.patch(f"{url}{ids[0]}/", {"text": "x"}, format="json").status_code == 403
    assert bob_client.patch(f"{url}999999999/", {"text": "x"}, format="json").status_code == 404


@pytest.mark.django_db(transaction=True)
async def test_edits_deletions_and_tombstones_survive_a_resume(chat_socket, team):
    """Bob saw messages up to N, went away; meanwhile one of them was edited, one deleted, and new
    ones came (one of them deleted too). A subscribe with after=N brings him all of it."""
    owner, alice, bob, room = team
    send = db(services.message_send)
    old = [(await send(user=alice, room_id=room.pk, text=f"old{i}"))[0]["id"] for i in range(3)]
    cursor = old[-1]  # what Bob had seen
    await db(services.message_edit)(user=alice, message_id=old[0], text="old0 edited")
    await db(services.message_delete)(user=owner, message_id=old[1])
    new = [(await send(user=alice, room_id=room.pk, text=f"new{i}"))[0]["id"] for i in range(2)]
    await db(services.message_delete)(user=alice, message_id=new[0])
    await db(services.message_edit)(user=alice, message_id=old[0], text="old0 edited twice")

    b = await chat_socket(bob)
    await b.send({"type": "subscribe", "room": room.pk, "after": cursor})
    frames = []
    while True:
        frame = await b.recv()
        frames.append(frame)
        if frame["type"] == "subscribed":
            break
    kinds = [(f["type"], f.get("message", {}).get("id")) for f in frames]
    assert kinds == [("message.deleted", old[1]), ("message.updated", old[0]),
                     ("message.new", new[0]), ("message.new", new[1]), ("subscribed", None)]
    assert frames[1]["message"]["text"] == "old0 edited twice"
    assert frames[2]["message"] == {"id": new[0], "room": room.pk, "deleted": True}
    assert frames[-1]["last_id"] == new[1]
    # Resuming from the end again repeats only the changes made while that id was the newest (a
    # client cannot tell whether it saw them; applying one twice is harmless).
    await b.recv_type("presence.state")
    await b.send({"type": "subscribe", "room": room.pk, "after": new[1]})
    again = [await b.recv() for _ in range(3)]
    assert [(f["type"], f.get("message", {}).get("id")) for f in again] == [
        ("message.updated", old[0]), ("message.deleted", new[0]), ("subscribed", None)]
    await b.recv_type("presence.state")
    # A change made while connected arrives live, once.
    await db(services.message_edit)(user=alice, message_id=new[1], text="new1 edited")
    assert (await b.recv_type("message.updated"))["message"]["text"] == "new1 edited"
    assert await b.silent(0.3)
    # And a client whose cursor is that message gets the change on its next resume.
    changes = await db(selectors.changes_since)(room_id=room.pk, after_id=new[1], limit=10, viewer_id=bob.pk)
    assert [m["id"] for m in changes] == [old[0], new[0], new[1]]
