"""Reads of the chat app."""

from __future__ import annotations

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from accounts.models import User

from . import errors
from .models import Block, Invitation, Membership, Message, Room
from .payloads import iso, member_payload, message_payload

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


def visible_to(user_id: int) -> Q:
    """Messages a user may see: all but the direct messages withheld from them (Message.withheld)."""
    return Q(withheld=False) | Q(sender_id=user_id)


def subscribe_snapshot(*, user_id: int, room_id: int, after_id: int | None, limit: int) -> tuple[int, list[dict], list[int], list[dict], bool] | None:
    """What a subscribe reads, in one trip to the database thread: None when the user is not a
    member; else (last id, replay batch, member ids, changes, more). Without `after_id` nothing is
    replayed and the last id is the room's newest message. With it: up to `limit` messages after
    it (`more` says there are others), and the edits and deletions of earlier messages that a
    client whose cursor is `after_id` may have missed (Message.revision), up to `limit`."""
    members = member_ids(room_id=room_id)  # the membership check too: no query of its own
    if user_id not in members:
        return None
    if after_id is None:
        return last_message_id(room_id=room_id), [], members, [], False
    batch = messages_after(room_id=room_id, after_id=after_id, limit=limit + 1, viewer_id=user_id)
    more = len(batch) > limit
    batch = batch[:limit]
    last_id = batch[-1]["id"] if batch else after_id
    changes = changes_since(room_id=room_id, after_id=after_id, limit=limit + 1, viewer_id=user_id) if after_id else []
    if len(changes) > limit:
        changes, more = changes[:limit], True
    return last_id, batch, members, changes, more


def messages_after(*, room_id: int, after_id: int, limit: int, viewer_id: int) -> list[dict]:
    """Up to `limit` messages of the room with id > after_id, oldest first (the replay on resume)."""
    rows = (Message.objects.filter(visible_to(viewer_id), room_id=room_id, id__gt=after_id)
            .select_related("sender").order_by("id")[:limit])
    return [message_payload(m) for m in rows]


def changes_since(*, room_id: int, after_id: int, limit: int, viewer_id: int) -> list[dict]:
    """Messages with id <= after_id edited or deleted since a client's cursor was after_id."""
    rows = (Message.objects.filter(visible_to(viewer_id), room_id=room_id, id__lte=after_id, revision__gte=after_id)
            .select_related("sender").order_by("revision", "id")[:limit])
    return [message_payload(m) for m in rows]


def blocked_ids(*, user_id: int) -> list[int]:
    """The users this user blocked."""
    return list(Block.objects.filter(blocker_id=user_id).values_list("blocked_id", flat=True))


def last_message_id(*, room_id: int) -> int:
    return (_ids("SELECT MAX(id) FROM {message} WHERE room_id = %s", [room_id]) or [0])[0] or 0


def _rooms_payload(user: User, rooms: list[Room]) -> list[dict]:
    if not rooms:
        return []
    ids = [room.pk for room in rooms]
    numbers_known = {room.pk for room in rooms if room.kind == Room.Kind.DIRECT and room.my_peer_number_known}
    members: dict[int, list[dict]] = {pk: [] for pk in ids}
    for membership in Membership.objects.filter(room_id__in=ids).select_related("user").order_by("user_id"):
        with_number = membership.room_id in numbers_known and membership.user_id != user.pk
        members[membership.room_id].append(member_payload(membership.user, with_number=with_number))
    last_ids = [room.last_message_id for room in rooms if room.last_message_id]
    last = {m.pk: m for m in Message.objects.filter(pk__in=last_ids).select_related("sender")}
    return [
        {
            "id": room.pk,
            "kind": room.kind,
            "title": room.title,
            "owner": room.owner_id,
            "members": members[room.pk],
            "last_message": message_payload(last[room.last_message_id]) if room.last_message_id in last else None,
            "unread_count": room.unread_count,
        }
        for room in rooms
    ]


def _rooms_of(user: User):
    mine = Membership.objects.filter(room_id=OuterRef("pk"), user_id=user.pk)
    latest = Message.objects.filter(visible_to(user.pk), room_id=OuterRef("pk")).order_by("-id")
    unread = (
        Message.objects.filter(room_id=OuterRef("pk"), id__gt=OuterRef("my_last_read"), withheld=False,
                               deleted_at__isnull=True)
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
            my_last_read=Subquery(mine.values("last_read_id")[:1]),
            my_peer_number_known=Subquery(mine.values("peer_number_known")[:1]),
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


def room_summary(*, room: Room) -> dict:
    """A group as `room.updated` shows it to every member: no per-member fields (last_message,
    unread_count), which clients keep."""
    members = Membership.objects.filter(room=room).select_related("user").order_by("user_id")
    return {"id": room.pk, "kind": room.kind, "title": room.title, "owner": room.owner_id,
            "members": [member_payload(m.user) for m in members]}


def invitation_payload(invitation: Invitation) -> dict:
    """What an invitee sees: the group's name and who invited them, not its members."""
    room = invitation.room
    return {
        "room": {"id": room.pk, "kind": room.kind, "title": room.title},
        "invited_by": member_payload(invitation.invited_by),
        "created_at": iso(invitation.created_at),
    }


def invitations_for_user(*, user: User) -> list[dict]:
    """My pending invitations, newest first (none from people I blocked)."""
    blocked = Block.objects.filter(blocker_id=user.pk, blocked_id=OuterRef("invited_by_id"))
    rows = (Invitation.objects.filter(user=user).exclude(Exists(blocked))
            .select_related("room", "invited_by").order_by("-created_at", "-id"))
    return [invitation_payload(i) for i in rows]


def blocks_for_user(*, user: User) -> list[dict]:
    rows = Block.objects.filter(blocker=user).select_related("blocked").order_by("-created_at", "-id")
    return [member_payload(b.blocked) for b in rows]


def shares_room(*, user_id: int, other_id: int) -> bool:
    """Whether two users are members of one room (then they already see each other)."""
    return Membership.objects.filter(user_id=other_id, room__memberships__user_id=user_id).exists()


def messages_page(*, user: User, room_id: int, before: int | None, after: int | None, limit: int) -> list[dict]:
    """A page of a room's history, ascending by id: just before `before`, just after `after`, or the latest."""
    if not is_member(user_id=user.pk, room_id=room_id):
        raise errors.not_found()
    rows = Message.objects.filter(visible_to(user.pk), room_id=room_id).select_related("sender")
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
    "blocked_ids",
    "blocks_for_user",
    "changes_since",
    "invitation_payload",
    "invitations_for_user",
    "room_summary",
    "shares_room",
    "visible_to",
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
