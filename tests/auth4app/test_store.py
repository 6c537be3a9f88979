"""The store's compare-and-set and leases, for Redis (several processes) and the embedded dict."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from django.conf import settings

from auth4app.store import LoginState, MemoryLoginStore, RedisLoginStore


@pytest.fixture(params=["redis", "memory"])
def store(request, requires_redis):
    if request.param == "redis":
        return RedisLoginStore(settings.CACHES["default"]["KEY_PREFIX"])
    return MemoryLoginStore()


def _state(code_id: str = "abc123") -> LoginState:
    return LoginState(code_id=code_id, status="pending", phone_requested="+79991234567", token_hash="t" * 64,
                      browser_hash="b" * 64, created_at=1000.0, expires_at=1300.0, polled_at=1000.0)


async def test_transition_is_a_compare_and_set(store):
    await store.create(_state())
    assert (await store.get("abc123")).status == "pending"
    results = await asyncio.gather(*(store.transition("abc123", ("pending",), {"status": s}) for s in ("confirmed", "expired")))
    assert sorted(results) == [False, True]
    winner = (await store.get("abc123")).status
    assert winner == ("confirmed" if results[0] else "expired")
    assert await store.transition("abc123", (winner,), {"polled_at": 1001.5, "failures": 2})
    state = await store.get("abc123")
    assert state.polled_at == 1001.5 and state.failures == 2 and state.phone_requested == "+79991234567"
    assert not await store.transition("missing", ("pending",), {"status": "confirmed"})
    assert await store.get("missing") is None


async def test_lease_has_one_holder_until_it_expires_or_is_released(store):
    assert await store.lease("abc123", "one", 200) is None
    assert await store.lease("abc123", "one", 200) is None  # renewal
    left = await store.lease("abc123", "two", 200)
    assert 0.1 < left <= 0.2  # held by "one" for that long
    assert await store.lease_holder("abc123") == "one"
    await store.release("abc123", "two")  # not the holder: no effect
    assert await store.lease_holder("abc123") == "one"
    await asyncio.sleep(0.25)
    assert await store.lease("abc123", "two", 200) is None  # lapsed: taken over
    await store.release("abc123", "two")
    assert await store.lease_holder("abc123") is None


async def test_step_claims_one_poll_per_interval_for_the_lease_holder(store):
    await store.create(_state())
    step = await store.step("abc123", owner="one", lease_ms=2000, now=1000.5, interval=1.0)
    assert step.kind == "wait" and abs(step.wait - 0.5) < 1e-6  # first poll one interval after the start
    step = await store.step("abc123", owner="one", lease_ms=2000, now=1001.0, interval=1.0)
    assert step.kind == "poll" and step.state.polled_at == 1001.0 and step.state.phone_requested == "+79991234567"
    assert (await store.step("abc123", owner="one", lease_ms=2000, now=1001.2, interval=1.0)).kind == "wait"
    held = await store.step("abc123", owner="two", lease_ms=2000, now=1005.0, interval=1.0)
    assert held.kind == "held" and 1.5 < held.wait <= 2.0
    assert (await store.step("abc123", owner="one", lease_ms=2000, now=1300.0, interval=1.0)).kind == "expired"
    await store.transition("abc123", ("pending",), {"status": "confirmed"})
    assert (await store.step("abc123", owner="one", lease_ms=2000, now=1002.0, interval=1.0)).kind == "over"
    assert (await store.step("nothing", owner="one", lease_ms=2000, now=1002.0, interval=1.0)).kind == "gone"


async def test_redis_commands_of_one_loop_iteration_share_one_round_trip(requires_redis, monkeypatch):
    from auth4app import store as store_module

    store = RedisLoginStore(settings.CACHES["default"]["KEY_PREFIX"])
    await asyncio.gather(*(store.create(_state(f"batch{i}")) for i in range(50)))
    trips = []
    original = store_module._Batcher._pipeline

    async def counted(self, commands):
        trips.append(len(commands))
        return await original(self, commands)

    monkeypatch.setattr(store_module._Batcher, "_pipeline", counted)
    steps = await asyncio.gather(
        *(store.step(f"batch{i}", owner="one", lease_ms=2000, now=1001.0, interval=1.0) for i in range(50))
    )
    assert [s.kind for s in steps] == ["poll"] * 50 and trips == [50]
    # Each script keeps its own answer: the compare-and-set still has exactly one winner.
    won = await asyncio.gather(*(store.transition("batch7", ("pending",), {"status": s}) for s in ("confirmed", "expired")))
    assert sorted(won) == [False, True] and trips[-1] == 2


async def test_redis_scripts_are_loaded_again_when_redis_forgot_them(requires_redis, monkeypatch):
    import uuid

    from auth4app import store as store_module

    # A script Redis has never seen, on a batcher that believes its scripts are loaded: as after
    # a Redis restart, EVALSHA answers NOSCRIPT.
    monkeypatch.setitem(store_module._SCRIPTS, "step", store_module._STEP_LUA + f"-- {uuid.uuid4()}\n")
    store = RedisLoginStore(settings.CACHES["default"]["KEY_PREFIX"])
    await store.create(_state())
    step = await store.step("abc123", owner="one", lease_ms=2000, now=1000.5, interval=1.0)
    assert step.kind == "wait"
    batcher = store._batcher()
    monkeypatch.setitem(store_module._SCRIPTS, "step", store_module._STEP_LUA + f"-- {uuid.uuid4()}\n")
    batcher.shas["step"] = hashlib.sha1(store_module._SCRIPTS["step"].encode()).hexdigest()
    step = await store.step("abc123", owner="one", lease_ms=2000, now=1001.0, interval=1.0)
    assert step.kind == "poll" and step.state.phone_requested == "+79991234567"


def test_steps_wake_on_a_shared_grid_of_ticks(settings):
    from auth4app.poller import _on_tick

    settings.AUTH4APP_POLL_INTERVAL = 1.0  # tick 50 ms
    for now in (1234.5678, 1000.0, 0.02):
        for asked in (0.0, 0.001, 0.013, 0.049, 0.3, 1.0):
            delay = _on_tick(asked, now)
            # Never earlier than asked, later by less than a tick, and on the grid shared by every watch.
            assert asked - 1e-9 <= delay < asked + 0.05
            ticks = (now + delay) / 0.05
            assert abs(ticks - round(ticks)) < 1e-6
    settings.AUTH4APP_POLL_INTERVAL = 0.1  # tick interval/8
    assert _on_tick(0.0, 1000.001) == pytest.approx(0.0115)
