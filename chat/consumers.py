"""The chat socket, `/ws/chat/`: one socket per client carrying all its rooms.

Thin by design: parse a frame, call one service or selector, reply. The protocol (every frame,
field and close code) is in docs/websocket.md; the reasons behind it in docs/realtime.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from array import array

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.ws import CLOSE_FORBIDDEN, CLOSE_TICKET_USED, CLOSE_UNAUTHENTICATED, SessionBoundConsumerMixin
from core import metrics
from core.db import in_db_pool
from core.errors import ServiceError, error_frame
from core.i18n import language_from_scope
from core.sockets import SEND_ON_CLOSED_ERRORS, SkipDatabaseCleanupMixin

from . import backpressure, errors, limits, presence, selectors, services
from .errors import BACKEND_ERRORS, ChatError
from .payloads import room_group, user_group

logger = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 4408
CLOSE_FRAME_TOO_LARGE = 4413
CLOSE_TOO_MANY_SOCKETS = 4429
CLOSE_TRY_AGAIN_LATER = 1013  # RFC 6455's "Try Again Later": a backend failed during the handshake
# This process's channel layer lost its Redis connection and made it again (a Redis restart, a Sentinel
# failover): live events may have been missed, the client resumes with `after`. An application code
# (4000-4999, "503"): daphne's WebSocket library (autobahn) refuses to send 1012/1013 from a server.
CLOSE_RESUME = 4503
TYPING_THROTTLE_SECONDS = 2
# How many of its latest live message ids a socket remembers, to drop the copy a client's retry of a
# send publishes again (`again`): 512 bytes per socket. A copy older than that reaches the client,
# which de-duplicates by id anyway (docs/websocket.md).
RECENT_LIVE_IDS = 64

__all__ = ["ChatConsumer", "CLOSE_FORBIDDEN", "CLOSE_TICKET_USED", "CLOSE_UNAUTHENTICATED"]


def _room_id(frame: dict) -> int:
    room = frame.get("room")
    if isinstance(room, bool) or not isinstance(room, int) or room < 1:
        raise ChatError("bad_frame", _("room must be a room id."))
    if room > services.MAX_ID:
        raise errors.not_found()  # larger than any id the database holds
    return room


def _message_id(frame: dict) -> int:
    message = frame.get("message")
    if isinstance(message, bool) or not isinstance(message, int) or message < 1:
        raise ChatError("bad_frame", _("message must be a message id."))
    if message > services.MAX_ID:
        raise errors.not_found(_("No such message."))
    return message


# The open chat sockets of this process, with the event loop each runs on.
_open_sockets: "weakref.WeakKeyDictionary[ChatConsumer, asyncio.AbstractEventLoop]" = weakref.WeakKeyDictionary()


def close_sockets_to_resume() -> None:
    """This process's channel layer reconnected to Redis (core.redis_clients.on_channel_layer_reconnect):
    events published while it was away (messages, edits, presence, kicks) never reached its sockets,
    and a client whose socket stays open would not know. Close every chat socket 4503; clients
    reconnect and resume each room with `after`, and the replay brings what the doorbell missed.
    Called in the loop of the connection that reconnected, which may be a request thread's."""
    sockets = list(_open_sockets.items())
    if sockets:
        logger.warning("channel layer reconnected to Redis: closing %d chat sockets %s so that their clients "
                       "resume", len(sockets), CLOSE_RESUME)
    for consumer, loop in sockets:
        if not loop.is_closed():
            loop.call_soon_threadsafe(lambda consumer=consumer: asyncio.ensure_future(consumer._close_to_resume()))


class _Closed(Exception):
    """The socket was closed (4408) while a handler was sending: stop the handler quietly."""


def _dumps(body: dict) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


class ChatConsumer(SkipDatabaseCleanupMixin, SessionBoundConsumerMixin, AsyncWebsocketConsumer):
    """Frames in and out are JSON text; see docs/websocket.md."""

    language = settings.LANGUAGE_CODE  # of the handshake, set in connect()
    # Every ORM call here goes through in_db_pool (database_sync_to_async), which cleans up around
    # itself, so only the handshake and the close keep Channels' cleanup (core.sockets).
    dispatch_with_database_cleanup = ("websocket.connect", "websocket.disconnect")

    async def connect(self):
        self.user = self.scope.get("user")
        # Error details are written in the handshake's language (its language cookie, else
        # Accept-Language): the language of the page that opened the socket.
        self.language = language_from_scope(self.scope)
        # room id -> the last id this socket was caught up to when it subscribed; live events with
        # an id at or below it were already replayed (or predate the subscription) and are dropped.
        self.subscriptions: dict[int, int] = {}
        self.present = False
        self.closed = False
        self.joined_user_group = False
        self.blocked: set[int] | None = None  # users this user blocked; read on the first subscribe
        self.subscribes = limits.SubscribeBucket()
        self.write_gate = None
        self.recent_live = array("q", bytes(8 * RECENT_LIVE_IDS))  # a ring of the latest live message ids
        self.recent_at = 0
        # Everything is decided before the handshake completes, so a client that sees the socket open
        # is counted online everywhere. A refusal still accepts first: a close code (4401, 4429) can
        # only be sent on an open socket; before accept the client would just see HTTP 403.
        try:
            await self._open()
        except BACKEND_ERRORS as exc:
            # What was set up before the failure is undone by disconnect(), as for any socket.
            logger.warning("chat socket refused with %s: %r", CLOSE_TRY_AGAIN_LATER, exc)
            if not self.closed:
                await self.accept()
                await self._close(CLOSE_TRY_AGAIN_LATER)

    async def _open(self) -> None:
        # The ticket is spent last, just before accepting: a handshake that outlasts daphne's limit
        # mostly does so before that, and its client's retry with the same ticket takes it over.
        if not await self.bind_session(spend_ticket=False):
            await self.accept()
            await self._close(self.refusal_code)
            return
        opened = await presence.store().open(
            self.user.pk, self.channel_name, presence.now(),
            settings.CHAT_PRESENCE_TTL_SECONDS, settings.CHAT_MAX_SOCKETS_PER_USER,
        )
        if not opened.accepted:
            await self.accept()
            await self._close(CLOSE_TOO_MANY_SOCKETS)
            return
        self.present = True
        # Every socket of the user hears the live room list, invitations and profile changes.
        await self.channel_layer.group_add(user_group(self.user.pk), self.channel_name)
        self.joined_user_group = True
        beat = presence.heartbeat()
        beat.on_expired = services.presence_announce_offline
        beat.add(self.channel_name, self.user.pk)
        if opened.came_online:
            await services.presence_announce(user_id=self.user.pk, online=True)
        if not await self.spend_ticket():
            # A retry of this handshake (its client gave up on it) holds the ticket now, or a socket
            # opened with it: disconnect() undoes the above, as for any socket.
            await self.accept()
            await self._close(self.refusal_code)
            return
        await self.accept()
        self.write_gate = backpressure.attach(self.base_send)
        _open_sockets[self] = asyncio.get_running_loop()

    async def disconnect(self, code):
        self.closed = True
        _open_sockets.pop(self, None)
        try:
            for room in list(self.subscriptions):
                await self.channel_layer.group_discard(room_group(room), self.channel_name)
            if self.joined_user_group:
                self.joined_user_group = False
                await self.channel_layer.group_discard(user_group(self.user.pk), self.channel_name)
            await self.unbind_session()
        except BACKEND_ERRORS as exc:
            # The channel left its groups in this process before Redis was asked; a Redis
            # subscription left behind only brings events that find no local socket.
            logger.warning("chat socket cleanup failed: %r", exc)
        self.subscriptions.clear()
        if self.present:
            self.present = False
            presence.heartbeat().discard(self.channel_name)
            try:
                went_offline = await presence.store().close(self.user.pk, self.channel_name, presence.now())
                if went_offline:
                    await services.presence_announce(user_id=self.user.pk, online=False)
            except Exception:  # the entry expires by itself and the sweeper announces it
                logger.exception("chat presence close failed")

    async def _close(self, code: int) -> None:
        if not self.closed:
            self.closed = True
            await self.close(code=code)

    async def _close_to_resume(self) -> None:
        _open_sockets.pop(self, None)
        await self._close(CLOSE_RESUME)

    async def _send(self, body: dict) -> None:
        await self._send_text(_dumps(body))

    async def _send_text(self, text: str) -> None:
        """Send unless closed; first wait while the client is not reading (daphne's transport
        buffer is full), and close 4408 if it stays full for CHAT_SLOW_READER_SECONDS."""
        if self.closed:
            raise _Closed
        if self.write_gate is not None and not await self.write_gate.wait(settings.CHAT_SLOW_READER_SECONDS):
            logger.info("chat socket of user %s closed %s: the client stopped reading", self.user.pk, CLOSE_TOO_SLOW)
            await self._close(CLOSE_TOO_SLOW)
            raise _Closed
        try:
            await self.send(text_data=text)
        except SEND_ON_CLOSED_ERRORS as exc:
            # The client closed while an event was on its way (seen in the process-kill drill's
            # teardown): the websocket.disconnect that follows cleans up.
            self.closed = True
            raise _Closed from exc

    async def _error(self, exc: ServiceError, ref=None) -> None:
        await self._send(error_frame(exc, ref))

    # --- frames from the client ------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        # Services run under it too: database_sync_to_async carries the context into their thread.
        with translation.override(self.language):
            await self._receive(text_data, bytes_data)

    async def _receive(self, text_data, bytes_data) -> None:
        raw = text_data if text_data is not None else bytes_data or b""
        size = len(raw.encode("utf-8")) if isinstance(raw, str) else len(raw)
        if size > settings.CHAT_MAX_FRAME_BYTES:
            await self._close(CLOSE_FRAME_TOO_LARGE)
            return
        if self.closed:
            return
        if text_data is None:
            await self._error(ChatError("bad_frame", _("Frames are JSON text, not binary.")))
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self._error(ChatError("bad_frame", _("The frame is not JSON.")))
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self._error(ChatError("bad_frame", _('A frame is a JSON object with a "type".')))
            return
        ref = frame.get("client_id") if isinstance(frame.get("client_id"), str) else None
        handler = self.FRAME_HANDLERS.get(frame["type"])
        if handler is None:
            unknown = _("Unknown frame type %(type)r.") % {"type": frame["type"][:40]}
            await self._error(ChatError("unknown_type", unknown), ref)
            return
        try:
            await handler(self, frame)
        except _Closed:
            return
        except ServiceError as exc:
            await self._quietly(self._error(exc, ref))
        except BACKEND_ERRORS as exc:
            logger.warning("chat frame %r failed: %r", frame["type"][:40], exc)
            await self._quietly(self._error(errors.unavailable(), ref))

    @staticmethod
    async def _quietly(sending) -> None:
        try:
            await sending
        except _Closed:
            pass

    async def _check_member(self, room: int) -> None:
        # A subscription is the membership cache: subscribed sockets are in the room's group and so
        # hear `member_removed` at once. Other rooms are checked in the database each time.
        if room in self.subscriptions:
            return
        if not await in_db_pool(selectors.is_member)(user_id=self.user.pk, room_id=room):
            raise errors.not_found()

    async def on_subscribe(self, frame: dict) -> None:
        room = _room_id(frame)
        after = frame.get("after")
        if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after < 0):
            raise ChatError("bad_frame", _("after must be a message id."))
        wait = self.subscribes.take()
        if wait:
            raise errors.rate_limited(wait, _("Too many subscribes. Try again later."))
        after = None if after is None else min(after, services.MAX_ID)
        # Join the group before reading the database: anything committed after the read arrives
        # live (queued until this handler returns), anything before it is in the replay. Joining
        # before the membership check is safe: events of a room this socket has not subscribed
        # are dropped by _deliver, and a non-member leaves the group again below.
        await self.channel_layer.group_add(room_group(room), self.channel_name)
        # Membership, the replay (or the last id) and the member list: one trip.
        limit = settings.CHAT_REPLAY_LIMIT
        snapshot = await in_db_pool(selectors.subscribe_snapshot)(
            user_id=self.user.pk, room_id=room, after_id=after, limit=limit
        )
        if snapshot is None:
            if room not in self.subscriptions:  # (a subscribed socket hears its removal as an event)
                await self.channel_layer.group_discard(room_group(room), self.channel_name)
            raise errors.not_found()
        last_id, batch, members, changes, more = snapshot
        if self.blocked is None:
            self.blocked = set(await in_db_pool(selectors.blocked_ids)(user_id=self.user.pk))
        # Edits and deletions of messages the client already had, then the messages after its cursor.
        for message in changes:
            kind = "message.deleted" if message.get("deleted") else "message.updated"
            await self._send({"type": kind, "message": message})
        for message in batch:
            await self._send({"type": "message.new", "message": message})
        metrics.CHAT_MESSAGES_DELIVERED.labels("replay").inc(len(batch))
        self.subscriptions[room] = max(last_id, self.subscriptions.get(room, 0))
        if more:
            # The replay stopped at CHAT_REPLAY_LIMIT: the client pages through
            # GET /api/chat/rooms/<room>/messages/?after=<after> for the rest.
            await self._send({"type": "replay.more", "room": room, "after": last_id})
        await self._send({"type": "subscribed", "room": room, "last_id": last_id})
        online = await presence.store().online(members, presence.now())
        await self._send({"type": "presence.state", "room": room, "online": online})

    async def on_unsubscribe(self, frame: dict) -> None:
        room = _room_id(frame)
        if self.subscriptions.pop(room, None) is not None:
            await self.channel_layer.group_discard(room_group(room), self.channel_name)
        await self._send({"type": "unsubscribed", "room": room})

    async def on_message_send(self, frame: dict) -> None:
        room = _room_id(frame)
        client_id = frame.get("client_id")
        if client_id is not None and not isinstance(client_id, str):
            raise ChatError("bad_frame", _("client_id must be a string."))
        text = frame.get("text")
        if not isinstance(text, str):
            raise ChatError("bad_frame", _("text must be a string."))
        # Stored and committed on a database thread, then published by the service (persist, then publish).
        stored = await services.amessage_send(user=self.user, room_id=room, text=text, client_id=client_id)
        await self._send({"type": "message.ack", "client_id": client_id, "message": stored.payload})

    async def on_typing(self, frame: dict) -> None:
        room = _room_id(frame)
        await self._check_member(room)
        await services.typing_send(room_id=room, user_id=self.user.pk, sender_channel=self.channel_name)

    async def on_read(self, frame: dict) -> None:
        room = _room_id(frame)
        message = _message_id(frame)
        await in_db_pool(services.read_mark)(user=self.user, room_id=room, message_id=message)

    async def on_message_edit(self, frame: dict) -> None:
        message = _message_id(frame)
        text = frame.get("text")
        if not isinstance(text, str):
            raise ChatError("bad_frame", _("text must be a string."))
        # The service publishes `message.updated` to the room after commit (this socket too, if subscribed).
        await in_db_pool(services.message_edit)(user=self.user, message_id=message, text=text)

    async def on_message_delete(self, frame: dict) -> None:
        message = _message_id(frame)
        await in_db_pool(services.message_delete)(user=self.user, message_id=message)

    async def on_ping(self, frame: dict) -> None:
        await self._send({"type": "pong"})

    FRAME_HANDLERS = {
        "subscribe": on_subscribe,
        "unsubscribe": on_unsubscribe,
        "message.send": on_message_send,
        "typing": on_typing,
        "read": on_read,
        "message.edit": on_message_edit,
        "message.delete": on_message_delete,
        "ping": on_ping,
    }

    # --- events from the channel layer ---------------------------------------------------------

    def _too_slow(self) -> bool:
        """Whether this socket's undelivered backlog overflowed. The backlog is what the layer
        holds for this channel while our sends wait on a slow client."""
        try:
            layer = self.channel_layer
            layer = layer._get_layer() if hasattr(layer, "_get_layer") else layer
            queue = layer.channels.get(self.channel_name)
            backlog = queue.qsize() if queue is not None else 0
        except Exception:
            return False
        return backlog > settings.CHAT_SEND_QUEUE_LIMIT

    async def _deliver(self, room: int, frame: str) -> bool:
        """Send a room's event frame to this socket; False when it was not sent."""
        if self.closed or room not in self.subscriptions:
            return False
        if self._too_slow():
            # The client resumes from the database with subscribe+after on reconnect.
            await self._close(CLOSE_TOO_SLOW)
            return False
        try:
            await self._send_text(frame)
        except _Closed:
            return False
        return True

    def _not_for_me(self, event) -> bool:
        # A withheld direct message (the peer blocked its sender) and its changes: the sender's only.
        only = event.get("only")
        return only is not None and only != self.user.pk

    async def chat_message(self, event):
        message = event["id"]
        if message <= self.subscriptions.get(event["room"], 1 << 62) or self._not_for_me(event):
            return
        if event.get("again") and message in self.recent_live:
            return  # published again for a retried send; this socket had it
        if await self._deliver(event["room"], event["frame"]):
            self.recent_live[self.recent_at] = message
            self.recent_at = (self.recent_at + 1) % RECENT_LIVE_IDS
            metrics.CHAT_MESSAGES_DELIVERED.labels("live").inc()

    async def chat_event(self, event):
        if self._not_for_me(event):
            return
        await self._deliver(event["room"], event["frame"])

    async def chat_typing(self, event):
        if event["sender"] != self.channel_name and event.get("user") not in (self.blocked or ()):
            await self._deliver(event["room"], event["frame"])

    async def _leave_room(self, room: int) -> bool:
        if self.subscriptions.pop(room, None) is None:
            return False
        await self.channel_layer.group_discard(room_group(room), self.channel_name)
        return True

    async def chat_member_removed(self, event):
        # Through the room's group, so it arrives in order with the room's events: nothing after it.
        room = event["room"]
        if event["user"] != self.user.pk:
            return
        if await self._leave_room(room):
            await self._quietly(self._send({"type": "unsubscribed", "room": room, "reason": "removed"}))

    # --- events of this user (every socket of theirs, on every process) ----------------------------

    async def chat_user_frame(self, event):
        if not self.closed:
            await self._quietly(self._send_text(event["frame"]))

    async def chat_room_removed(self, event):
        room = event["room"]
        if await self._leave_room(room):
            await self._quietly(self._send({"type": "unsubscribed", "room": room, "reason": "removed"}))
        await self.chat_user_frame(event)

    async def chat_user_updated(self, event):
        if event["user"] == self.user.pk:
            # This socket's own messages carry the sender's profile: keep it current.
            self.user.display_name = event["display_name"]
            self.user.avatar = event["avatar"]
        await self.chat_user_frame(event)

    async def chat_blocks(self, event):
        self.blocked = set(event["blocked"])
