"""Who is online, shared by every server process: one TTL'd entry per open socket.

Each user has a sorted set of their open sockets (member = channel name, score = the time the
entry expires). A socket's process refreshes the scores of all its sockets in one pipeline every
third of the TTL (one task per process, not one per socket), so the entries of a crashed
process's sockets simply expire: presence is never a +1/-1 counter that a missed disconnect
would leave wrong. A per-process sweeper hands the users whose last entry expired to its
`on_expired` (the chat service that announces them: `chat.services.presence_announce_offline`).

The transitions (first socket anywhere opened, last socket closed or expired) are decided by
Lua scripts so that two processes racing on one user agree on exactly one transition.
Without Redis (embedded, single-process mode) the same logic runs on an in-process dict.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from django.conf import settings

from core import redis_clients
from core.loops import PerLoop

logger = logging.getLogger(__name__)


def _prefix() -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX') or 'hotline'}:chat:presence"


def _user_key(user_id: int) -> str:
    return f"{_prefix()}:user:{user_id}"


def _index_key() -> str:
    # Every user with at least one entry, scored by their latest expiry: what the sweeper scans.
    return f"{_prefix()}:users"


@dataclass(frozen=True)
class OpenResult:
    accepted: bool  # False: the user already has the maximum number of sockets
    came_online: bool


# KEYS[1] user set, KEYS[2] index; ARGV: channel, now, expires_at, max_sockets
_OPEN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local before = redis.call('ZCARD', KEYS[1])
if before >= tonumber(ARGV[4]) then return -1 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[5])
if before == 0 then return 1 end
return 0
"""

# KEYS[1] user set, KEYS[2] index; ARGV: channel, now, user_id
_CLOSE = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) == 0 then
  local unindexed = redis.call('ZREM', KEYS[2], ARGV[3])
  if removed == 1 or unindexed == 1 then return 1 end
end
return 0
"""

# KEYS[1] user set, KEYS[2] index; ARGV: now, user_id -> 1 when this call saw the user go offline
_SWEEP = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) == 0 then
  return redis.call('ZREM', KEYS[2], ARGV[2])
end
return 0
"""


class RedisPresence:
    def __init__(self, client):
        # `client`: this loop's redis.asyncio client (core.redis_clients), whose blocking pool makes a
        # burst of connects and subscribes queue for a connection instead of failing with
        # MaxConnectionsError and ending the socket with 1011 (docs/realtime.md). Every presence
        # operation is one round trip.
        self.client = client
        self._open = self.client.register_script(_OPEN)
        self._close = self.client.register_script(_CLOSE)
        self._sweep = self.client.register_script(_SWEEP)

    async def open(self, user_id: int, channel: str, now: float, ttl: int, max_sockets: int) -> OpenResult:
        result = await self._open(
            keys=[_user_key(user_id), _index_key()], args=[channel, now, now + ttl, max_sockets, user_id]
        )
        return OpenResult(accepted=result != -1, came_online=result == 1)

    async def close(self, user_id: int, channel: str, now: float) -> bool:
        return bool(await self._close(keys=[_user_key(user_id), _index_key()], args=[channel, now, user_id]))

    async def refresh(self, entries: list[tuple[int, str]], expires_at: float) -> None:
        pipe = self.client.pipeline(transaction=False)
        for user_id, channel in entries:
            # Not XX: after a long Redis outage a swept live socket comes back; a socket closed while this
            # pipeline was in flight leaves a ghost that expires within one TTL.
            pipe.zadd(_user_key(user_id), {channel: expires_at})
            pipe.zadd(_index_key(), {str(user_id): expires_at}, gt=True)
        await pipe.execute()

    async def online(self, user_ids: list[int], now: float) -> list[int]:
        """The given users with a live entry: one ZMSCORE of the index, not one command per user.

        A user's index score is the latest expiry of their entries (every open/refresh raises it),
        and the index entry goes when their last entry closes or is swept, so "score > now" is
        "has a live socket". (After a crashed process, a user whose other socket closed cleanly
        may read online until their index score passes: the instant the sweeper announces them
        offline, so a presence.state never contradicts the announcements.)
        """
        if not user_ids:
            return []
        scores = await self.client.zmscore(_index_key(), [str(uid) for uid in user_ids])
        return [uid for uid, score in zip(user_ids, scores) if score is not None and score > now]

    async def sweep(self, now: float) -> list[int]:
        expired = await self.client.zrangebyscore(_index_key(), "-inf", now, start=0, num=1000)
        gone = []
        for raw in expired:
            user_id = int(raw)
            if await self._sweep(keys=[_user_key(user_id), _index_key()], args=[now, user_id]):
                gone.append(user_id)
        return gone


class MemoryPresence:
    """The same rules on a dict, for the embedded single-process mode."""

    def __init__(self):
        self.sockets: dict[int, dict[str, float]] = {}

    def _live(self, user_id: int, now: float) -> dict[str, float]:
        entries = self.sockets.setdefault(user_id, {})
        for channel in [c for c, exp in entries.items() if exp <= now]:
            del entries[channel]
        return entries

    async def open(self, user_id, channel, now, ttl, max_sockets) -> OpenResult:
        entries = self._live(user_id, now)
        if len(entries) >= max_sockets:
            return OpenResult(accepted=False, came_online=False)
        came_online = not entries
        entries[channel] = now + ttl
        return OpenResult(accepted=True, came_online=came_online)

    async def close(self, user_id, channel, now) -> bool:
        entries = self.sockets.get(user_id, {})
        removed = entries.pop(channel, None) is not None
        live = self._live(user_id, now)
        if not live:
            self.sockets.pop(user_id, None)
        return removed and not live

    async def refresh(self, entries, expires_at) -> None:
        for user_id, channel in entries:
            if channel in self.sockets.get(user_id, {}):
                self.sockets[user_id][channel] = expires_at

    async def online(self, user_ids, now) -> list[int]:
        return [uid for uid in user_ids if any(exp > now for exp in self.sockets.get(uid, {}).values())]

    async def sweep(self, now) -> list[int]:
        gone = []
        for user_id in list(self.sockets):
            if not self._live(user_id, now):
                del self.sockets[user_id]
                gone.append(user_id)
        return gone


_stores: PerLoop[RedisPresence] = PerLoop(lambda: RedisPresence(redis_clients.async_client()))
_memory = MemoryPresence()


def store() -> RedisPresence | MemoryPresence:
    """The presence store of the running event loop (on that loop's Redis client)."""
    if not settings.REDIS_URL:
        return _memory
    return _stores.get()


def now() -> float:
    return time.time()


class Heartbeat:
    """One task per process and loop: refreshes every local socket's entry and sweeps expired users.

    `on_expired(user_ids)` is awaited with users whose last socket expired (a crashed process).
    """

    def __init__(self):
        self.sockets: dict[str, int] = {}  # channel name -> user id, sockets of this process
        self.task: asyncio.Task | None = None
        self.on_expired = None

    def add(self, channel: str, user_id: int) -> None:
        self.sockets[channel] = user_id
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, channel: str) -> None:
        self.sockets.pop(channel, None)
        if not self.sockets and self.task is not None:
            # Nothing left to refresh; a process with sockets sweeps for everyone.
            self.task.cancel()
            self.task = None

    async def beat(self) -> None:
        ttl = settings.CHAT_PRESENCE_TTL_SECONDS
        current = now()
        presence = store()
        entries = [(uid, channel) for channel, uid in self.sockets.items()]
        for start in range(0, len(entries), 1000):
            await presence.refresh(entries[start : start + 1000], current + ttl)
        gone = await presence.sweep(current)
        if gone and self.on_expired is not None:
            await self.on_expired(gone)

    async def _run(self) -> None:
        interval = max(1.0, settings.CHAT_PRESENCE_TTL_SECONDS / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis hiccup: the next beat retries; entries have TTL/3 * 2 to spare
                logger.exception("chat presence heartbeat failed")


_heartbeats: PerLoop[Heartbeat] = PerLoop(Heartbeat)


def heartbeat() -> Heartbeat:
    return _heartbeats.get()


async def typing_allowed(*, room_id: int, user_id: int) -> bool:
    """Whether a typing notice of this user in this room may go out now: at most one per user per
    room per 2 s, across processes (the first caller in the window wins)."""
    key = f"{_prefix()}:typing:{room_id}:{user_id}"
    if settings.REDIS_URL:
        return bool(await store().client.set(key, 1, nx=True, px=2000))
    current = now()
    first = _typing_memory.get(key, 0) <= current
    if first:
        _typing_memory[key] = current + 2
    return first


_typing_memory: dict[str, float] = {}
