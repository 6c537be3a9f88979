"""Where each auth4app login lives while it is in flight: its state and its polling lease.

With REDIS_URL the state is a Redis hash shared by every web process and each login has a
lease key (SET NX PX, renewed by its holder) that decides which process polls upstream.
Without Redis (the embedded single-process mode) the same operations work on a dict.
Every status change is a compare-and-set on the current status, so of two processes seeing
the same outcome exactly one wins and publishes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass, field

from django.conf import settings

from core import redis_clients
from core.loops import PerLoop

PENDING = "pending"
CONFIRMED = "confirmed"
COMPLETED = "completed"
EXPIRED = "expired"
ERROR = "error"
STATUSES = (PENDING, CONFIRMED, COMPLETED, EXPIRED, ERROR)

# State is kept this long after the code expires, so late pollers read "expired", not "unknown".
KEEP_AFTER_EXPIRY_SECONDS = 600


@dataclass
class LoginState:
    """One login as stored (all times are core.clock timestamps)."""

    code_id: str
    status: str
    phone_requested: str
    token_hash: str
    browser_hash: str
    created_at: float
    expires_at: float
    phone: str = ""
    detail: str = ""
    confirmed_at: float = 0.0
    polled_at: float = 0.0
    retry_at: float = 0.0
    failing_since: float = 0.0
    failures: int = 0

    _FLOATS = ("created_at", "expires_at", "confirmed_at", "polled_at", "retry_at", "failing_since")

    @classmethod
    def from_hash(cls, code_id: str, raw: dict) -> "LoginState":
        data = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v) for k, v in raw.items()}
        return cls(
            code_id=code_id,
            status=data.get("status", ERROR),
            phone_requested=data.get("phone_requested", ""),
            token_hash=data.get("token_hash", ""),
            browser_hash=data.get("browser_hash", ""),
            phone=data.get("phone", ""),
            detail=data.get("detail", ""),
            failures=int(data.get("failures") or 0),
            **{name: float(data.get(name) or 0.0) for name in cls._FLOATS},
        )

    def to_hash(self) -> dict[str, str]:
        return {
            "status": self.status,
            "phone_requested": self.phone_requested,
            "token_hash": self.token_hash,
            "browser_hash": self.browser_hash,
            "phone": self.phone,
            "detail": self.detail,
            "failures": str(self.failures),
            **{name: repr(float(getattr(self, name))) for name in self._FLOATS},
        }


def _encode(fields: dict) -> dict[str, str]:
    return {k: (repr(float(v)) if isinstance(v, float) else str(v)) for k, v in fields.items()}


@dataclass(frozen=True)
class Step:
    """What one watch step found: "gone", "over", "expired", "held", "wait" or "poll"."""

    kind: str
    wait: float = 0.0  # seconds ("held": until the other lease lapses; "wait": until the poll is due)
    state: LoginState | None = None  # "poll": the state, with polled_at set to now


# --- Redis -------------------------------------------------------------------------------

# KEYS[1] = state hash; ARGV = n, expected statuses (n of them), then field/value pairs.
_TRANSITION_LUA = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return 0 end
local n = tonumber(ARGV[1])
for i = 2, n + 1 do
  if current == ARGV[i] then
    if #ARGV > n + 1 then redis.call('HSET', KEYS[1], unpack(ARGV, n + 2)) end
    return 1
  end
end
return 0
"""

# KEYS[1] = lease; ARGV = owner, milliseconds. Take a free lease or renew our own (-> -1), or
# say how many milliseconds the other holder's lease has left (-> >= 0).
_LEASE_LUA = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return -1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return -1 end
return math.max(redis.call('PTTL', KEYS[1]), 0)
"""

# One watch step in one round trip. KEYS = state, lease; ARGV = owner, lease ms, now, interval.
# -> {"gone"} | {"over"} (not pending) | {"expired"} | {"held", ms left on another's lease}
#    | {"wait", seconds until due} | {"poll", the hash as one JSON object} (polled_at already set to now;
#    one bulk string is far cheaper for the client to parse than a reply of ~30 elements)
_STEP_LUA = """
local s = redis.call('HMGET', KEYS[1], 'status', 'expires_at', 'polled_at', 'retry_at')
if not s[1] then return {'gone'} end
if s[1] ~= 'pending' then return {'over'} end
local now = tonumber(ARGV[3])
if now >= tonumber(s[2]) then return {'expired'} end
local holder = redis.call('GET', KEYS[2])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[2], ARGV[2])
elseif not holder then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
else return {'held', tostring(math.max(redis.call('PTTL', KEYS[2]), 0))} end
local due = math.max(tonumber(s[3] or 0) + tonumber(ARGV[4]), tonumber(s[4] or 0))
if now < due then return {'wait', tostring(due - now)} end
redis.call('HSET', KEYS[1], 'polled_at', ARGV[3])
local all = redis.call('HGETALL', KEYS[1])
local state = {}
for i = 1, #all, 2 do state[all[i]] = all[i + 1] end
return {'poll', cjson.encode(state)}
"""

_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


_CREATE_LUA = """
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""

_SCRIPTS = {"transition": _TRANSITION_LUA, "lease": _LEASE_LUA, "release": _RELEASE_LUA, "step": _STEP_LUA,
            "create": _CREATE_LUA}
# Most commands sent in one pipeline; a larger queue goes in several.
_BATCH_MAX = 512


class _Batcher:
    """Sends the commands of one event loop iteration to Redis in one pipeline.

    Hundreds of logins step in the same iteration when a burst of them was started together; one
    round trip (one connection checkout, one write, one read) for all of them instead of one each.
    Each command keeps its own meaning: a script is still atomic per login, only the trip is shared.
    """

    def __init__(self, client, shas: dict[str, str]):
        self.client = client
        self.shas = shas
        self.loaded = False
        self.queue: list[tuple[tuple, asyncio.Future]] = []
        self.flushing = False

    def call(self, *command) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.queue.append((command, future))
        if not self.flushing:
            self.flushing = True
            # The task first runs on the next loop iteration: what this iteration queues goes with it.
            asyncio.get_running_loop().create_task(self._flush())
        return future

    def script(self, name: str, keys: list[str], args: list) -> asyncio.Future:
        return self.call("EVALSHA", self.shas[name], len(keys), *keys, *args)

    async def _flush(self) -> None:
        try:
            while self.queue:
                batch, self.queue = self.queue[:_BATCH_MAX], self.queue[_BATCH_MAX:]
                try:
                    replies = await self._send([command for command, _ in batch])
                except BaseException as exc:  # the whole trip failed: every caller hears it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc if isinstance(exc, Exception) else ConnectionError(str(exc)))
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), reply in zip(batch, replies):
                    if future.done():  # its caller was cancelled
                        continue
                    if isinstance(reply, Exception):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
        finally:
            self.flushing = False
            if self.queue:  # queued while the last trip failed with a cancellation
                self.flushing = True
                asyncio.get_running_loop().create_task(self._flush())

    async def _send(self, commands: list[tuple]) -> list:
        from redis.exceptions import NoScriptError

        if not self.loaded:
            await self._load_scripts()
        replies = await self._pipeline(commands)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:  # Redis restarted or its script cache was flushed: load them and send those again
            await self._load_scripts()
            for i, reply in zip(missing, await self._pipeline([commands[i] for i in missing])):
                replies[i] = reply
        return replies

    async def _pipeline(self, commands: list[tuple]) -> list:
        async with self.client.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            return await pipe.execute(raise_on_error=False)

    async def _load_scripts(self) -> None:
        for name, source in _SCRIPTS.items():
            self.shas[name] = await self.client.script_load(source)
        self.loaded = True


class RedisLoginStore:
    """Logins in Redis, shared by every process, on each event loop's Redis client
    (core.redis_clients); the commands of one loop iteration share one round trip (`_Batcher`)."""

    shared = True  # other processes see these logins (and hear the push channel)

    def __init__(self, prefix: str):
        self.prefix = f"{prefix}:auth4app"
        # The one pub/sub channel every process listens on for terminal frames (auth4app/push.py).
        self.push_channel = f"{self.prefix}:push"
        self._batchers: PerLoop[_Batcher] = PerLoop(self._new_batcher)

    def state_key(self, code_id: str) -> str:
        return f"{self.prefix}:login:{code_id}"

    def lease_key(self, code_id: str) -> str:
        return f"{self.prefix}:lease:{code_id}"

    @staticmethod
    def _new_batcher() -> _Batcher:
        shas = {name: hashlib.sha1(source.encode()).hexdigest() for name, source in _SCRIPTS.items()}
        return _Batcher(redis_clients.async_client(), shas)

    def _batcher(self) -> _Batcher:
        return self._batchers.get()

    async def create(self, state: LoginState) -> None:
        ttl = max(1, int(state.expires_at - state.created_at) + KEEP_AFTER_EXPIRY_SECONDS)
        args: list[str] = [str(ttl)]
        for key, value in state.to_hash().items():
            args += [key, value]
        await self._batcher().script("create", [self.state_key(state.code_id)], args)

    async def get(self, code_id: str) -> LoginState | None:
        raw = await self._batcher().call("HGETALL", self.state_key(code_id))
        return LoginState.from_hash(code_id, raw) if raw else None

    async def transition(self, code_id: str, expected: tuple[str, ...], fields: dict) -> bool:
        args: list[str] = [str(len(expected)), *expected]
        for key, value in _encode(fields).items():
            args += [key, value]
        return bool(await self._batcher().script("transition", [self.state_key(code_id)], args))

    async def lease(self, code_id: str, owner: str, milliseconds: int) -> float | None:
        """Take or renew the polling lease: None when `owner` holds it, else seconds until it lapses."""
        left = int(await self._batcher().script("lease", [self.lease_key(code_id)], [owner, int(milliseconds)]))
        return None if left < 0 else left / 1000

    async def release(self, code_id: str, owner: str) -> None:
        await self._batcher().script("release", [self.lease_key(code_id)], [owner])

    async def step(self, code_id: str, *, owner: str, lease_ms: int, now: float, interval: float) -> "Step":
        """Read, take or renew the lease and, when a poll is due, claim it — atomically."""
        reply = await self._batcher().script(
            "step", [self.state_key(code_id), self.lease_key(code_id)], [owner, int(lease_ms), repr(now), repr(interval)]
        )
        kind = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
        if kind == "held":
            return Step(kind, wait=float(reply[1]) / 1000)
        if kind == "wait":
            return Step(kind, wait=float(reply[1]))
        if kind == "poll":
            return Step(kind, state=LoginState.from_hash(code_id, json.loads(reply[1])))
        return Step(kind)

    async def publish(self, message: str) -> None:
        """Put `message` on the push channel every process listens on (auth4app/push.py), in the
        same round trip as this loop iteration's other commands."""
        await self._batcher().call("PUBLISH", self.push_channel, message)

    async def lease_holder(self, code_id: str) -> str | None:
        value = await self._batcher().call("GET", self.lease_key(code_id))
        return value.decode() if value else None


# --- In process (embedded mode) ------------------------------------------------------------


@dataclass
class _Entry:
    data: dict[str, str]
    keep_until: float  # time.monotonic()


@dataclass
class MemoryLoginStore:
    """The same operations on dicts, for the single-process embedded mode. Every method runs
    without awaiting in between its read and its write, so it is atomic on the event loop."""

    shared = False  # one process: frames are handed to its sockets directly (auth4app/push.py)

    states: dict[str, _Entry] = field(default_factory=dict)
    leases: dict[str, tuple[str, float]] = field(default_factory=dict)

    def _sweep(self) -> None:
        if len(self.states) % 64:
            return
        now = time.monotonic()
        for code_id in [c for c, e in self.states.items() if e.keep_until <= now]:
            self.states.pop(code_id, None)

    def _live(self, code_id: str) -> _Entry | None:
        entry = self.states.get(code_id)
        if entry is not None and entry.keep_until <= time.monotonic():
            self.states.pop(code_id, None)
            return None
        return entry

    async def create(self, state: LoginState) -> None:
        self._sweep()
        ttl = max(1, int(state.expires_at - state.created_at) + KEEP_AFTER_EXPIRY_SECONDS)
        self.states[state.code_id] = _Entry(state.to_hash(), time.monotonic() + ttl)

    async def get(self, code_id: str) -> LoginState | None:
        entry = self._live(code_id)
        return LoginState.from_hash(code_id, dict(entry.data)) if entry else None

    async def transition(self, code_id: str, expected: tuple[str, ...], fields: dict) -> bool:
        entry = self._live(code_id)
        if entry is None or entry.data.get("status") not in expected:
            return False
        entry.data.update(_encode(fields))
        return True

    async def lease(self, code_id: str, owner: str, milliseconds: int) -> float | None:
        now = time.monotonic()
        holder = self.leases.get(code_id)
        if holder is None or holder[0] == owner or holder[1] <= now:
            self.leases[code_id] = (owner, now + milliseconds / 1000)
            return None
        return holder[1] - now

    async def release(self, code_id: str, owner: str) -> None:
        if self.leases.get(code_id, (None,))[0] == owner:
            self.leases.pop(code_id, None)

    async def step(self, code_id: str, *, owner: str, lease_ms: int, now: float, interval: float) -> Step:
        entry = self._live(code_id)
        if entry is None:
            return Step("gone")
        data = entry.data
        if data.get("status") != PENDING:
            return Step("over")
        if now >= float(data.get("expires_at") or 0):
            return Step("expired")
        left = await self.lease(code_id, owner, lease_ms)
        if left is not None:
            return Step("held", wait=left)
        due = max(float(data.get("polled_at") or 0) + interval, float(data.get("retry_at") or 0))
        if now < due:
            return Step("wait", wait=due - now)
        data["polled_at"] = repr(float(now))
        return Step("poll", state=LoginState.from_hash(code_id, dict(data)))

    async def lease_holder(self, code_id: str) -> str | None:
        holder = self.leases.get(code_id)
        return holder[0] if holder and holder[1] > time.monotonic() else None


_store: RedisLoginStore | MemoryLoginStore | None = None


def get_store() -> RedisLoginStore | MemoryLoginStore:
    """The store for this configuration (Redis when REDIS_URL is set)."""
    global _store
    if _store is None:
        if settings.REDIS_URL:
            _store = RedisLoginStore(settings.CACHES["default"].get("KEY_PREFIX", "hotline"))
        else:
            _store = MemoryLoginStore()
    return _store
