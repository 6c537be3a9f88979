"""Rate limits as data, kept in the shared cache so they hold across processes.

A limit is a `Rate(limit, period)`; `consume(key, rate)` counts one hit in the current
fixed window and says whether it is allowed and, if not, how long until it would be.
Windows are aligned to the clock so every process agrees on them, and the counter is
an atomic INCR in Redis (or a locked increment in the in-process cache).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.core.cache import cache

from core import clock, redis_clients


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int  # seconds


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int  # seconds until the window resets; 0 when allowed
    count: int


def _window(rate: Rate) -> tuple[int, int]:
    now = clock.timestamp()
    index = int(now // rate.period)
    remaining = max(1, math.ceil((index + 1) * rate.period - now))
    return index, remaining


def _key(key: str, rate: Rate, index: int) -> str:
    return f"rl:{key}:{rate.period}:{index}"


# INCRBY and, for a new window, its lifetime: one round trip (Django's add + incr take three).
_CONSUME_LUA = """
local count = redis.call('INCRBY', KEYS[1], tonumber(ARGV[1]))
if count == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2])) end
return count
"""


def consume(key: str, rate: Rate, amount: int = 1) -> Verdict:
    index, remaining = _window(rate)
    cache_key = _key(key, rate, index)
    client = _redis_client()
    if client is not None:
        count = int(redis_clients.sync_script(_CONSUME_LUA)(keys=[cache.make_and_validate_key(cache_key)], args=[amount, rate.period + 5]))
    else:
        cache.add(cache_key, 0, timeout=rate.period + 5)
        try:
            count = cache.incr(cache_key, amount)
        except ValueError:  # expired between add and incr
            cache.add(cache_key, amount, timeout=rate.period + 5)
            count = amount
    allowed = count <= rate.limit
    return Verdict(allowed=allowed, retry_after=0 if allowed else remaining, count=count)


def peek(key: str, rate: Rate) -> Verdict:
    index, remaining = _window(rate)
    cache_key = _key(key, rate, index)
    client = _redis_client()
    if client is not None:
        stored = client.get(cache.make_and_validate_key(cache_key))
        count = int(stored) if stored is not None else 0
    else:
        count = cache.get(cache_key, 0)
    allowed = count < rate.limit
    return Verdict(allowed=allowed, retry_after=0 if allowed else remaining, count=count)


def give_back(*checks: tuple[str, Rate]) -> None:
    """Return one hit `consume` counted in the current window to each (key, rate): a reservation that
    turned out not to be one (a right code, a send whose transaction failed). One round trip with
    Redis. A window that turned over meanwhile just starts one lower, which its next hit evens out."""
    client = _redis_client()
    if client is None:
        for key, rate in checks:
            consume(key, rate, amount=-1)
        return
    pipe = client.pipeline(transaction=False)
    for key, rate in checks:
        # DECR only a window that exists (a reserved hit is in it): never leaves a key without expiry.
        redis_clients.sync_script(_GIVE_BACK_LUA)(keys=[cache.make_and_validate_key(_key(key, rate, _window(rate)[0]))], client=pipe)
    pipe.execute()


_GIVE_BACK_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
"""


def check_all(checks: list[tuple[str, Rate]]) -> Verdict:
    """Consume one hit from each (key, rate) in order, stopping at the first refused one: a caller
    over one budget spends none of the budgets after it (a client over its IP budget cannot keep
    spending a victim number's). One round trip with Redis (`cooldown_then_consume`)."""
    gate = cooldown_then_consume(cooldown_key="", cooldown_seconds=0, checks=checks)
    return gate.verdict


# --- One round trip for a cooldown and several budgets -------------------------------------

# Checks the cooldown, spends the budgets in order (stopping at the first refused) and, when all
# allowed, starts the cooldown, atomically. KEYS[1] is the cooldown key, KEYS[2..] the budgets'
# window keys; ARGV: now (ms), cooldown length (ms), then limit and key lifetime (s) per budget.
# Returns {-1, ms left} (cooldown running), {i, count} (budget i refused, 1-based) or {0, 0}.
# Counters are plain integers, as Django's RedisCache stores ints, so `consume`/`peek` read them too.
_COOLDOWN_THEN_CONSUME_LUA = """
local now = tonumber(ARGV[1])
local cooldown_ms = tonumber(ARGV[2])
if cooldown_ms > 0 then
  local stored = redis.call('GET', KEYS[1])
  if stored then
    local ends = tonumber(stored)
    if ends == nil then
      local left = redis.call('PTTL', KEYS[1])
      if left > 0 then return {-1, left} end
    elseif ends > now then
      return {-1, ends - now}
    end
  end
end
for i = 2, #KEYS do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('EXPIRE', KEYS[i], tonumber(ARGV[2 * i])) end
  if count > tonumber(ARGV[2 * i - 1]) then return {i - 1, count} end
end
if cooldown_ms > 0 then
  redis.call('SET', KEYS[1], now + cooldown_ms, 'PX', cooldown_ms)
end
return {0, 0}
"""


@dataclass(frozen=True)
class Gate:
    """What `cooldown_then_consume` decided."""

    cooldown_left: int  # whole seconds left of a running cooldown (nothing was spent); 0 if none ran
    refused: str | None  # key of the budget that refused (the later ones were not spent); None if all allowed
    verdict: Verdict  # the refusing budget's verdict, or an allowed one


def _redis_client():
    """The process's Redis client (`core.redis_clients`) when the default cache is Redis, else None:
    the limits live in the cache's keys, so they follow the cache (tests swap it for a local one)."""
    return redis_clients.sync_client() if redis_clients.cache_is_redis() else None


def _cooldown_ends(stored) -> float | None:
    """The cooldown's end (epoch seconds) from what is stored: integer milliseconds, or the float
    seconds stored before this format."""
    if stored is None:
        return None
    try:
        value = float(stored)
    except (TypeError, ValueError):
        return None
    return value / 1000 if value > 1e11 else value


def cooldown_remaining(cooldown_key: str) -> int:
    """Whole seconds left of a cooldown started by `cooldown_then_consume` (0 when none runs).
    The end is compared with `core.clock`, so it agrees with the clock tests control."""
    ends = _cooldown_ends(cache.get(cooldown_key))
    if ends is None:
        return 0
    left = ends - clock.timestamp()
    return math.ceil(left) if left > 0 else 0


def cooldown_then_consume(*, cooldown_key: str, cooldown_seconds: int, checks: list[tuple[str, Rate]]) -> Gate:
    """Atomically: refuse while `cooldown_key`'s cooldown runs; otherwise spend one hit from each
    (key, rate) in order, stopping at the first refused one (so a caller over its own budget cannot
    spend the budgets after it); if all allowed, start a cooldown of `cooldown_seconds` (0: none).

    With Redis this is one round trip (a Lua script) instead of two commands per budget plus the
    cooldown's read and write; the in-process cache does the same steps under no lock (one process).
    """
    now = clock.timestamp()
    windows = [(_key(key, rate, _window(rate)[0]), rate) for key, rate in checks]
    client = _redis_client()
    if client is not None:
        keys = [cache.make_and_validate_key(cooldown_key)] + [cache.make_and_validate_key(k) for k, _ in windows]
        args = [int(now * 1000), int(cooldown_seconds * 1000)]
        for _, rate in windows:
            args += [rate.limit, rate.period + 5]
        outcome, value = (int(x) for x in redis_clients.sync_script(_COOLDOWN_THEN_CONSUME_LUA)(keys=keys, args=args))
        if outcome < 0:
            return Gate(cooldown_left=max(1, math.ceil(value / 1000)), refused=None, verdict=_ALLOWED)
        if outcome > 0:
            key, rate = checks[outcome - 1]
            return Gate(cooldown_left=0, refused=key, verdict=Verdict(False, _window(rate)[1], value))
        return Gate(cooldown_left=0, refused=None, verdict=_ALLOWED)

    left = cooldown_remaining(cooldown_key) if cooldown_seconds > 0 else 0
    if left:
        return Gate(cooldown_left=left, refused=None, verdict=_ALLOWED)
    for key, rate in checks:
        verdict = consume(key, rate)
        if not verdict.allowed:
            return Gate(cooldown_left=0, refused=key, verdict=verdict)
    if cooldown_seconds > 0:
        ends = int((now + cooldown_seconds) * 1000)
        if not cache.add(cooldown_key, ends, timeout=cooldown_seconds):
            left = cooldown_remaining(cooldown_key)
            if left:  # another thread of this process started one between the check and here
                return Gate(cooldown_left=left, refused=None, verdict=_ALLOWED)
            # The key outlived the cooldown it recorded (the clock moved): replace it.
            cache.set(cooldown_key, ends, timeout=cooldown_seconds)
    return Gate(cooldown_left=0, refused=None, verdict=_ALLOWED)


_ALLOWED = Verdict(allowed=True, retry_after=0, count=0)
