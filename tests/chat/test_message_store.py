"""chat.services.message_store, the one write path of every message (socket and REST): its SQL is
written out for speed, so these pin what that SQL must keep doing."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from chat import services
from chat.errors import ChatError
from chat.models import Message
from tests.chat.conftest import make_group

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pair(user_factory):
    alice, bob, stranger = user_factory(), user_factory(), user_factory()
    room = make_group(alice, [bob])
    return alice, bob, stranger, room


def test_stores_the_message_and_returns_its_event(pair):
    alice, _, _, room = pair
    stored = services.message_store(user=alice, room_id=room.pk, text="hi", client_id="c-1")
    message = Message.objects.get(pk=stored.payload["id"])
    assert (message.room_id, message.sender_id, message.text, message.client_id) == (room.pk, alice.pk, "hi", "c-1")
    assert stored.payload == services.message_payload(message, alice)  # created_at as stored
    assert stored.created and stored.event["id"] == message.pk and stored.group == services.room_group(room.pk)


def test_a_retry_of_a_client_id_returns_the_stored_message_and_publishes_it_again(pair):
    alice, bob, _, room = pair
    first = services.message_store(user=alice, room_id=room.pk, text="hi", client_id="same")
    again = services.message_store(user=alice, room_id=room.pk, text="hi", client_id="same")
    assert (again.created, again.payload) == (False, first.payload)
    # Issue 21: the first publish may have died with its server process; sockets that had it drop it.
    assert again.event == {**first.event, "again": True}
    # The client_id is the sender's own: another member using it sends a new message.
    other = services.message_store(user=bob, room_id=room.pk, text="hi", client_id="same")
    assert other.created and other.payload["id"] != first.payload["id"]
    # Without a client_id every send is new.
    a = services.message_store(user=alice, room_id=room.pk, text="x")
    b = services.message_store(user=alice, room_id=room.pk, text="x")
    assert a.created and b.created and a.payload["id"] != b.payload["id"]


def test_non_members_and_unknown_rooms_are_not_found(pair):
    _, _, stranger, room = pair
    for user, room_id in [(stranger, room.pk), (pair[0], room.pk + 1000)]:
        with pytest.raises(ChatError) as caught:
            services.message_store(user=user, room_id=room_id, text="hi")
        assert caught.value.code == "not_found"
    assert not Message.objects.exists()


def test_a_message_is_two_statements_in_its_transaction(pair):
    alice, _, _, room = pair
    with CaptureQueriesContext(connection) as captured:
        services.message_store(user=alice, room_id=room.pk, text="hi", client_id="q")
    sql = [q["sql"].upper() for q in captured.captured_queries
           if not q["sql"].upper().startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))]
    assert len(sql) == 2, sql
    assert sql[0].startswith("SELECT") and sql[1].startswith("INSERT")
    if connection.features.has_select_for_update_of:
        assert "FOR UPDATE" in sql[0]


def test_a_rooms_messages_commit_in_id_order(pair):
    """A second send to the room waits for the first one's transaction (the room row lock; SQLite
    serialises whole write transactions), so no smaller id can commit after a larger one."""
    alice, bob, _, room = pair
    first_locked, release, second_done = threading.Event(), threading.Event(), threading.Event()
    ids: dict[str, int] = {}

    def first():
        try:
            with transaction.atomic():
                ids["first"] = services._message_store(user=alice, room_id=room.pk, text="1", client_id=None).payload["id"]
                first_locked.set()
                release.wait(10)
        finally:
            connection.close()

    def second():
        try:
            first_locked.wait(10)
            ids["second"] = services.message_store(user=bob, room_id=room.pk, text="2").payload["id"]
            second_done.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    assert first_locked.wait(10)
    assert not second_done.wait(0.5), "the second send committed while the first held the room"
    release.set()
    for thread in threads:
        thread.join(15)
    assert second_done.is_set()
    assert ids["second"] > ids["first"]
