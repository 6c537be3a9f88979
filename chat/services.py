"""Writes of the chat app. The socket and the REST API call the same functions, so a message sent
either way is validated, rate limited, persisted and published by one path.

Events are published to the room's group only after the transaction commits (persist, then
publish): the channel layer may drop a frame, the database never does, and clients replay from it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core.phone import parse_mobile_number
from core.events import send_on_commit

from . import errors, limits
from .models import Membership, Message, Room

logger = logging.getLogger(__name__)

CLIENT_ID_MAX_LENGTH = 64


def room_group(room_id: int) -> str:
    """The one channel-layer group of a room: every subscribed socket, on every process."""
    return f"chat.room.{room_id}"


def user_payload(user: User) -> dict:
    return {"id": user.id, "mobile_number": str(user.mobile_number)}


def message_payload(message: Message, sender: User | None = None) -> dict:
    sender = sender or message.sender
    return {
        "id": message.id,
        "room": message.room_id,
        "sender": user_payload(sender),
        "text": message.text,
        "created_at": message.created_at.isoformat().replace("+00:00", "Z"),
        "client_id": message.client_id,
    }


def _frame(body: dict) -> str:
    # Encoded once by the publisher; every socket sends the same text (no per-socket json.dumps).
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class MessageStored:
    payload: dict  # the message as the API and frames show it
    created: bool  # False: an idempotent retry of a stored client_id
    group: str  # the room's group
    event: dict | None  # the channel-layer event to publish once committed (None for a retry)


def message_store(*, user: User, room_id: int, text: str, client_id: str | None = None) -> MessageStored:
    """Validate, rate limit and persist a message from a member, in its own transaction, and hand
    back the `message.new` event instead of publishing it: the caller publishes it after this
    returns (committed). The socket does so on its event loop, so the database thread never waits
    on Redis. Must not run inside an outer transaction (it would publish uncommitted data).

    Raises ChatError like `message_send`.
    """
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("message_store commits by itself; inside a transaction use message_send.")
    with transaction.atomic():
        return _message_store(user=user, room_id=room_id, text=text, client_id=client_id)


def _message_store(*, user: User, room_id: int, text: str, client_id: str | None) -> MessageStored:
    # Runs inside the caller's transaction.
    if not isinstance(text, str) or not text.strip():
        raise errors.invalid(_("Text must be a non-empty string."))
    if len(text) > settings.CHAT_MAX_TEXT_LENGTH:
        raise errors.too_long(settings.CHAT_MAX_TEXT_LENGTH)
    if client_id is not None and (not isinstance(client_id, str) or not 0 < len(client_id) <= CLIENT_ID_MAX_LENGTH):
        raise errors.invalid(_("client_id must be a string of 1 to %(max)d characters.") % {"max": CLIENT_ID_MAX_LENGTH})
    row = _lock_room_for_send(user_id=user.id, room_id=room_id, client_id=client_id)
    if row is None:
        raise errors.not_found()
    if row[1] is not None:
        return MessageStored(message_payload(Message.objects.get(pk=row[1]), user), False, room_group(room_id), None)
    wait = limits.send_slot(user.id)
    if wait:
        raise errors.rate_limited(wait)
    message = _insert_message(room_id=room_id, sender=user, text=text, client_id=client_id)
    payload = message_payload(message, user)
    event = {"type": "chat.message", "room": room_id, "id": message.id,
             "frame": _frame({"type": "message.new", "message": payload})}
    return MessageStored(payload, True, room_group(room_id), event)


# The two statements of every message sent are written out in SQL: building them through the ORM
# took more CPU than the database spent running them (~40 % of a message's cost in a server process
# under the chat bench). The table names still come from the models.

def _names() -> dict[str, str]:
    quote = transaction.get_connection().ops.quote_name
    return {
        "room": quote(Room._meta.db_table),
        "membership": quote(Membership._meta.db_table),
        "message": quote(Message._meta.db_table),
    }


def _lock_room_for_send(*, user_id: int, room_id: int, client_id: str | None) -> tuple[int, int | None] | None:
    """(room id, id of the message this user already stored under `client_id`, or None), with the room
    row locked until the transaction ends; None when there is no such room or the user is no member.

    The lock (taken with the membership check, in one query) makes one room's messages commit in id
    order, so a replay "after LAST_ID" can never skip a message whose smaller id committed late. It
    also serialises two retries of one client_id, whose earlier message the same query looks up.
    SQLite has no row locks; its write transactions are serialised whole (`transaction_mode`).
    """
    connection = transaction.get_connection()
    t = _names()
    lock = " FOR UPDATE OF r" if connection.features.has_select_for_update_of else ""
    sql = (
        f"SELECT r.id, (SELECT m.id FROM {t['message']} m"
        f" WHERE m.room_id = r.id AND m.sender_id = %s AND m.client_id = %s LIMIT 1)"
        f" FROM {t['room']} r INNER JOIN {t['membership']} ms ON ms.room_id = r.id"
        f" WHERE r.id = %s AND ms.user_id = %s{lock}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id, client_id, room_id, user_id])
        row = cursor.fetchone()
    return None if row is None else (row[0], row[1])


def _insert_message(*, room_id: int, sender: User, text: str, client_id: str | None) -> Message:
    connection = transaction.get_connection()
    created_at = timezone.now()
    sql = (
        f"INSERT INTO {_names()['message']} (room_id, sender_id, text, created_at, client_id)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [room_id, sender.pk, text, connection.ops.adapt_datetimefield_value(created_at), client_id])
        (message_id,) = cursor.fetchone()
    return Message(id=message_id, room_id=room_id, sender=sender, text=text, created_at=created_at, client_id=client_id)


def message_send(*, user: User, room_id: int, text: str, client_id: str | None = None) -> tuple[dict, bool]:
    """Persist a message from a member and publish `message.new` to the room after commit.

    Returns (message payload, created). The same `client_id` from the same user in the same room
    returns the stored message with created=False and publishes nothing again (an idempotent retry).
    Raises ChatError: invalid, too_long, not_found (not a member), rate_limited.
    """
    with transaction.atomic():
        stored = _message_store(user=user, room_id=room_id, text=text, client_id=client_id)
        if stored.event is not None:
            send_on_commit(stored.group, stored.event)
    return stored.payload, stored.created


def _resolve_user(*, user_id=None, mobile_number=None) -> User:
    if user_id is not None:
        if isinstance(user_id, bool) or not isinstance(user_id, int):
            raise errors.invalid(_("user_id must be an integer."))
        found = User.objects.filter(pk=user_id, is_active=True).first()
    elif mobile_number is not None:
        try:
            number = parse_mobile_number(mobile_number)
        except ValidationError as exc:
            raise errors.invalid(" ".join(exc.messages)) from None
        found = User.objects.filter(mobile_number=number, is_active=True).first()
    else:
        raise errors.invalid(_("Give user_id or mobile_number."))
    if found is None:
        raise errors.ChatError("user_not_found", _("No such user."), status=404)
    return found


def room_direct_open(*, user: User, user_id: int | None = None, mobile_number: str | None = None) -> tuple[Room, bool]:
    """The one direct room of (user, other): (room, created). Concurrent calls for one pair agree,
    because the ordered pair is unique in the database and the loser of the race reads the winner's row."""
    other = _resolve_user(user_id=user_id, mobile_number=mobile_number)
    if other.pk == user.pk:
        raise errors.invalid(_("A direct room needs another user."))
    low, high = sorted([user.pk, other.pk])
    existing = Room.objects.filter(kind=Room.Kind.DIRECT, direct_low_id=low, direct_high_id=high).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            room = Room.objects.create(kind=Room.Kind.DIRECT, direct_low_id=low, direct_high_id=high)
            Membership.objects.bulk_create([Membership(room=room, user_id=low), Membership(room=room, user_id=high)])
    except IntegrityError:
        return Room.objects.get(kind=Room.Kind.DIRECT, direct_low_id=low, direct_high_id=high), False
    return room, True


def room_group_create(*, owner: User, title: str, members: list) -> Room:
    """A group room owned by `owner` (always a member) with the given user ids or mobile numbers."""
    if not isinstance(title, str) or not title.strip():
        raise errors.invalid(_("A group needs a title."))
    if len(title) > 100:
        raise errors.invalid(_("The title is longer than 100 characters."))
    if not isinstance(members, list) or len(members) > 1000:
        raise errors.invalid(_("members must be a list of at most 1000 user ids or mobile numbers."))
    users = {owner.pk}
    for item in members:
        if isinstance(item, int) and not isinstance(item, bool):
            users.add(_resolve_user(user_id=item).pk)
        elif isinstance(item, str):
            users.add(_resolve_user(mobile_number=item).pk)
        else:
            raise errors.invalid(_("members must be user ids or mobile numbers."))
    with transaction.atomic():
        room = Room.objects.create(kind=Room.Kind.GROUP, title=title.strip(), owner=owner)
        Membership.objects.bulk_create([Membership(room=room, user_id=uid) for uid in sorted(users)])
    return room


def _owned_group(*, actor: User, room_id: int) -> Room:
    room = Room.objects.filter(pk=room_id, memberships__user_id=actor.pk).first()
    if room is None:
        raise errors.not_found()
    if room.kind != Room.Kind.GROUP:
        raise errors.invalid(_("Members of a direct room cannot change."))
    return room


def room_member_add(*, actor: User, room_id: int, user_id=None, mobile_number=None) -> tuple[Room, bool]:
    """The owner adds a member: (room, added). Adding a member twice changes nothing."""
    room = _owned_group(actor=actor, room_id=room_id)
    if room.owner_id != actor.pk:
        raise errors.forbidden(_("Only the owner adds members."))
    user = _resolve_user(user_id=user_id, mobile_number=mobile_number)
    _membership, created = Membership.objects.get_or_create(room=room, user=user)
    return room, created


def room_member_remove(*, actor: User, room_id: int, user_id: int) -> None:
    """The owner removes a member (a member may also remove themself, i.e. leave). The removed
    member's sockets, on every process, drop the room as soon as the event arrives."""
    room = _owned_group(actor=actor, room_id=room_id)
    if room.owner_id != actor.pk and user_id != actor.pk:
        raise errors.forbidden(_("Only the owner removes members."))
    if user_id == room.owner_id:
        raise errors.invalid(_("The owner cannot be removed."))
    with transaction.atomic():
        deleted, _by_model = Membership.objects.filter(room=room, user_id=user_id).delete()
        if not deleted:
            raise errors.ChatError("user_not_found", _("That user is not a member."), status=404)
        send_on_commit(room_group(room.pk), {"type": "chat.member_removed", "room": room.pk, "user": user_id})


def read_mark(*, user: User, room_id: int, message_id: int) -> bool:
    """Move the member's read marker forward to `message_id` (never back). Publishes `read` when it moved."""
    if isinstance(message_id, bool) or not isinstance(message_id, int) or message_id < 1:
        raise errors.invalid(_("message must be a message id."))
    with transaction.atomic():
        if not Membership.objects.filter(room_id=room_id, user_id=user.pk).exists():
            raise errors.not_found()
        if not Message.objects.filter(pk=message_id, room_id=room_id).exists():
            raise errors.not_found(_("No such message in this room."))
        moved = Membership.objects.filter(room_id=room_id, user_id=user.pk, last_read_id__lt=message_id).update(
            last_read_id=message_id
        )
        if moved:
            send_on_commit(
                room_group(room_id),
                {"type": "chat.event", "room": room_id,
                 "frame": _frame({"type": "read", "room": room_id, "user": user.pk, "message": message_id})},
            )
    return bool(moved)
