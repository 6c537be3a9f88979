"""The per-process watcher of logins someone is asking about.

Each web process lazily gets one `Poller` on its event loop. It keeps one small asyncio task per
login that a client asks about *on this process*: a socket open here (it `follow`s the login), or a
start or result request here within AUTH4APP_IDLE_SECONDS (the views `ask`). Each task steps
`services.auth_login_poll` about once per interval; only the holder of the login's Redis lease calls
upstream, so however many processes watch a login, upstream hears one `code/result` per interval.
When the login ends, the task hands the terminal frame to this process's sockets directly (in case
the push was lost) and stops. The views and the socket start watches; the services never do.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import uuid
from dataclasses import dataclass

from django.conf import settings

from core import clock
from core.loops import PerLoop

from . import push, services, upstream
from .store import get_store

logger = logging.getLogger(__name__)


# Steps are woken on a shared grid of ticks, so the logins of one process that are due within the
# same tick step in the same loop iteration and their Redis work shares one round trip (the store
# pipelines what one iteration queues). A step is only ever moved later, by less than a tick, so the
# interval between polls is kept; the push after a poll is not delayed at all.
MAX_TICK_SECONDS = 0.05


def _on_tick(delay: float, now: float | None = None) -> float:
    """`delay`, lengthened to the next tick of this process's grid (`now`: the loop's time)."""
    tick = min(MAX_TICK_SECONDS, settings.AUTH4APP_POLL_INTERVAL / 8)
    if now is None:
        now = asyncio.get_running_loop().time()
    return max(0.0, math.ceil((now + delay) / tick) * tick - now)


@dataclass(eq=False)
class _Watch:
    code_id: str
    asked_until: float = 0.0
    task: asyncio.Task | None = None

    def wanted(self) -> bool:
        return push.has_listeners(self.code_id) or clock.timestamp() < self.asked_until


class Poller:
    """Watches logins for one event loop. Use `get_poller()`."""

    def __init__(self) -> None:
        # Readable in Redis (the lease value) so operators and tests can see who polls a login.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.watches: dict[str, _Watch] = {}

    def ask(self, code_id: str) -> None:
        """Someone asked about `code_id` here: keep it watched for AUTH4APP_IDLE_SECONDS more."""
        watch = self._ensure(code_id)
        watch.asked_until = max(watch.asked_until, clock.timestamp() + settings.AUTH4APP_IDLE_SECONDS)

    def follow(self, code_id: str) -> None:
        """A socket here waits for `code_id` (its listener is attached in auth4app.push): watch it
        while any socket here does."""
        self._ensure(code_id)

    def unfollow(self, code_id: str) -> None:
        """A socket here on `code_id` closed: that counts as a last question."""
        watch = self.watches.get(code_id)
        if watch is not None:
            watch.asked_until = max(watch.asked_until, clock.timestamp() + settings.AUTH4APP_IDLE_SECONDS)

    def _ensure(self, code_id: str) -> _Watch:
        watch = self.watches.get(code_id)
        if watch is None or watch.task is None or watch.task.done():
            watch = _Watch(code_id)
            self.watches[code_id] = watch
            watch.task = asyncio.get_running_loop().create_task(self._run(code_id, watch), name=f"auth4app:{code_id}")
        return watch

    async def _run(self, code_id: str, watch: _Watch) -> None:
        frame = None
        try:
            while watch.wanted():
                try:
                    outcome = await services.auth_login_poll(code_id=code_id, owner=self.owner)
                except asyncio.CancelledError:
                    raise
                except Exception:  # Redis hiccup: keep watching, the state is still there
                    logger.exception("auth4app watch of %s failed a step", code_id)
                    outcome = services.PollOutcome(settings.AUTH4APP_POLL_INTERVAL)
                if outcome.delay is None:
                    frame = outcome.frame
                    break
                await asyncio.sleep(_on_tick(outcome.delay))
        finally:
            if self.watches.get(code_id) is watch:
                del self.watches[code_id]
            try:
                await get_store().release(code_id, self.owner)
            except Exception:  # the lease expires by itself
                pass
        if frame is not None:
            await push.deliver_here_now(code_id, frame)

    async def aclose(self) -> None:
        """Stop every watch (tests, shutdown)."""
        tasks = [w.task for w in self.watches.values() if w.task]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.watches.clear()
        await upstream.aclose()
        await push.aclose()


_pollers: PerLoop[Poller] = PerLoop(Poller)


def get_poller() -> Poller:
    """The poller of the running event loop (created on first use)."""
    return _pollers.get()
