"""Who is online, shared by every server process: one TTL'd entry per open socket.

Each user has a sorted set of their open sockets (member = "<process id>|<channel name>", score =
the time the entry expires). A socket's process refreshes the scores of all its sockets in one
pipeline every third of the TTL (one task per process, not one per socket), so the entries of a
crashed process's sockets simply expire: presence is never a +1/-1 counter that a missed
disconnect would leave wrong. A per-process sweeper hands the users whose last entry expired to
its `on_expired` (the chat service that announces them: `chat.services.presence_announce_offline`).

Entries are owned by their process. Each process (each event loop serving sockets) keeps a
liveness key with a short TTL (`CHAT_PRESENCE_PROCESS_TTL_SECONDS`, renewed every quarter of it);
opening and closing a socket first drop the user's entries whose process has no liveness key. So
the sockets of a process killed with kill -9 stop counting toward `CHAT_MAX_SOCKETS_PER_USER`
within seconds, not after the entries' 60 s TTL: a user whose sockets were on it can reconnect to
another process at once instead of meeting 4429 for a minute (issue 21).

The transitions (first socket anywhere opened, last socket closed or expired) are decided by
Lua scripts so that two processes racing on one user agree on exactly one transition.
Without Redis (embedded, single-process mode) the same logic runs on an in-process dict.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
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


def _process_key_prefix() -> str:
    # + a process id: that process's liveness key (exists while the process is alive).
    return f"{_prefix()}:process:"


# Separates the owning process's id from the channel name in an entry; channel names never hold it
# (Channels allows letters, digits, "-", "_", "." and "!" only).
_OWNER_SEPARATOR = "|"


@dataclass(frozen=True)
class OpenResult:
    accepted: bool  # False: the user already has the maximum number of sockets
    came_online: bool


# Drops the entries of KEYS[1] whose process is gone (no liveness key ARGV[PREFIX] .. process id).
# Entries without an owner (written before owners existed) are left to expire. A script reads
# liveness keys it cannot name in KEYS: fine on one Redis (or Sentinel), not on Redis Cluster.
_DROP_DEAD = """
local function drop_dead(set_key, process_prefix)
  local alive = {}
  for _, member in ipairs(redis.call('ZRANGE', set_key, 0, -1)) do
    local sep = string.find(member, '|', 1, true)
    if sep then
      local process = string.sub(member, 1, sep - 1)
      if alive[process] == nil then
        alive[process] = redis.call('EXISTS', process_prefix .. process) == 1
      end
      if not alive[process] then redis.call('ZREM', set_key, member) end
    end
  end
end
"""

# KEYS[1] user set, KEYS[2] index, KEYS[3] this process's liveness key;
# ARGV: member, now, expires_at, max_sockets, user_id, process_ttl, process_prefix
_OPEN = _DROP_DEAD + """
redis.call('SET', KEYS[3], 1, 'EX', ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
drop_dead(KEYS[1], ARGV[7])
local before = redis.call('ZCARD', KEYS[1])
if before >= tonumber(ARGV[4]) then return -1 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[5])
if before == 0 then return 1 end
return 0
"""

# KEYS[1] user set, KEYS[2] index; ARGV: member, now, user_id, process_prefix
_CLOSE = _DROP_DEAD + """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
drop_dead(KEYS[1], ARGV[4])
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
        # This store's process: the owner of the entries it writes (one store per process and loop).
        self.process = uuid.uuid4().hex[:16]
        self._open = self.client.register_script(_OPEN)
        self._close = self.client.register_script(_CLOSE)
        self._sweep = self.client.register_script(_SWEEP)

    def _member(self, channel: str) -> str:
        return f"{self.process}{_OWNER_SEPARATOR}{channel}"

    @property
    def process_key(self) -> str:
        return _process_key_prefix() + self.process

    async def open(self, user_id: int, channel: str, now: float, ttl: int, max_sockets: int) -> OpenResult:
        # The same step marks this process alive (its first socket may be this one).
        result = await self._open(
            keys=[_user_key(user_id), _index_key(), self.process_key],
            args=[self._member(channel), now, now + ttl, max_sockets, user_id,
                  settings.CHAT_PRESENCE_PROCESS_TTL_SECONDS, _process_key_prefix()],
        )
        return OpenResult(accepted=result != -1, came_online=result == 1)

    async def close(self, user_id: int, channel: str, now: float) -> bool:
        return bool(await self._close(
            keys=[_user_key(user_id), _index_key()], args=[self._member(channel), now, user_id, _process_key_prefix()]
        ))

    async def keep_alive(self) -> bool:
        """Renew this process's liveness key; True when it had lapsed (the loop stalled past its TTL,
        or Redis lost it): other processes may have dropped this process's entries, so the caller
        writes them again at once."""
        previous = await self.client.set(self.process_key, 1, ex=settings.CHAT_PRESENCE_PROCESS_TTL_SECONDS, get=True)
        return previous is None

    async def refresh(self, entries: list[tuple[int, str]], expires_at: float) -> None:
        pipe = self.client.pipeline(transaction=False)
        for user_id, channel in entries:
            # Not XX: after a long Redis outage a swept live socket comes back; a socket closed while this
            # pipeline was in flight leaves a ghost that expires within one TTL.
            pipe.zadd(_user_key(user_id), {self._member(channel): expires_at})
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

    async def keep_alive(self) -> bool:
        return False  # one process: it is alive while it runs

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
    """One task per process and loop: keeps the process's liveness key (every quarter of
    CHAT_PRESENCE_PROCESS_TTL_SECONDS), refreshes every local socket's entry and sweeps expired users
    (every third of CHAT_PRESENCE_TTL_SECONDS, and at once when the liveness key had lapsed).

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
        loop = asyncio.get_running_loop()
        alive_interval = max(0.25, settings.CHAT_PRESENCE_PROCESS_TTL_SECONDS / 4)
        beat_interval = max(1.0, settings.CHAT_PRESENCE_TTL_SECONDS / 3)
        next_beat = loop.time() + beat_interval
        while True:
            await asyncio.sleep(min(alive_interval, max(0.0, next_beat - loop.time())))
            try:
                lapsed = await store().keep_alive()
                if lapsed or loop.time() >= next_beat:
                    next_beat = loop.time() + beat_interval
                    await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis hiccup: the next round retries; entries have TTL/3 * 2 to spare
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
