"""One object per running event loop: the project's one registry of per-loop state.

asyncio objects (a redis.asyncio connection, an aiohttp session, a task, an Event) belong to the
loop that made them and fail on any other. A process runs several loops over its life: daphne's,
one per `async_to_sync` call in a Celery task, one per test. So whatever holds such objects for
reuse (the Redis client of `core.redis_clients`, the session re-check of `accounts.ws`, chat's
presence store and heartbeat, auth4app's poller, push subscription, upstream HTTP session and
store batcher) is kept per loop here, made on first use in that loop.

Entries of loops that have closed are dropped whenever another loop gets one, so a process that
runs many short loops does not keep their objects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """`PerLoop(factory).get()`: this loop's object, made by `factory()` on first use. Without a
    factory, objects are only `set()` (and read with `peek()`)."""

    def __init__(self, factory: Callable[[], T] | None = None, *, discard: Callable[[T], None] | None = None):
        # `discard(item)` runs for the object of a loop that closed, when it is dropped (e.g. to close
        # an HTTP session without a loop).
        self._factory = factory
        self._discard = discard
        self._items: dict[asyncio.AbstractEventLoop, T] = {}

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        item = self._items.get(loop)
        if item is None:
            if self._factory is None:
                raise LookupError("this PerLoop has no factory: set() an object first")
            item = self.set(self._factory())
        return item

    def peek(self) -> T | None:
        """This loop's object if it has one (never makes one)."""
        return self._items.get(asyncio.get_running_loop())

    def set(self, item: T) -> T:
        """Make `item` this loop's object (a fresh one after the old one died, or a test's)."""
        loop = asyncio.get_running_loop()
        for old in [lp for lp in self._items if lp.is_closed()]:
            dropped = self._items.pop(old)
            if self._discard is not None:
                self._discard(dropped)
        self._items[loop] = item
        return item

    def pop(self) -> T | None:
        """Forget this loop's object and hand it back (to be closed by the caller)."""
        return self._items.pop(asyncio.get_running_loop(), None)

    def values(self) -> Iterator[T]:
        """Every loop's object (e.g. to close them at exit)."""
        return iter(list(self._items.values()))

    def clear(self) -> None:
        self._items.clear()
