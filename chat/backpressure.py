"""Knowing when a socket's client stops reading, under daphne.

daphne hands every frame a consumer sends straight to Twisted, whose transport buffers without
limit: a client that never reads made the server buffer whole room histories (eight subscribes
grew a process from 130 MB to 760 MB). ASGI has no "buffer full" signal. Twisted has one: the
connection's transport pauses its registered push producer (daphne's `HTTPChannel`, which
upgraded the request to a WebSocket) once more than its `bufferSize` (64 KiB) waits unsent, and
says so in `producerPaused` until the buffer has drained. Before each send the chat consumer
waits while that is set, up to CHAT_SLOW_READER_SECONDS, and then closes the socket 4408 like a
slow live reader (the client resumes from the database). So a socket holds at most about 64 KiB
plus one frame in the server, whatever it asks for.

Reaching the transport relies on how daphne builds the ASGI `send` callable
(`functools.partial(server.handle_reply, protocol)`, found through wrappers that set `__wrapped__`)
and on Twisted's `producerPaused`;
docs/upgrading.md lists both. Under any other server (uvicorn applies backpressure to `send`
itself; Channels' test communicator has no transport) `attach` returns None and sends are not
gated.
"""

from __future__ import annotations

import asyncio
import functools
import inspect

POLL_SECONDS = 0.05


class WriteGate:
    """Whether the transport of one daphne connection has more unsent data than it wants."""

    def __init__(self, transport):
        self.transport = transport

    def full(self) -> bool:
        if getattr(self.transport, "disconnected", False):
            return False  # gone: a send is dropped by daphne anyway, never wait for it
        return bool(getattr(self.transport, "producerPaused", False))

    async def wait(self, timeout: float) -> bool:
        """True once the transport takes more data; False if it stayed full for `timeout` seconds.
        Polls only while full (a backed-up socket), every POLL_SECONDS."""
        if not self.full():
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.full():
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(POLL_SECONDS)
        return True


def attach(send) -> WriteGate | None:
    """A WriteGate on the daphne connection behind an ASGI `send`, or None when there is none."""
    send = inspect.unwrap(send)  # through middleware that wraps `send` and says so (core.metrics)
    if not isinstance(send, functools.partial) or not send.args:
        return None
    transport = getattr(send.args[0], "transport", None)
    if transport is None or not hasattr(transport, "producerPaused"):
        return None
    return WriteGate(transport)
