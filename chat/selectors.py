"""Reads of the chat app."""

from __future__ import annotations

from django.db import connection
from django.db.models import Count, F, OuterRef, Subquery
from django.db.models.functions import Coalesce

from accounts.models import User

from . import errors
from .models import Membership, Message, Room
from .services import message_payload, user_payload

HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 200


# The reads of every handshake and subscribe are written in SQL: through the ORM, building these
# small queries cost more CPU than PostgreSQL spent answering them. Table names come from the models.

def _ids(sql: str, params: list) -> list[int]:
    tables = {"membership": Membership._meta.db_table, "message": Message._meta.db_table}
    with connection.cursor() as cursor:
        cursor.execute(sql.format(**{k: connection.ops.quote_name(v) for k, v in tables.items()}), params)
        return [row[0] for row in cursor.fetchall()]


def room_ids_of_user(*, user_id: int) -> list[int]:
    return _ids("SELECT room_id FROM {membership} WHERE user_id = %s", [user_id])


def is_member(*, user_id: int, room_id: int) -> bool:
    return bool(_ids("SELECT 1 FROM {membership} WHERE room_id = %s AND user_id = %s", [room_id, user_id]))


def member_ids(*, room_id: int) -> list[int]:
    return _ids("SELECT user_id FROM {membership} WHERE room_id = %s ORDER BY user_id", [room_id])


def subscribe_snapshot(*, user_id: int, room_id: int, after_id: int | None, limit: int) -> tuple[int, list[dict], list[int]] | None:
    """What a subscribe reads, in one trip to the database thread: None when the user is not a
    member; else (last id, replay batch, member ids). Without `after_id` the batch is empty and the
    last id is the room's newest message; with it, up to `limit` messages after it."""
    members = member_ids(room_id=room_id)  # the membership check too: no query of its own
    if user_id not in members:
        return None
    if after_id is None:
        last_id, batch = last_message_id(room_id=room_id), []
    else:
        batch = messages_after(room_id=room_id, after_id=after_id, limit=limit)
        last_id = batch[-1]["id"] if batch else after_id
    return last_id, batch, members


def messages_after(*, room_id: int, after_id: int, limit: int) -> list[dict]:
    """Up to `limit` messages of the room with id > after_id, oldest first (the replay on resume)."""
    rows = Message.objects.filter(room_id=room_id, id__gt=after_id).select_related("sender").order_by("id")[:limit]
    return [message_payload(m) for m in rows]


def last_message_id(*, room_id: int) -> int:
    return (_ids("SELECT MAX(id) FROM {message} WHERE room_id = %s", [room_id]) or [0])[0] or 0


def _rooms_payload(user: User, rooms: list[Room]) -> list[dict]:
    if not rooms:
        return []
    ids = [room.pk for room in rooms]
    members: dict[int, list[dict]] = {pk: [] for pk in ids}
    for membership in Membership.objects.filter(room_id__in=ids).select_related("user").order_by("user_id"):
        members[membership.room_id].append(user_payload(membership.user))
    last_ids = [room.last_message_id for room in rooms if room.last_message_id]
    last = {m.pk: m for m in Message.objects.filter(pk__in=last_ids).select_related("sender")}
    return [
        {
            "id": room.pk,
            "kind": room.kind,
            "title": room.title,
            "members": members[room.pk],
            "last_message": message_payload(last[room.last_message_id]) if room.last_message_id in last else None,
            "unread_count": room.unread_count,
        }
        for room in rooms
    ]


def _rooms_of(user: User):
    latest = Message.objects.filter(room_id=OuterRef("pk")).order_by("-id")
    my_marker = Membership.objects.filter(room_id=OuterRef("pk"), user_id=user.pk).values("last_read_id")[:1]
    unread = (
        Message.objects.filter(room_id=OuterRef("pk"), id__gt=OuterRef("my_last_read"))
        .exclude(sender_id=user.pk)
        .order_by()
        .values("room_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        Room.objects.filter(memberships__user_id=user.pk)
        .annotate(
            last_message_id=Subquery(latest.values("id")[:1]),
            last_activity=Coalesce(Subquery(latest.values("created_at")[:1]), F("created_at")),
            my_last_read=Subquery(my_marker),
        )
        .annotate(unread_count=Coalesce(Subquery(unread), 0))
    )


def rooms_for_user(*, user: User) -> list[dict]:
    """My rooms, most recent activity (last message, else creation) first."""
    rooms = list(_rooms_of(user).order_by("-last_activity", "-id"))
    return _rooms_payload(user, rooms)


def room_for_member(*, user: User, room_id: int) -> dict:
    room = _rooms_of(user).filter(pk=room_id).first()
    if room is None:
        raise errors.not_found()
    return _rooms_payload(user, [room])[0]


def messages_page(*, user: User, room_id: int, before: int | None, after: int | None, limit: int) -> list[dict]:
    """A page of a room's history, ascending by id: just before `before`, just after `after`, or the latest."""
    if not is_member(user_id=user.pk, room_id=room_id):
        raise errors.not_found()
    rows = Message.objects.filter(room_id=room_id).select_related("sender")
    if after is not None:
        page = list(rows.filter(id__gt=after).order_by("id")[:limit])
    else:
        if before is not None:
            rows = rows.filter(id__lt=before)
        page = list(rows.order_by("-id")[:limit])[::-1]
    return [message_payload(m) for m in page]


__all__ = [
    "HISTORY_DEFAULT_LIMIT",
    "HISTORY_MAX_LIMIT",
    "is_member",
    "last_message_id",
    "member_ids",
    "messages_after",
    "messages_page",
    "room_for_member",
    "room_ids_of_user",
    "rooms_for_user",
    "subscribe_snapshot",
]
