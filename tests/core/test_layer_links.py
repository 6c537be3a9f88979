"""A lost link to Redis is never silent (issue 21): the channel layer's subscriber connection reports
its loss (core.redis_clients -> core.layer_links), a Redis or database failure anywhere in a socket's
stack ends it with 4503 (core.sockets.BackendFailureMiddleware), and a request that meets a Redis
outage gets a JSON 503 with Retry-After."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis
from channels.testing import WebsocketCommunicator

from core import layer_links, redis_clients
from core.sockets import CLOSE_BACKEND_UNAVAILABLE, BackendFailureMiddleware
from tests.core.test_redis_restart import throwaway_redis  # noqa: F401 (a fixture)


class Socket:
    """What core.layer_links needs of a consumer."""

    def __init__(self):
        self.told = 0

    def layer_link_lost(self):
        self.told += 1


async def _layer_on(url: str):
    layer = redis_clients.RedisPubSubChannelLayer(hosts=[{"address": url}], prefix="linktest")
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    await layer.group_send("room", {"type": "hello"})
    assert await asyncio.wait_for(layer.receive(channel), 5) == {"type": "hello"}
    return layer, channel


@pytest.mark.redis
async def test_a_redis_restart_under_the_layer_tells_the_watched_sockets_once(throwaway_redis):  # noqa: F811
    layer, channel = await _layer_on(throwaway_redis.url)
    watched, losses = Socket(), layer_links.watch().losses
    assert layer_links.watch().add(watched) == losses
    try:
        throwaway_redis.kill()
        # The receive loop reads every 0.1 s and finds the connection closed: reported at once,
        # before Redis is back and before any event of the new connection.
        for _ in range(100):
            if watched.told:
                break
            await asyncio.sleep(0.02)
        assert watched.told == 1
        throwaway_redis.start()
        later = Socket()
        layer_links.watch().add(later)
        # The layer works again by itself (redis-py subscribes again), and reports nothing more.
        for attempt in range(100):
            await layer.group_send("room", {"type": "again", "n": attempt})
            try:
                message = await asyncio.wait_for(layer.receive(channel), 0.1)
                break
            except asyncio.TimeoutError:
                continue
        assert message["type"] == "again"
        assert watched.told == 1 and later.told == 0
        assert layer_links.watch().losses == losses + 1
    finally:
        layer_links.watch().discard(watched)
        await layer.flush()


@pytest.mark.redis
async def test_a_lost_publishing_connection_is_not_a_lost_subscription(throwaway_redis):  # noqa: F811
    layer, channel = await _layer_on(throwaway_redis.url)
    watched = Socket()
    layer_links.watch().add(watched)
    try:
        with redis.Redis.from_url(throwaway_redis.url) as admin:
            # Every connection except the subscriber's (which Redis lists as a pubsub client).
            for client in admin.client_list(_type="normal"):
                if client["name"] != "admin":
                    admin.client_kill_filter(_id=client["id"], skipme=True)
        await layer.group_send("room", {"type": "after"})  # retried on a new connection
        assert await asyncio.wait_for(layer.receive(channel), 5) == {"type": "after"}
        assert watched.told == 0
    finally:
        layer_links.watch().discard(watched)
        await layer.flush()


# --- BackendFailureMiddleware ---------------------------------------------------------------------


def _app_failing(*, after_accept: bool):
    async def app(scope, receive, send):
        assert (await receive())["type"] == "websocket.connect"
        if after_accept:
            await send({"type": "websocket.accept"})
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    return app


async def _refused_in_auth(scope, receive, send):
    raise redis.ConnectionError("refused")  # as the ticket look-up does, before anything was received


@pytest.mark.parametrize("app", [_app_failing(after_accept=False), _app_failing(after_accept=True), _refused_in_auth],
                         ids=["in the handshake", "on an open socket", "before the connect was read"])
async def test_a_backend_failure_anywhere_in_a_socket_closes_it_4503(app):
    communicator = WebsocketCommunicator(BackendFailureMiddleware(app), "/ws/chat/")
    connected, code = await communicator.connect()
    assert connected  # accepted (not daphne's HTTP 500 of a failed handshake) ...
    assert (await communicator.receive_output(2)) == {"type": "websocket.close", "code": CLOSE_BACKEND_UNAVAILABLE}
    await communicator.wait(1)


async def test_other_errors_are_left_to_the_server():
    async def app(scope, receive, send):
        raise ValueError("a bug")

    communicator = WebsocketCommunicator(BackendFailureMiddleware(app), "/ws/chat/")
    with pytest.raises(ValueError):
        await communicator.connect()


# --- a request during a Redis outage ------------------------------------------------------------


@pytest.mark.django_db
def test_a_ticket_asked_for_while_redis_is_down_is_a_json_503(auth_client, requires_redis, monkeypatch):
    client, _ = auth_client()
    assert client.post("/api/ws/ticket/").status_code == 201
    # The ticket's limit is counted on the process's Redis client: now it reaches a Redis that is down.
    dead = redis.Redis(connection_pool=redis.ConnectionPool.from_url("redis://127.0.0.1:1/0", retry=redis_clients._sync_retry()))
    monkeypatch.setattr(redis_clients, "_sync_client_instance", dead)
    monkeypatch.setattr(redis_clients, "_sync_scripts", {})
    response = client.post("/api/ws/ticket/")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "2"
    assert response.json() == {"detail": response.json()["detail"], "code": "service_unavailable", "retry_after": 2}


def test_a_loss_reported_outside_any_event_loop_is_ignored_quietly():
    # redis-py may drop a connection from garbage collection, with no loop running: its disconnect
    # must still complete, and no socket can be waiting on such a connection.
    layer_links.lost()


def test_a_redis_error_outside_drf_is_a_json_503_on_api_paths(rf):
    from core.errors import json_or_html_500

    request = rf.post("/proxy/auth/code")
    try:
        raise redis.ConnectionError("Connection refused")
    except redis.ConnectionError:
        response = json_or_html_500(request)  # as Django calls it: inside the handler's except block
    assert response.status_code == 503 and response["Retry-After"] == "2"
    assert json.loads(response.content)["code"] == "service_unavailable"
