"""What every hotline WebSocket consumer shares."""

from __future__ import annotations

from channels.consumer import get_handler_name


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
