"""The shared presence store's rules, on Redis and on the in-process dict alike."""

from __future__ import annotations

import pytest
from django.conf import settings

from chat import presence
from core import redis_clients


@pytest.fixture(params=["redis", "memory"])
async def store(request):
    if request.param == "redis":
        if not settings.REDIS_URL:
            pytest.skip("needs Redis")
        return presence.RedisPresence(redis_clients.async_client())
    return presence.MemoryPresence()


async def test_online_reads_live_entries_only(store):
    t = 1_000_000.0
    assert (await store.open(1, "c1", t, 60, 10)).came_online
    assert (await store.open(2, "c2", t, 60, 10)).came_online
    assert not (await store.open(1, "c1b", t, 60, 10)).came_online
    assert await store.online([1, 2, 3], t + 1) == [1, 2]
    # user 2 closed their only socket; user 1 still has one of two
    assert await store.close(2, "c2", t + 2)
    assert not await store.close(1, "c1", t + 2)
    assert await store.online([3, 2, 1], t + 3) == [1]
    # entries of a crashed process: past their expiry the user is offline without any close
    assert await store.online([1], t + 61) == []
    assert await store.sweep(t + 61) == [1]
    assert await store.online([1, 2], t + 62) == []


async def test_online_of_many_users_is_one_answer(store):
    t = 2_000_000.0
    for uid in range(10, 1010, 2):
        await store.open(uid, f"c{uid}", t, 60, 10)
    assert await store.online(list(range(10, 1010)), t + 1) == list(range(10, 1010, 2))
    assert await store.online([], t) == []


@pytest.fixture
async def redis_stores():
    """Two processes' stores on one Redis: `a` and `b`."""
    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    client = redis_clients.async_client()
    return presence.RedisPresence(client), presence.RedisPresence(client)


async def test_a_dead_processs_sockets_stop_counting_at_once(redis_stores, settings):
    """Issue 21: a process killed with kill -9 leaves entries that would count toward the socket cap
    for a whole TTL (60 s: reconnects got 4429). Its liveness key lapses, and its entries go with it."""
    a, b = redis_stores
    t, user = presence.now(), 3_000_001
    for i in range(10):
        assert (await a.open(user, f"a{i}", t, 60, 10)).accepted
    assert not (await b.open(user, "b0", t, 60, 10)).accepted  # the cap holds while `a` lives
    await a.client.delete(a.process_key)  # `a` is killed: its liveness key lapses (TTL), nothing else runs
    opened = await b.open(user, "b0", t + 1, 60, 10)
    assert opened.accepted and opened.came_online  # a's entries are gone: b's socket is the user's first
    for i in range(1, 10):
        assert (await b.open(user, f"b{i}", t + 1, 60, 10)).accepted
    assert not (await b.open(user, "b10", t + 1, 60, 10)).accepted  # the cap still holds for live sockets
    assert await b.online([user], t + 2) == [user]
    # b's sockets close: the last one takes the user offline, the dead process's entries not in the way
    assert [await b.close(user, f"b{i}", t + 3) for i in range(10)] == [False] * 9 + [True]


async def test_the_last_live_socket_closing_ignores_a_dead_processs_entries(redis_stores):
    a, b = redis_stores
    t, user = presence.now(), 3_000_002
    assert (await a.open(user, "a0", t, 60, 10)).came_online
    assert not (await b.open(user, "b0", t, 60, 10)).came_online
    await a.client.delete(a.process_key)
    assert await b.close(user, "b0", t + 1)  # offline now, not when a's entry expires a minute later
    assert await b.online([user], t + 2) == []


async def test_keep_alive_renews_the_liveness_key_and_says_when_it_had_lapsed(redis_stores, settings):
    settings.CHAT_PRESENCE_PROCESS_TTL_SECONDS = 7
    a, _ = redis_stores
    await a.open(3_000_003, "a0", presence.now(), 60, 10)
    assert 0 < await a.client.ttl(a.process_key) <= 7
    assert await a.keep_alive() is False
    await a.client.delete(a.process_key)
    assert await a.keep_alive() is True  # lapsed: the heartbeat writes this process's entries again
    assert 0 < await a.client.ttl(a.process_key) <= 7
    await a.close(3_000_003, "a0", presence.now())


async def test_a_heartbeat_whose_liveness_lapsed_writes_its_entries_again(settings):
    """A process that was taken for dead (its loop stalled past the TTL) gets its sockets counted again
    on its next renewal, not a presence TTL later."""
    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    import asyncio

    settings.CHAT_PRESENCE_PROCESS_TTL_SECONDS = 2  # renewed every 0.5 s
    mine, other = presence.store(), presence.RedisPresence(redis_clients.async_client())
    user = 3_000_004
    beat = presence.Heartbeat()
    assert (await mine.open(user, "mine", presence.now(), 60, 2)).accepted
    beat.add("mine", user)
    try:
        await mine.client.delete(mine.process_key)  # taken for dead...
        assert (await other.open(user, "o1", presence.now(), 60, 2)).came_online  # ...its entry dropped
        for _ in range(40):
            await asyncio.sleep(0.1)
            if await mine.client.zscore(presence._user_key(user), mine._member("mine")) is not None:
                break
        assert await mine.client.zscore(presence._user_key(user), mine._member("mine")) is not None
        assert not (await other.open(user, "o2", presence.now(), 60, 2)).accepted  # counted again
    finally:
        beat.discard("mine")
        await mine.close(user, "mine", presence.now())
        await other.close(user, "o1", presence.now())
