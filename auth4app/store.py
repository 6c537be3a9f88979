"""Where each auth4app login lives while it is in flight: its state and its polling lease.

With REDIS_URL the state is a Redis hash shared by every web process and each login has a
lease key (SET NX PX, renewed by its holder) that decides which process polls upstream.
Without Redis (the embedded single-process mode) the same operations work on a dict.
Every status change is a compare-and-set on the current status, so of two processes seeing
the same outcome exactly one wins and publishes it.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass, field

from django.conf import settings

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
#    | {"wait", seconds until due} | {"poll", field, value, ...} (polled_at already set to now)
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
table.insert(all, 1, 'poll')
return all
"""

_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLoginStore:
    """Logins in Redis, shared by every process. One asyncio client per event loop."""

    def __init__(self, url: str, prefix: str):
        self.url = url
        self.prefix = f"{prefix}:auth4app"
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def state_key(self, code_id: str) -> str:
        return f"{self.prefix}:login:{code_id}"

    def lease_key(self, code_id: str) -> str:
        return f"{self.prefix}:lease:{code_id}"

    def _client(self):
        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        bundle = self._clients.get(loop)
        if bundle is None:
            # A blocking pool: a burst of logins waits for a free connection instead of failing.
            pool = aioredis.BlockingConnectionPool.from_url(self.url, max_connections=200, timeout=10, socket_timeout=5)
            client = aioredis.Redis(connection_pool=pool)
            bundle = (
                client,
                client.register_script(_TRANSITION_LUA),
                client.register_script(_LEASE_LUA),
                client.register_script(_RELEASE_LUA),
                client.register_script(_STEP_LUA),
            )
            self._clients[loop] = bundle
        return bundle

    async def create(self, state: LoginState) -> None:
        client = self._client()[0]
        ttl = max(1, int(state.expires_at - state.created_at) + KEEP_AFTER_EXPIRY_SECONDS)
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(self.state_key(state.code_id), mapping=state.to_hash())
            pipe.expire(self.state_key(state.code_id), ttl)
            await pipe.execute()

    async def get(self, code_id: str) -> LoginState | None:
        raw = await self._client()[0].hgetall(self.state_key(code_id))
        return LoginState.from_hash(code_id, raw) if raw else None

    async def transition(self, code_id: str, expected: tuple[str, ...], fields: dict) -> bool:
        script = self._client()[1]
        args: list[str] = [str(len(expected)), *expected]
        for key, value in _encode(fields).items():
            args += [key, value]
        return bool(await script(keys=[self.state_key(code_id)], args=args))

    async def lease(self, code_id: str, owner: str, milliseconds: int) -> float | None:
        """Take or renew the polling lease: None when `owner` holds it, else seconds until it lapses."""
        left = int(await self._client()[2](keys=[self.lease_key(code_id)], args=[owner, int(milliseconds)]))
        return None if left < 0 else left / 1000

    async def release(self, code_id: str, owner: str) -> None:
        await self._client()[3](keys=[self.lease_key(code_id)], args=[owner])

    async def step(self, code_id: str, *, owner: str, lease_ms: int, now: float, interval: float) -> "Step":
        """Read, take or renew the lease and, when a poll is due, claim it — atomically."""
        reply = await self._client()[4](
            keys=[self.state_key(code_id), self.lease_key(code_id)], args=[owner, int(lease_ms), repr(now), repr(interval)]
        )
        kind = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
        if kind == "held":
            return Step(kind, wait=float(reply[1]) / 1000)
        if kind == "wait":
            return Step(kind, wait=float(reply[1]))
        if kind == "poll":
            raw = dict(zip(reply[1::2], reply[2::2]))
            return Step(kind, state=LoginState.from_hash(code_id, raw))
        return Step(kind)

    async def lease_holder(self, code_id: str) -> str | None:
        value = await self._client()[0].get(self.lease_key(code_id))
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
            _store = RedisLoginStore(settings.REDIS_URL, settings.CACHES["default"].get("KEY_PREFIX", "hotline"))
        else:
            _store = MemoryLoginStore()
    return _store
