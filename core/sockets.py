"""What every hotline WebSocket consumer shares."""

from __future__ import annotations

import logging

from channels.consumer import get_handler_name

from core.errors import BACKEND_ERRORS

logger = logging.getLogger(__name__)

# Redis or the database failed (during the handshake, or under a live socket: the channel layer's link
# to Redis was lost, core.layer_links). The client reconnects after a backoff with jitter, then resumes
# with `subscribe` + `after` (docs/websocket.md). Not RFC 6455's 1013 "Try Again Later": daphne's
# autobahn refuses to send it (the client saw 1011 and the log a traceback).
CLOSE_BACKEND_UNAVAILABLE = 4503


class SkipDatabaseCleanupMixin:
    """Channels' `AsyncConsumer.dispatch` without its database cleanup, except for the message types
    in `dispatch_with_database_cleanup`.

    Channels 4.2+ runs `close_old_connections()` in the database thread before EVERY handler,
    channel-layer events included: one thread hop per delivered message per socket, all queued on the
    one database thread (a 1,000-member fan-out was 1,000 hops). A consumer whose ORM work all goes
    through `database_sync_to_async` (or `core.db.in_db_pool`, which cleans up around each call)
    does not need it; one that never touches the database needs it for nothing.

    What it costs: this is Channels' `dispatch` copied without the cleanup (docs/upgrading.md lists
    it): a change there (a new hook before handlers) must be carried over here by hand.
    """

    # Message types that keep Channels' dispatch, cleanup included (e.g. the handshake and the close).
    dispatch_with_database_cleanup: tuple[str, ...] = ()

    async def dispatch(self, message):
        if message["type"] in self.dispatch_with_database_cleanup:
            return await super().dispatch(message)
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


try:  # daphne's WebSocket protocol (autobahn) raises this for a send after the client's close frame
    from autobahn.exception import Disconnected as _AutobahnDisconnected
except ImportError:  # another server
    _AutobahnDisconnected = OSError

# What `send()` raises when the client has just gone (its close frame arrived, the connection's end
# not yet seen by the server): ASGI servers raise an OSError subclass, daphne autobahn's
# Disconnected. A consumer treats it as closed; it is not a crash (no traceback, cleanup runs).
SEND_ON_CLOSED_ERRORS: tuple[type[BaseException], ...] = (OSError, _AutobahnDisconnected)


class BackendFailureMiddleware:
    """ASGI middleware for WebSockets: a Redis or database error that escapes the application inside
    it ends the socket with CLOSE_BACKEND_UNAVAILABLE (4503), never daphne's HTTP 500 (before the
    handshake was accepted) or 1011 with a traceback (after).

    It catches what no consumer can: the ticket, JWT and session look-ups of the authentication
    middleware, and Channels' `new_channel()` (a channel-layer subscribe) that runs before the
    consumer's `connect()`. A close code can only be sent on an open socket, so a handshake not yet
    accepted is accepted first (as the consumers do for their own refusals). The wrapped `send`
    keeps `__wrapped__`, which chat's backpressure follows to daphne's transport.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        state = {"connect": False, "accepted": False, "closed": False}

        async def tracked_receive():
            message = await receive()
            if message["type"] == "websocket.connect":
                state["connect"] = True
            elif message["type"] == "websocket.disconnect":
                state["closed"] = True
            return message

        async def tracked_send(message):
            if message["type"] == "websocket.accept":
                state["accepted"] = True
            elif message["type"] == "websocket.close":
                state["closed"] = True
            await send(message)

        tracked_send.__wrapped__ = send
        try:
            return await self.app(scope, tracked_receive, tracked_send)
        except BACKEND_ERRORS as exc:
            if state["closed"]:
                return None
            logger.warning("socket %s closed %s: %r", scope.get("path", ""), CLOSE_BACKEND_UNAVAILABLE, exc)
            try:
                if not state["connect"] and (await receive())["type"] != "websocket.connect":
                    return None  # the client left before its handshake was read
                if not state["accepted"]:
                    await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": CLOSE_BACKEND_UNAVAILABLE})
            except (*SEND_ON_CLOSED_ERRORS, RuntimeError):  # the client has gone meanwhile: nothing to tell
                pass
            return None
