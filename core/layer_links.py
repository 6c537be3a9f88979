"""Telling live sockets that the channel layer may have dropped their events.

The pub/sub channel layer delivers an event to a process only while that process's subscriber
connection to Redis is up. When it breaks (Redis restarted or failed over, the connection was reset,
Redis dropped a subscriber over its output-buffer limit), redis-py connects again and subscribes
again by itself, but only when channels-redis's receive loop next asks (up to a second or more after
Redis is back), while publishing works again at once. Whatever is published meanwhile never reaches
this process, and nothing says so: in the issue 21 drill, 544 messages committed in the second after
Redis came back reached no live socket, and the clients' next live message moved their resume
cursor past the hole.

So the rule (docs/websocket.md, "Resuming"): a socket that may have missed an event is closed with
4503, and the client reconnects and resumes from the database with `subscribe` + `after`. The one
signal needed is "a connection that carried this process's subscriptions was lost";
`core.redis_clients` gives the layer's connections a class that reports exactly that to `lost()`.
Every consumer that relies on the layer's events registers here with `add()` and is told through
its `layer_link_lost()`; a consumer registered after a loss is not told about it (its own
subscriptions are made on the new connection), and one that registered before compares `losses`
with what `add()` returned to learn of a loss that came while its handshake was running.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from core import metrics
from core.loops import PerLoop

logger = logging.getLogger(__name__)


class LinkWatch:
    """The sockets of one event loop (a server process's) that depend on the channel layer's events."""

    def __init__(self):
        self.losses = 0
        # Weak: a consumer that ended without disconnect() (cancelled by the server) drops out by itself.
        self.sockets: weakref.WeakSet = weakref.WeakSet()

    def add(self, consumer) -> int:
        """Watch `consumer` (it has a sync `layer_link_lost()`); returns the losses seen so far."""
        self.sockets.add(consumer)
        return self.losses

    def discard(self, consumer) -> None:
        self.sockets.discard(consumer)

    def lost(self) -> None:
        """A subscriber connection was lost: every watched socket may have missed events."""
        self.losses += 1
        told = list(self.sockets)
        metrics.CHANNEL_LAYER_LINK_LOSSES.inc()
        logger.warning("channel layer subscriber connection lost: closing %d sockets to resume", len(told))
        for consumer in told:
            try:
                consumer.layer_link_lost()
            except Exception:  # one socket's failure must not spare the others
                logger.exception("telling a socket about the lost channel layer link failed")


_watches: PerLoop[LinkWatch] = PerLoop(LinkWatch)


def watch() -> LinkWatch:
    """The LinkWatch of the running event loop."""
    return _watches.get()


def lost() -> None:
    """Called by the channel layer's connections when one that carried subscriptions is lost. Never
    raises: it runs inside redis-py's disconnect, which must complete whatever happens here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # a connection dropped outside any loop (garbage collection): no socket waits on it
        return
    try:
        watch().lost()
    except Exception:
        logger.exception("reporting a lost channel layer link failed")
