"""A Redis restart costs a command of core.redis_clients a pause, not an error (issue 21: two async
pools kept connections a restart had broken, and redis-py's async client on a pool of its own retries
nothing). A throwaway redis-server on a free port is killed with SIGKILL and started again."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

import pytest
import redis
import redis.asyncio as aioredis

from core import redis_clients
from tests.servers import free_port

pytestmark = pytest.mark.redis


class ThrowawayRedis:
    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with redis.Redis.from_url(self.url, socket_timeout=0.5) as probe:
                    probe.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise AssertionError(f"redis-server on {self.port} did not answer")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def throwaway_redis():
    if shutil.which("redis-server") is None:
        pytest.fail("this test starts a redis-server of its own: apt-get install redis-server (./scripts/test does)")
    server = ThrowawayRedis()
    server.start()
    yield server
    server.kill()


async def test_a_restart_between_two_commands_is_absorbed(throwaway_redis):
    policy = redis_clients.async_client_for(throwaway_redis.url)
    # What the project had before: redis-py's asyncio client on a pool of its own (no retry).
    bare = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(throwaway_redis.url))
    try:
        assert await policy.set("k", "1") and await bare.set("k", "1")
        throwaway_redis.kill()
        throwaway_redis.start()  # an empty Redis on the same port; both pools hold a broken connection
        assert await policy.get("k") is None  # reconnected and asked again
        with pytest.raises(redis.ConnectionError):
            await bare.get("k")  # the control: the same situation is an error without the policy
    finally:
        await policy.aclose(close_connection_pool=True)
        await bare.aclose(close_connection_pool=True)


async def test_a_command_sent_while_redis_is_down_waits_for_it_within_the_retries(throwaway_redis):
    client = redis_clients.async_client_for(throwaway_redis.url)
    try:
        await client.set("k", "1")
        throwaway_redis.kill()

        async def back_soon():
            await asyncio.sleep(0.05)
            await asyncio.to_thread(throwaway_redis.start)

        restart = asyncio.create_task(back_soon())
        # Refused connections are retried for 0.35-0.7 s (core.redis_clients), long enough for Redis to be back.
        assert await client.set("k", "2")
        await restart
        assert await client.get("k") == b"2"
    finally:
        await client.aclose(close_connection_pool=True)


async def test_the_channel_layer_comes_back_after_a_restart_and_reports_the_lost_link(throwaway_redis, settings, monkeypatch):
    """The layer's pub/sub connection reconnects (and resubscribes) by itself, and its loss is
    reported (core.layer_links.lost), so that chat closes its sockets for a resume."""
    from core import layer_links
    from core.redis_clients import RedisPubSubChannelLayer

    settings.CHANNEL_LAYER_REDIS_URLS = []
    reconnects = []
    monkeypatch.setattr(layer_links, "lost", lambda: reconnects.append(1))
    layer = RedisPubSubChannelLayer(hosts=[{"address": throwaway_redis.url}], prefix="restart")
    try:
        channel = await layer.new_channel()
        await layer.group_add("room", channel)
        await layer.group_send("room", {"type": "before"})
        assert (await asyncio.wait_for(layer.receive(channel), 5))["type"] == "before"
        assert reconnects == []

        throwaway_redis.kill()
        throwaway_redis.start()
        receiving = asyncio.create_task(layer.receive(channel))
        deadline = time.monotonic() + 10
        while not receiving.done() and time.monotonic() < deadline:
            try:
                await layer.group_send("room", {"type": "after"})
            except redis.ConnectionError:
                pass
            await asyncio.wait([receiving], timeout=0.2)
        assert receiving.done() and receiving.result()["type"] == "after"
        assert reconnects, "the lost link was not reported"
    finally:
        await layer.flush()
