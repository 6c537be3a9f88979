"""Writes of the chat app. The socket and the REST API call the same functions, so a message sent
either way is validated, rate limited, persisted and published by one path.

Events are published to the room's group only after the transaction commits (persist, then
publish): the channel layer may drop a frame, the database never does, and clients replay from it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import User
from core import metrics, ratelimit
from core.db import in_db_pool
from core.events import send_many_on_commit, send_on_commit
from core.phone import parse_mobile_number

from . import errors, limits, presence, selectors
from .errors import BACKEND_ERRORS
from .models import Block, Invitation, Membership, Message, Room
from .payloads import frame as _frame
from .payloads import member_payload, message_payload, room_group, user_group

logger = logging.getLogger(__name__)

CLIENT_ID_MAX_LENGTH = 64
TITLE_MAX_LENGTH = 100
GROUP_MAX_MEMBERS_PER_REQUEST = 1000
# The largest value of the BigAutoField ids: a bigger one from a client matches nothing.
MAX_ID = 2**63 - 1


def is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


@dataclass(frozen=True)
class MessageStored:
    payload: dict  # the message as the API and frames show it
    created: bool  # False: an idempotent retry of a stored client_id
    group: str  # the room's group
    event: dict | None  # the channel-layer event to publish once committed (`again` for a retry)


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
    _check_text(text)
    if client_id is not None and (not isinstance(client_id, str) or not 0 < len(client_id) <= CLIENT_ID_MAX_LENGTH):
        raise errors.invalid(
            _("client_id must be a string of 1 to %(max)d characters.") % {"max": CLIENT_ID_MAX_LENGTH}
        )
    if not is_id(room_id):
        raise errors.not_found()
    row = _lock_room_for_send(user_id=user.id, room_id=room_id, client_id=client_id)
    if row is None:
        raise errors.not_found()
    _locked_room, retry_of, withheld = row
    if retry_of is not None:
        message = Message.objects.get(pk=retry_of)
        payload = message_payload(message, user)
        # Published again: the first publish may have died with a server process killed between the
        # commit and the publish, and the client's retry is the only sign of it (issue 21). Sockets
        # that had it drop the copy (ChatConsumer.chat_message).
        event = None if message.deleted_at else _message_new_event(payload, withheld=message.withheld, again=True)
        return MessageStored(payload, False, room_group(room_id), event)
    wait = limits.send_slot(user.id)
    if wait:
        raise errors.rate_limited(wait)
    message = _insert_message(room_id=room_id, sender=user, text=text, client_id=client_id, withheld=withheld)
    transaction.on_commit(metrics.CHAT_MESSAGES_STORED.inc)
    payload = message_payload(message, user)
    return MessageStored(payload, True, room_group(room_id), _message_new_event(payload, withheld=withheld))


def _message_new_event(payload: dict, *, withheld: bool, again: bool = False) -> dict:
    message = payload["id"]
    event = {"type": "chat.message", "room": payload["room"], "id": message,
             "frame": _frame({"type": "message.new", "message": payload})}
    if withheld:
        # The peer blocked the sender: only the sender's own sockets show it (blocking is silent).
        event["only"] = payload["sender"]["id"]
    if again:
        event["again"] = True
    return event


def _check_text(text) -> None:
    if not isinstance(text, str) or not text.strip():
        raise errors.invalid(_("Text must be a non-empty string."))
    if len(text) > settings.CHAT_MAX_TEXT_LENGTH:
        raise errors.too_long(settings.CHAT_MAX_TEXT_LENGTH)


# The two statements of every message sent are written out in SQL: building them through the ORM
# took more CPU than the database spent running them (~40 % of a message's cost in a server process
# under the chat bench). The table names still come from the models.

def _names() -> dict[str, str]:
    quote = transaction.get_connection().ops.quote_name
    return {
        "room": quote(Room._meta.db_table),
        "membership": quote(Membership._meta.db_table),
        "message": quote(Message._meta.db_table),
        "block": quote(Block._meta.db_table),
    }


def _lock_room_for_send(*, user_id: int, room_id: int, client_id: str | None) -> tuple[int, int | None, bool] | None:
    """(room id, id of the message this user already stored under `client_id` or None, whether the
    other member of a direct room blocked this user), with the room row locked until the
    transaction ends; None when there is no such room or the user is no member.

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
        f" WHERE m.room_id = r.id AND m.sender_id = %s AND m.client_id = %s LIMIT 1),"
        f" CASE WHEN r.kind = 'direct' THEN (SELECT COUNT(*) FROM {t['block']} b WHERE b.blocked_id = %s"
        f" AND b.blocker_id = (CASE WHEN r.direct_low_id = %s THEN r.direct_high_id ELSE r.direct_low_id END))"
        f" ELSE 0 END"
        f" FROM {t['room']} r INNER JOIN {t['membership']} ms ON ms.room_id = r.id"
        f" WHERE r.id = %s AND ms.user_id = %s{lock}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id, client_id, user_id, user_id, room_id, user_id])
        row = cursor.fetchone()
    return None if row is None else (row[0], row[1], bool(row[2]))


def _insert_message(*, room_id: int, sender: User, text: str, client_id: str | None, withheld: bool = False) -> Message:
    connection = transaction.get_connection()
    created_at = timezone.now()
    sql = (
        f"INSERT INTO {_names()['message']} (room_id, sender_id, text, created_at, client_id, withheld)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [room_id, sender.pk, text, connection.ops.adapt_datetimefield_value(created_at), client_id,
                             withheld])
        (message_id,) = cursor.fetchone()
    return Message(id=message_id, room_id=room_id, sender=sender, text=text, created_at=created_at,
                   client_id=client_id, withheld=withheld)


async def amessage_send(*, user: User, room_id: int, text: str, client_id: str | None = None) -> MessageStored:
    """`message_send` for the socket: validated, rate limited, stored and committed on a database
    thread (`message_store`), then published to the room from the event loop, so the database thread
    never waits on Redis. The publish is shielded: a socket closing meanwhile does not keep a committed
    message from its room. Raises ChatError like `message_send`.

    A publish that fails is logged, not raised: the message is committed, so its ack stands, and
    subscribers get it from the database on their next subscribe with `after` (the layer is a doorbell).
    """
    stored = await in_db_pool(message_store)(user=user, room_id=room_id, text=text, client_id=client_id)
    if stored.event is not None:
        try:
            await asyncio.shield(get_channel_layer().group_send(stored.group, stored.event))
        except BACKEND_ERRORS as exc:
            metrics.CHANNEL_LAYER_PUBLISH_FAILURES.labels("chat_message").inc()
            logger.warning("chat message %s stored but not published: %r", stored.payload["id"], exc)
    return stored


def message_send(*, user: User, room_id: int, text: str, client_id: str | None = None) -> tuple[dict, bool]:
    """Persist a message from a member and publish `message.new` to the room after commit.

    Returns (message payload, created). The same `client_id` from the same user in the same room
    returns the stored message with created=False and publishes it again, marked `again` (an
    idempotent retry: sockets that had it drop the copy).
    Raises ChatError: invalid, too_long, not_found (not a member), rate_limited.
    """
    with transaction.atomic():
        stored = _message_store(user=user, room_id=room_id, text=text, client_id=client_id)
        if stored.event is not None:
            send_on_commit(stored.group, stored.event)
    return stored.payload, stored.created


# --- Edit and delete -----------------------------------------------------------------------------


def _message_for_change(*, user: User, message_id, room_id: int | None) -> tuple[Message, Room]:
    """The message and its room (locked, like a send, so the revision below is exact), for a member
    who can see it. Anything else is not_found: messages of other rooms cannot be probed."""
    if not is_id(message_id):
        raise errors.invalid(_("message must be a message id."))
    message = Message.objects.filter(pk=message_id).first()
    if message is None or (room_id is not None and message.room_id != room_id):
        raise errors.not_found(_("No such message."))
    room = Room.objects.select_for_update().filter(pk=message.room_id, memberships__user_id=user.pk).first()
    if room is None or (message.withheld and message.sender_id != user.pk):
        raise errors.not_found(_("No such message."))
    return message, room


def _revise(message: Message) -> None:
    # The room's newest id now: every client whose cursor is at most this may have missed the change.
    message.revision = Message.objects.filter(room_id=message.room_id).aggregate(m=Max("id"))["m"]


def _publish_change(message: Message, body: dict) -> None:
    event = {"type": "chat.event", "room": message.room_id, "frame": _frame(body)}
    if message.withheld:
        event["only"] = message.sender_id
    send_on_commit(room_group(message.room_id), event)


def message_edit(*, user: User, message_id, text, room_id: int | None = None) -> dict:
    """The sender changes a message's text within CHAT_EDIT_WINDOW_SECONDS; subscribers get
    `message.updated`. Returns the message as history now shows it."""
    _check_text(text)
    with transaction.atomic():
        message, _room = _message_for_change(user=user, message_id=message_id, room_id=room_id)
        if message.deleted_at is not None:
            raise errors.not_found(_("No such message."))
        if message.sender_id != user.pk:
            raise errors.forbidden(_("Only the sender edits a message."))
        if timezone.now() - message.created_at > timedelta(seconds=settings.CHAT_EDIT_WINDOW_SECONDS):
            raise errors.forbidden(_("A message can be edited for 48 hours after it was sent."))
        message.text = text
        message.edited_at = timezone.now()
        _revise(message)
        message.save(update_fields=["text", "edited_at", "revision"])
        payload = message_payload(message, user)
        _publish_change(message, {"type": "message.updated", "message": payload})
    return payload


def message_delete(*, user: User, message_id, room_id: int | None = None) -> dict:
    """The sender (or the group's owner) deletes a message: its text is erased, its id stays as a
    tombstone `{"id", "room", "deleted": true}`, subscribers get `message.deleted`. Deleting a
    deleted message changes nothing."""
    with transaction.atomic():
        message, room = _message_for_change(user=user, message_id=message_id, room_id=room_id)
        if message.deleted_at is not None:
            return message_payload(message)
        if message.sender_id != user.pk and not (room.kind == Room.Kind.GROUP and room.owner_id == user.pk):
            raise errors.forbidden(_("Only the sender or the group's owner deletes a message."))
        message.deleted_at = timezone.now()
        message.text = ""
        _revise(message)
        message.save(update_fields=["text", "deleted_at", "revision"])
        payload = message_payload(message)
        _publish_change(message, {"type": "message.deleted", "message": payload})
    return payload


# --- Finding people -------------------------------------------------------------------------------


# The refusals of the hourly limits, written when one is hit (in the caller's language).
TOO_MANY_LOOKUPS = gettext_lazy("Too many look-ups by number. Try again later.")
TOO_MANY_ROOMS = gettext_lazy("Too many new rooms. Try again later.")
TOO_MANY_MEMBER_CHANGES = gettext_lazy("Too many member changes. Try again later.")


def _check_limit(key: str, limit: int, detail) -> None:
    verdict = ratelimit.consume(key, ratelimit.Rate(limit, 3600))
    if not verdict.allowed:
        raise errors.rate_limited(verdict.retry_after, str(detail))


def _by_number(*, actor: User, mobile_number) -> User:
    """The registered user of a number typed by `actor`. Every look-up counts against the actor's
    CHAT_NUMBER_LOOKUPS_PER_HOUR (across processes): numbers cannot be tried in bulk."""
    if not isinstance(mobile_number, str):
        raise errors.invalid(_("mobile_number must be a string."))
    try:
        number = parse_mobile_number(mobile_number)
    except ValidationError as exc:
        raise errors.invalid(" ".join(exc.messages)) from None
    _check_limit(f"chat:lookup:{actor.pk}", settings.CHAT_NUMBER_LOOKUPS_PER_HOUR, TOO_MANY_LOOKUPS)
    found = User.objects.filter(mobile_number=number, is_active=True).first()
    if found is None:
        raise errors.not_registered()
    return found


def _by_id(*, actor: User, user_id) -> User:
    """A user by id, only among the people who share a room with `actor` (they see each other
    already). Everyone else answers like an id nobody has: walking ids reveals nothing."""
    if not is_id(user_id):
        raise errors.invalid(_("user_id must be a user id."))
    found = None
    if user_id == actor.pk or selectors.shares_room(user_id=actor.pk, other_id=user_id):
        found = User.objects.filter(pk=user_id, is_active=True).first()
    if found is None:
        raise errors.user_not_found()
    return found


def _resolve(*, actor: User, user_id=None, mobile_number=None) -> tuple[User, bool]:
    """(user, found by number)."""
    if user_id is not None:
        return _by_id(actor=actor, user_id=user_id), False
    if mobile_number is not None:
        return _by_number(actor=actor, mobile_number=mobile_number), True
    raise errors.invalid(_("Give user_id or mobile_number."))


def _blocks(*, blocker_id: int, blocked_id: int) -> bool:
    return Block.objects.filter(blocker_id=blocker_id, blocked_id=blocked_id).exists()


# --- Live room list --------------------------------------------------------------------------------


def _room_added(user: User, room_id: int) -> tuple[str, dict]:
    # Built now, in the transaction (the room as this member sees it); sent after commit.
    body = {"type": "room.added", "room": selectors.room_for_member(user=user, room_id=room_id)}
    return user_group(user.pk), {"type": "chat.user_frame", "frame": _frame(body)}


def _room_updated(room: Room, user_ids) -> list[tuple[str, dict]]:
    body = _frame({"type": "room.updated", "room": selectors.room_summary(room=room)})
    return [(user_group(uid), {"type": "chat.user_frame", "frame": body}) for uid in user_ids]


def _room_removed(room_id: int, user_id: int) -> tuple[str, dict]:
    return user_group(user_id), {"type": "chat.room_removed", "room": room_id,
                                 "frame": _frame({"type": "room.removed", "room": room_id})}


def _member_ids(room: Room) -> list[int]:
    return selectors.member_ids(room_id=room.pk)


def _last_id(room_id: int) -> int:
    return selectors.last_message_id(room_id=room_id)


# --- Rooms ---------------------------------------------------------------------------------------


def room_direct_open(*, user: User, user_id: int | None = None, mobile_number: str | None = None) -> tuple[Room, bool]:
    """The one direct room of (user, other): (room, created). Opened by the other's number (a
    limited look-up), or by user id only for someone who already shares a room with `user`.
    Concurrent calls for one pair agree, because the ordered pair is unique in the database and the
    loser of the race reads the winner's row. Both members' sockets get `room.added` (not a member
    who blocked the opener: blocking is silent)."""
    other, by_number = _resolve(actor=user, user_id=user_id, mobile_number=mobile_number)
    if other.pk == user.pk:
        raise errors.invalid(_("A direct room needs another user."))
    low, high = sorted([user.pk, other.pk])
    existing = Room.objects.filter(kind=Room.Kind.DIRECT, direct_low_id=low, direct_high_id=high).first()
    if existing is not None:
        if by_number:
            Membership.objects.filter(room=existing, user=user, peer_number_known=False).update(peer_number_known=True)
        return existing, False
    _check_limit(f"chat:rooms:{user.pk}", settings.CHAT_ROOMS_PER_HOUR, TOO_MANY_ROOMS)
    try:
        with transaction.atomic():
            room = Room.objects.create(kind=Room.Kind.DIRECT, direct_low_id=low, direct_high_id=high)
            Membership.objects.bulk_create([
                Membership(room=room, user=user, peer_number_known=by_number),
                Membership(room=room, user=other),
            ])
            events = [_room_added(user, room.pk)]
            if not _blocks(blocker_id=other.pk, blocked_id=user.pk):
                events.append(_room_added(other, room.pk))
            send_many_on_commit(events)
    except IntegrityError:
        room = Room.objects.get(kind=Room.Kind.DIRECT, direct_low_id=low, direct_high_id=high)
        if by_number:
            Membership.objects.filter(room=room, user=user, peer_number_known=False).update(peer_number_known=True)
        return room, False
    return room, True


def _check_title(title) -> str:
    if not isinstance(title, str) or not title.strip():
        raise errors.invalid(_("A group needs a title."))
    if len(title.strip()) > TITLE_MAX_LENGTH:
        raise errors.invalid(_("The title is longer than %(max)d characters.") % {"max": TITLE_MAX_LENGTH})
    return title.strip()


def _invite(*, room: Room, inviter: User, user: User) -> list[tuple[str, dict]]:
    """Invite `user` (no frame to someone who blocked the inviter, and no invitation at all:
    blocking is silent). Returns the events to publish."""
    if _blocks(blocker_id=user.pk, blocked_id=inviter.pk):
        return []
    invitation, created = Invitation.objects.get_or_create(room=room, user=user, defaults={"invited_by": inviter})
    if not created:
        return []
    body = {"type": "room.invited", "invitation": selectors.invitation_payload(invitation)}
    return [(user_group(user.pk), {"type": "chat.user_frame", "frame": _frame(body)})]


def room_group_create(*, owner: User, title: str, members: list) -> Room:
    """A group owned by `owner` (always a member). Of the `members` (user ids of people who share a
    room with the owner, or mobile numbers), those who share a room with the owner are added; the
    others are invited (`room.invited`) and join only if they accept."""
    title = _check_title(title)
    if not isinstance(members, list) or len(members) > GROUP_MAX_MEMBERS_PER_REQUEST:
        raise errors.invalid(
            _("members must be a list of at most %(max)d user ids or mobile numbers.") % {"max": GROUP_MAX_MEMBERS_PER_REQUEST}
        )
    chosen: dict[int, User] = {}
    for item in members:
        if is_id(item):
            user = _by_id(actor=owner, user_id=item)
        elif isinstance(item, str):
            user = _by_number(actor=owner, mobile_number=item)
        else:
            raise errors.invalid(_("members must be user ids or mobile numbers."))
        if user.pk != owner.pk:
            chosen[user.pk] = user
    _check_limit(f"chat:rooms:{owner.pk}", settings.CHAT_ROOMS_PER_HOUR, TOO_MANY_ROOMS)
    # Added directly: people who share a room with the owner and have not blocked them. Everyone
    # else is invited (someone who blocked the owner gets nothing: blocking is silent).
    contacts = set(
        Membership.objects.filter(user_id__in=list(chosen), room__memberships__user_id=owner.pk)
        .values_list("user_id", flat=True)
    ) - set(Block.objects.filter(blocker_id__in=list(chosen), blocked_id=owner.pk).values_list("blocker_id", flat=True))
    with transaction.atomic():
        room = Room.objects.create(kind=Room.Kind.GROUP, title=title, owner=owner)
        added = [owner] + [user for uid, user in sorted(chosen.items()) if uid in contacts]
        Membership.objects.bulk_create([Membership(room=room, user=user) for user in added])
        # A new group looks the same to every member (no messages, nothing unread, no numbers):
        # its room.added is built once.
        _owner_group, added_event = _room_added(owner, room.pk)
        events = [(user_group(user.pk), added_event) for user in added]
        for uid, user in sorted(chosen.items()):
            if uid not in contacts:
                events += _invite(room=room, inviter=owner, user=user)
        send_many_on_commit(events)
    return room


def _group_of_member(*, actor: User, room_id, lock: bool = False) -> Room:
    if not is_id(room_id):
        raise errors.not_found()
    rooms = Room.objects.select_for_update() if lock else Room.objects
    room = rooms.filter(pk=room_id, memberships__user_id=actor.pk).first()
    if room is None:
        raise errors.not_found()
    if room.kind != Room.Kind.GROUP:
        raise errors.invalid(_("Members of a direct room cannot change."))
    return room


def _join(room: Room, user: User) -> bool:
    """Make `user` a member; their read marker starts at the room's newest message (joining does
    not make the whole history unread). False if they already were one."""
    _membership, created = Membership.objects.get_or_create(room=room, user=user, defaults={"last_read_id": _last_id(room.pk)})
    Invitation.objects.filter(room=room, user=user).delete()
    return created


def room_member_add(*, actor: User, room_id: int, user_id=None, mobile_number=None) -> tuple[Room, str]:
    """The owner adds someone: (room, outcome) with outcome "added", "member" (already one) or
    "invited" (they share no room with the owner: an invitation, `room.invited`)."""
    with transaction.atomic():
        room = _group_of_member(actor=actor, room_id=room_id, lock=True)
        if room.owner_id != actor.pk:
            raise errors.forbidden(_("Only the owner adds members."))
        user, _found_by_number = _resolve(actor=actor, user_id=user_id, mobile_number=mobile_number)
        if Membership.objects.filter(room=room, user=user).exists():
            return room, "member"
        _check_limit(f"chat:members:{actor.pk}", settings.CHAT_MEMBER_CHANGES_PER_HOUR, TOO_MANY_MEMBER_CHANGES)
        if not selectors.shares_room(user_id=actor.pk, other_id=user.pk) or _blocks(blocker_id=user.pk, blocked_id=actor.pk):
            send_many_on_commit(_invite(room=room, inviter=actor, user=user))
            return room, "invited"
        others = _member_ids(room)
        _join(room, user)
        send_many_on_commit([_room_added(user, room.pk)] + _room_updated(room, others))
    return room, "added"


def room_member_remove(*, actor: User, room_id: int, user_id: int) -> None:
    """The owner removes a member, or a member leaves (removes themself). An owner who leaves hands
    the group to its longest-standing member; the last member leaving deletes it. The removed
    member's sockets, on every process, stop getting the room's events as soon as the event
    arrives (`unsubscribed` with reason "removed") and get `room.removed`; the others `room.updated`."""
    if not is_id(user_id):
        raise errors.ChatError("user_not_found", _("That user is not a member."), status=404)
    with transaction.atomic():
        room = _group_of_member(actor=actor, room_id=room_id, lock=True)
        leaving = user_id == actor.pk
        if not leaving and room.owner_id != actor.pk:
            raise errors.forbidden(_("Only the owner removes members."))
        if not leaving:
            _check_limit(f"chat:members:{actor.pk}", settings.CHAT_MEMBER_CHANGES_PER_HOUR, TOO_MANY_MEMBER_CHANGES)
        deleted, _by_model = Membership.objects.filter(room=room, user_id=user_id).delete()
        if not deleted:
            raise errors.ChatError("user_not_found", _("That user is not a member."), status=404)
        events = [
            (room_group(room.pk), {"type": "chat.member_removed", "room": room.pk, "user": user_id}),
            _room_removed(room.pk, user_id),
        ]
        remaining = Membership.objects.filter(room=room).order_by("joined_at", "id").values_list("user_id", flat=True)
        remaining = list(remaining)
        if not remaining:
            room.delete()
        else:
            if room.owner_id == user_id:
                room.owner_id = remaining[0]
                room.save(update_fields=["owner"])
            events += _room_updated(room, remaining)
        send_many_on_commit(events)


def room_update(*, actor: User, room_id: int, title=None, owner_id=None) -> Room:
    """The owner renames the group and/or hands it over to another member; every member's
    sockets get `room.updated`."""
    if title is None and owner_id is None:
        raise errors.invalid(_("Give a title or an owner."))
    with transaction.atomic():
        room = _group_of_member(actor=actor, room_id=room_id, lock=True)
        if room.owner_id != actor.pk:
            raise errors.forbidden(_("Only the owner changes the group."))
        fields = []
        if title is not None:
            room.title = _check_title(title)
            fields.append("title")
        if owner_id is not None:
            if not is_id(owner_id) or not Membership.objects.filter(room=room, user_id=owner_id).exists():
                raise errors.ChatError("user_not_found", _("The new owner must be a member."), status=404)
            _check_limit(f"chat:members:{actor.pk}", settings.CHAT_MEMBER_CHANGES_PER_HOUR, TOO_MANY_MEMBER_CHANGES)
            room.owner_id = owner_id
            fields.append("owner")
        room.save(update_fields=fields)
        send_many_on_commit(_room_updated(room, _member_ids(room)))
    return room


def invitation_accept(*, user: User, room_id) -> Room:
    """Join the group of a pending invitation: `room.added` to my sockets, `room.updated` to the others'."""
    with transaction.atomic():
        invitation = (Invitation.objects.select_for_update().select_related("room")
                      .filter(room_id=room_id, user=user).first()) if is_id(room_id) else None
        if invitation is None or _blocks(blocker_id=user.pk, blocked_id=invitation.invited_by_id):
            raise errors.not_found(_("No such invitation."))
        room = invitation.room
        others = _member_ids(room)
        _join(room, user)
        send_many_on_commit([_room_added(user, room.pk)] + _room_updated(room, others))
    return room


def invitation_decline(*, user: User, room_id) -> None:
    """Drop a pending invitation; the inviter is not told."""
    deleted = Invitation.objects.filter(room_id=room_id, user=user).delete()[0] if is_id(room_id) else 0
    if not deleted:
        raise errors.not_found(_("No such invitation."))


# --- Blocks -----------------------------------------------------------------------------------------


def _blocks_changed(user: User) -> tuple[str, dict]:
    return user_group(user.pk), {"type": "chat.blocks", "blocked": selectors.blocked_ids(user_id=user.pk)}


def block_add(*, user: User, user_id) -> tuple[dict, bool]:
    """Block someone I can see (who shares a room with me or invited me): no direct messages,
    invitations or typing from them from now on. Silent: nothing tells them. (blocked user, created)."""
    if not is_id(user_id) or user_id == user.pk:
        raise errors.invalid(_("user_id must be the id of another user."))
    visible = selectors.shares_room(user_id=user.pk, other_id=user_id) or Invitation.objects.filter(
        user=user, invited_by_id=user_id).exists()
    other = User.objects.filter(pk=user_id).first() if visible else None
    if other is None:
        raise errors.user_not_found()
    with transaction.atomic():
        _block, created = Block.objects.get_or_create(blocker=user, blocked=other)
        Invitation.objects.filter(user=user, invited_by=other).delete()
        send_many_on_commit([_blocks_changed(user)])
    return member_payload(other), created


def block_remove(*, user: User, user_id) -> None:
    with transaction.atomic():
        deleted = Block.objects.filter(blocker=user, blocked_id=user_id).delete()[0] if is_id(user_id) else 0
        if not deleted:
            raise errors.user_not_found()
        send_many_on_commit([_blocks_changed(user)])


# --- Profiles -----------------------------------------------------------------------------------------


def profile_publish(*, user: User) -> None:
    """`user.updated` to every socket of the people who share a room with `user`, and to the user's
    own (each socket once), after the profile change commits."""
    contacts = set(
        Membership.objects.filter(room__memberships__user_id=user.pk).values_list("user_id", flat=True)
    )
    contacts.add(user.pk)
    body = _frame({"type": "user.updated", "user": member_payload(user)})
    event = {"type": "chat.user_updated", "user": user.pk, "display_name": user.display_name,
             "avatar": user.avatar, "frame": body}
    send_many_on_commit([(user_group(uid), event) for uid in sorted(contacts)])


def read_mark(*, user: User, room_id: int, message_id: int) -> bool:
    """Move the member's read marker forward to `message_id` (never back). Publishes `read` when it moved."""
    if not is_id(message_id):
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


# --- Presence and typing (from the socket, on the event loop) -----------------------------------


async def presence_announce(*, user_id: int, online: bool) -> None:
    """Tell every room of the user that their first socket opened or last socket closed."""
    layer = get_channel_layer()
    rooms = await in_db_pool(selectors.room_ids_of_user)(user_id=user_id)
    for room in rooms:
        body = _frame({"type": "presence", "room": room, "user": user_id, "online": online})
        await layer.group_send(room_group(room), {"type": "chat.event", "room": room, "frame": body})


async def presence_announce_offline(user_ids: list[int]) -> None:
    """Users whose last socket's presence entry expired (a process died): offline in their rooms."""
    for user_id in user_ids:
        await presence_announce(user_id=user_id, online=False)


async def typing_send(*, room_id: int, user_id: int, sender_channel: str) -> bool:
    """Relay a typing notice to the room (not back to `sender_channel`), at most one per user per
    room per 2 s across processes. False when throttled."""
    if not await presence.typing_allowed(room_id=room_id, user_id=user_id):
        return False
    body = _frame({"type": "typing", "room": room_id, "user": user_id})
    await get_channel_layer().group_send(
        room_group(room_id),
        {"type": "chat.typing", "room": room_id, "sender": sender_channel, "user": user_id, "frame": body},
    )
    return True
