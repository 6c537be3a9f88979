"""Knowing when a socket's client stops reading, under daphne.

daphne hands every frame a consumer sends straight to Twisted, whose transport buffers without
limit: a client that never reads made the server buffer whole room histories (eight subscribes
grew a process from 130 MB to 760 MB). ASGI has no "buffer full" signal, so the chat consumer
registers a Twisted push producer on its connection: the transport calls `pauseProducing()` once
more than its `bufferSize` (64 KiB) waits unsent, and `resumeProducing()` when it has drained.
Before each send the consumer waits while paused, up to CHAT_SLOW_READER_SECONDS, and then
closes the socket 4408 like a slow live reader (the client resumes from the database).

Reaching the protocol relies on how daphne builds the ASGI `send` callable
(`functools.partial(server.handle_reply, protocol)`); docs/upgrading.md lists it. Under any other
server (uvicorn applies backpressure to `send` itself; Channels' test communicator has no
transport) `attach` returns None and sends are not gated.
"""

from __future__ import annotations

import asyncio
import functools
import logging

logger = logging.getLogger(__name__)


class WriteGate:
    """A Twisted IPushProducer whose state is an asyncio.Event: set while the transport takes more."""

    def __init__(self):
        self.writable = asyncio.Event()
        self.writable.set()

    # Called by Twisted, on the event loop's thread (daphne runs Twisted on asyncio's loop).
    def pauseProducing(self):  # noqa: N802 - Twisted's interface
        self.writable.clear()

    def resumeProducing(self):  # noqa: N802
        self.writable.set()

    def stopProducing(self):  # noqa: N802 - the connection is gone: never keep a sender waiting
        self.writable.set()

    async def wait(self, timeout: float) -> bool:
        """True once the transport takes more data; False if it stayed full for `timeout` seconds."""
        if self.writable.is_set():
            return True
        try:
            await asyncio.wait_for(self.writable.wait(), timeout)
        except TimeoutError:
            return False
        return True


def attach(send) -> WriteGate | None:
    """A WriteGate on the daphne connection behind an ASGI `send`, or None when there is none."""
    if not isinstance(send, functools.partial) or not send.args:
        return None
    protocol = send.args[0]
    register = getattr(protocol, "registerProducer", None)
    if register is None or getattr(protocol, "transport", None) is None:
        return None
    gate = WriteGate()
    try:
        register(gate, True)
    except Exception:  # another producer already registered, or the transport is gone
        logger.debug("no write gate for this socket", exc_info=True)
        return None
    return gate
