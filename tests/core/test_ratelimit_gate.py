"""`ratelimit.cooldown_then_consume`: a cooldown and budgets decided in one atomic step, the same on
Redis (one Lua script) and on the in-process cache."""

from __future__ import annotations

import pytest
import time_machine
from django.core.cache import cache
from django.test import override_settings

from core import ratelimit

T0 = 1_800_000_000
BUDGETS = [
    ("g:ip", ratelimit.Rate(limit=3, period=3600)),
    ("g:number", ratelimit.Rate(limit=2, period=3600)),
    ("g:global", ratelimit.Rate(limit=100, period=3600)),
]

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "gate-test"}}


@pytest.fixture(params=["configured", "locmem"])
def backend(request, settings):
    if request.param == "configured":
        if "Redis" not in settings.CACHES["default"]["BACKEND"]:
            pytest.skip("no Redis configured")
        cache.clear()
        yield "redis"
        cache.clear()
    else:
        with override_settings(CACHES=LOCMEM):
            cache.clear()
            yield "locmem"


def _gate(cooldown=60, budgets=BUDGETS):
    return ratelimit.cooldown_then_consume(cooldown_key="g:cool", cooldown_seconds=cooldown, checks=budgets)


def _count(key, rate):
    return ratelimit.peek(key, rate).count


def test_uses_one_script_on_redis(backend):
    assert (ratelimit._redis_client() is not None) == (backend == "redis")


def test_cooldown_blocks_without_spending_and_lapses_with_the_clock(backend):
    with time_machine.travel(T0, tick=False):
        first = _gate()
        assert first.cooldown_left == 0 and first.refused is None and first.verdict.allowed
        assert [_count(k, r) for k, r in BUDGETS] == [1, 1, 1]
        assert ratelimit.cooldown_remaining("g:cool") == 60
    with time_machine.travel(T0 + 20.5, tick=False):
        blocked = _gate()
        assert blocked.cooldown_left == 40 and blocked.refused is None
        assert [_count(k, r) for k, r in BUDGETS] == [1, 1, 1]  # nothing spent while cooling down
    with time_machine.travel(T0 + 61, tick=False):  # the clock (not Redis' TTL) ends the cooldown
        assert _gate().cooldown_left == 0
        assert [_count(k, r) for k, r in BUDGETS] == [2, 2, 2]


def test_first_refused_budget_stops_the_rest_and_starts_no_cooldown(backend):
    with time_machine.travel(T0, tick=False):
        assert _gate(cooldown=0).verdict.allowed
        assert _gate(cooldown=0).verdict.allowed
        refused = _gate(cooldown=60)  # the number's budget (2) is spent now
        assert refused.refused == "g:number" and not refused.verdict.allowed
        assert refused.verdict.retry_after == 3600 - (T0 % 3600)
        assert refused.verdict.count == 3
        assert [_count(k, r) for k, r in BUDGETS] == [3, 3, 2]  # the global budget was not spent
        assert ratelimit.cooldown_remaining("g:cool") == 0
        again = _gate(cooldown=60)  # the IP's budget (3) is the first to refuse now
        assert again.refused == "g:ip"
        assert [_count(k, r) for k, r in BUDGETS] == [4, 3, 2]


def test_counters_are_shared_with_consume_and_windows_reset(backend):
    key, rate = BUDGETS[1]
    with time_machine.travel(T0, tick=False):
        assert ratelimit.consume(key, rate).allowed
        assert _gate(cooldown=0).verdict.allowed
        assert ratelimit.consume(key, rate).allowed is False
    with time_machine.travel(T0 + 3600, tick=False):
        assert _gate(cooldown=0).verdict.allowed


def test_reads_a_cooldown_stored_in_the_old_float_seconds_format(backend):
    with time_machine.travel(T0, tick=False):
        cache.set("g:cool", T0 + 30.0, timeout=30)
        assert ratelimit.cooldown_remaining("g:cool") == 30
        assert _gate().cooldown_left == 30


def test_consume_and_peek_on_one_client_keep_counts_and_give_windows_a_lifetime(backend):
    rate = ratelimit.Rate(limit=2, period=60)
    with time_machine.travel(T0, tick=False):
        assert [ratelimit.consume("g:c", rate).count for _ in range(3)] == [1, 2, 3]
        assert ratelimit.peek("g:c", rate).count == 3 and not ratelimit.peek("g:c", rate).allowed
        assert ratelimit.consume("g:c", rate, amount=5).count == 8
        assert ratelimit.peek("g:other", rate).count == 0
        if backend == "redis":
            window_key = cache.make_and_validate_key(ratelimit._key("g:c", rate, T0 // 60))
            assert 0 < ratelimit._redis_client().ttl(window_key) <= 65


def test_give_back_returns_reserved_hits_in_one_call(backend):
    ip, number = ratelimit.Rate(limit=2, period=3600), ratelimit.Rate(limit=5, period=3600)
    with time_machine.travel(T0, tick=False):
        ratelimit.consume("g:ip", ip)
        ratelimit.consume("g:ip", ip)
        ratelimit.consume("g:number", number)
        ratelimit.give_back(("g:ip", ip), ("g:number", number))
        assert _count("g:ip", ip) == 1 and _count("g:number", number) == 0
        assert ratelimit.consume("g:ip", ip).allowed  # the given-back hit is usable again


def test_check_all_stops_at_the_first_refusal(backend):
    budgets = [("g:ip", ratelimit.Rate(limit=1, period=3600)), ("g:number", ratelimit.Rate(limit=5, period=3600))]
    with time_machine.travel(T0 + 600, tick=False):
        assert ratelimit.check_all(budgets).allowed
        for _ in range(3):
            refused = ratelimit.check_all(budgets)
            assert not refused.allowed and refused.retry_after == 3000
        assert _count("g:number", budgets[1][1]) == 1  # today every refused call spent it too
