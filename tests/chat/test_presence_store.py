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
