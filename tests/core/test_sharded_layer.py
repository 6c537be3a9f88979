"""The channel layer sharded over two Redis servers (CHANNEL_LAYER_REDIS_URLS), two real daphne
processes: chat fan-out, presence, a revocation's kick and the auth4app login push all cross the
processes, and the layer's traffic is spread over both servers, none of it on REDIS_URL's.

channels-redis hashes each channel and group name to one of the servers: a group_send goes to the
server of the group, where every process that has a member in it subscribed (docs/deployment.md)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import redis
import websockets
from django.conf import settings
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from devtools.auth4app_simulator import SimulatorCore, SimulatorServer
from tests.chat.conftest import open_direct
from tests.processes import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

API_KEY = "test-auth4app-key"


@pytest.fixture
def shards():
    servers = [RedisServer().start() for _ in range(2)]
    yield servers
    for server in servers:
        server.stop()


async def chat_socket(server, access: str):
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.post(f"{server.url}/api/ws/ticket/", headers={"Authorization": f"Bearer {access}"})
    assert response.status_code == 201, response.text
    return await connect(f"{server.ws_url}/ws/chat/?ticket={response.json()['ticket']}", compression=None)


async def recv(ws, kind: str, timeout: float = 5, **match) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
            return frame


def layer_channels(url: str) -> list[bytes]:
    with redis.Redis.from_url(url) as client:
        return [name for name in client.pubsub_channels() if name.startswith(settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"].encode())]


def test_push_kicks_presence_and_fan_out_cross_processes_over_two_layer_servers(start_server, shards, user_factory, login):
    with SimulatorServer(SimulatorCore(api_key=API_KEY)) as sim:
        env = {"CHANNEL_LAYER_REDIS_URLS": ",".join(shard.url for shard in shards),
               "CHAT_MESSAGES_PER_WINDOW": "100000", "AUTH4APP_API_URL": sim.url, "AUTH4APP_API_KEY": API_KEY,
               "AUTH4APP_POLL_INTERVAL": "0.3"}
        one, two = start_server(**env), start_server(**env)
        alice, bob, carol = user_factory(), user_factory(), user_factory()
        rooms = [open_direct(alice, bob).pk, open_direct(alice, carol).pk]
        sessions = {"alice": login(alice), "bob": login(bob), "carol": login(carol), "bob-phone": login(bob)}
        asyncio.run(_scenario(one, two, sim, shards, rooms, sessions))


async def _scenario(one, two, sim, shards, rooms, sessions):
    bob_room, carol_room = rooms
    alice = await chat_socket(one, sessions["alice"].access)
    bob = carol = None
    try:
        for room in rooms:
            await alice.send(json.dumps({"type": "subscribe", "room": room}))
            await recv(alice, "subscribed", room=room)
        # Presence across processes: Bob's socket on two is announced to Alice on one.
        bob = await chat_socket(two, sessions["bob"].access)
        carol = await chat_socket(two, sessions["carol"].access)
        bob_id = sessions["bob"].user.pk
        assert await recv(alice, "presence", room=bob_room, user=bob_id) == {
            "type": "presence", "room": bob_room, "user": bob_id, "online": True}
        for ws, room in ((bob, bob_room), (carol, carol_room)):
            await ws.send(json.dumps({"type": "subscribe", "room": room}))
            await recv(ws, "subscribed", room=room)
        # Fan-out across processes, in both rooms.
        for room, ws in ((bob_room, bob), (carol_room, carol)):
            await alice.send(json.dumps({"type": "message.send", "room": room, "text": f"hi {room}", "client_id": f"c{room}"}))
            ack = await recv(alice, "message.ack")
            assert (await recv(ws, "message.new"))["message"] == ack["message"]
        # And back, from two to one.
        await bob.send(json.dumps({"type": "message.send", "room": bob_room, "text": "hello", "client_id": "b1"}))
        while (await recv(alice, "message.new"))["message"]["text"] != "hello":
            pass  # Alice's own messages come back to her too

        # The layer's channels live on both servers, none on REDIS_URL's Redis.
        on_shards = [layer_channels(shard.url) for shard in shards]
        assert all(on_shards), on_shards
        assert layer_channels(settings.REDIS_URL) == []

        # A revocation on one kicks Bob's socket on two (4401), and Alice hears him go offline.
        async with httpx.AsyncClient(timeout=5) as http:
            revoke = await http.delete(f"{one.url}/api/sessions/{sessions['bob'].session.id}/",
                                       headers={"Authorization": f"Bearer {sessions['bob-phone'].access}"})
            assert revoke.status_code == 204, revoke.text
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(bob.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        assert await recv(alice, "presence", room=bob_room, online=False) == {"type": "presence", "room": bob_room, "user": bob_id, "online": False}

        # The auth4app login push: started on two, its socket on one gets the confirmation.
        async with httpx.AsyncClient(timeout=5) as http:
            started = await http.post(f"{two.url}/proxy/auth/code", data={"phone": "+79991234567"})
            assert started.status_code == 200, started.text
            body = started.json()
        async with websockets.connect(f"{one.ws_url}{body['ws_url']}?login_token={body['login_token']}") as login_ws:
            assert json.loads(await asyncio.wait_for(login_ws.recv(), 5))["status"] == "pending"
            sim.core.confirm(body["code_id"])
            frame = json.loads(await asyncio.wait_for(login_ws.recv(), 5))
            assert frame == {"type": "auth.status", "status": "confirmed", "phone": "+79991234567"}
    finally:
        for ws in (alice, bob, carol):
            if ws is not None:
                await ws.close()
