"""Terminal frames to the sockets of every process: one Redis pub/sub channel for all logins, and
this process's registry of sockets waiting for a login.

Each web process subscribes once (per event loop) to `<prefix>:auth4app:push`; whoever wins a
login's terminal transition publishes `[code_id, frame]` there (`publish`, pipelined with the store's
other commands), and each process hands the frame to its own sockets on that login (`deliver_here`).
Nothing is subscribed or unsubscribed per login or per socket: the channel layer's per-group
SUBSCRIBE/UNSUBSCRIBE went one at a time through one lock per process, which capped a burst of
confirmations. A publish lost while a process reconnects is covered as before: the poller of every
process with a socket on a login re-reads its state each interval and delivers what it finds.
Without Redis (embedded mode, one process) frames are handed over in process.
"""

from __future__ import annotations

import asyncio
import logging

from core import metrics, redis_clients
from core.loops import PerLoop

from .frames import push_message, read_push_message
from .store import get_store

logger = logging.getLogger(__name__)

# How long a socket waits for its process's subscription before it reads the state anyway (the
# poller's re-read each interval still finds the result).
READY_TIMEOUT_SECONDS = 2.0
RECONNECT_SECONDS = 0.5


# --- This process's sockets, by login ----------------------------------------------------------

# code_id -> the sockets (consumers with `async deliver(frame)`) waiting for it, per event loop.
_listeners: PerLoop[dict[str, set]] = PerLoop(dict)


def attach(code_id: str, listener) -> None:
    """A socket here waits for `code_id`: `await listener.deliver(frame)` gets its terminal frame."""
    _listeners.get().setdefault(code_id, set()).add(listener)


def detach(code_id: str, listener) -> bool:
    """Forget a socket; False if it was not attached."""
    waiting = _listeners.get().get(code_id)
    if not waiting or listener not in waiting:
        return False
    waiting.discard(listener)
    if not waiting:
        del _listeners.get()[code_id]
    return True


def has_listeners(code_id: str) -> bool:
    return bool(_listeners.get().get(code_id))


def deliver_here(code_id: str, frame: dict) -> None:
    """Hand `frame` to this process's sockets on `code_id` (each sends it once and closes)."""
    for listener in list(_listeners.get().get(code_id, ())):
        task = asyncio.ensure_future(_deliver(listener, frame))
        # The loop keeps only weak references to tasks: hold each until it is done.
        _deliveries.add(task)
        task.add_done_callback(_deliveries.discard)


async def deliver_here_now(code_id: str, frame: dict) -> None:
    """`deliver_here`, awaiting each socket in turn (the poller, when its watch of a login ends)."""
    for listener in list(_listeners.get().get(code_id, ())):
        await _deliver(listener, frame)


_deliveries: set = set()


async def _deliver(listener, frame: dict) -> None:
    try:
        await listener.deliver(frame)
    except Exception:
        logger.exception("auth4app: delivering to a socket failed")


# --- Every process ------------------------------------------------------------------------------


async def publish(code_id: str, frame: dict) -> None:
    """Send a terminal frame to the sockets on `code_id` of every process (never raises: the pollers
    of processes with sockets re-read the state every interval)."""
    store = get_store()
    try:
        if store.shared:
            await store.publish(push_message(code_id, frame))
        else:
            deliver_here(code_id, frame)
    except Exception:
        metrics.CHANNEL_LAYER_PUBLISH_FAILURES.labels("auth4app_push").inc()
        logger.exception("auth4app publish for %s failed", code_id)


class _Subscriber:
    """This event loop's subscription to the push channel (reconnects by itself)."""

    def __init__(self, channel: str):
        self.channel = channel
        self.subscribed = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._listen(), name="auth4app:push")

    async def _listen(self) -> None:
        while True:
            # On this loop's Redis client (core.redis_clients): the subscription holds one of its
            # connections while it lives; its blocking read is not bound by the socket timeout.
            pubsub = redis_clients.async_client().pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.subscribed.set()
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                    if message is None or message.get("type") != "message":
                        continue
                    decoded = read_push_message(message["data"])
                    if decoded is not None:
                        deliver_here(*decoded)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("auth4app push subscription lost (%s); reconnecting", exc)
            finally:
                self.subscribed.clear()
                try:
                    await pubsub.aclose()
                except Exception:
                    pass
            await asyncio.sleep(RECONNECT_SECONDS)

    async def aclose(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


_subscribers: PerLoop[_Subscriber] = PerLoop()


async def ready() -> None:
    """Return once this process hears every publish (at once without Redis)."""
    store = get_store()
    if not store.shared:
        return
    subscriber = _subscribers.peek()
    if subscriber is None or subscriber.task.done():
        subscriber = _subscribers.set(_Subscriber(store.push_channel))
    if not subscriber.subscribed.is_set():
        try:
            await asyncio.wait_for(subscriber.subscribed.wait(), READY_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            logger.warning("auth4app push subscription not ready; relying on the interval re-read")


async def aclose() -> None:
    """Stop this loop's subscription (tests, shutdown)."""
    subscriber = _subscribers.pop()
    if subscriber is not None:
        await subscriber.aclose()
