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

from core import clock


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


def consume(key: str, rate: Rate, amount: int = 1) -> Verdict:
    index, remaining = _window(rate)
    cache_key = _key(key, rate, index)
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
    count = cache.get(_key(key, rate, index), 0)
    allowed = count < rate.limit
    return Verdict(allowed=allowed, retry_after=0 if allowed else remaining, count=count)


def check_all(checks: list[tuple[str, Rate]]) -> Verdict:
    """Consume one hit from each (key, rate); the first exhausted one decides."""
    worst: Verdict | None = None
    for key, rate in checks:
        verdict = consume(key, rate)
        if not verdict.allowed and (worst is None or verdict.retry_after > worst.retry_after):
            worst = verdict
    return worst or Verdict(allowed=True, retry_after=0, count=0)
