"""Real daphne processes sharing the test database and Redis, real WebSocket clients."""

import asyncio
import json

import httpx
import pytest
from channels.db import database_sync_to_async
from websockets.asyncio.client import connect

from chat import services
from tests.chat.conftest import open_direct

pytestmark = pytest.mark.django_db(transaction=True)

SERVER_ENV = {"CHAT_MESSAGES_PER_WINDOW": "100000", "CHAT_PRESENCE_TTL_SECONDS": "5"}


@pytest.fixture
def people(user_factory, login):
    alice, bob = user_factory(), user_factory()
    room = open_direct(alice, bob)
    return {"alice": login(alice), "bob": login(bob), "room": room.pk}


async def open_socket(server, login_result):
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{server.url}/api/ws/ticket/", headers={"Authorization": f"Bearer {login_result.access}"}
        )
    assert response.status_code == 201, response.text
    return await connect(f"{server.ws_url}/ws/chat/?ticket={response.json()['ticket']}", compression=None)


async def recv(ws, kind: str, timeout: float = 5) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["type"] == kind:
            return frame


async def test_delivery_across_processes_and_resume_after_disconnect_in_a_burst(start_server, people):
    one, two = start_server(**SERVER_ENV), start_server(**SERVER_ENV)
    room = people["room"]
    alice = await open_socket(one, people["alice"])
    bob = await open_socket(two, people["bob"])
    try:
        await bob.send(json.dumps({"type": "subscribe", "room": room}))
        assert (await recv(bob, "subscribed"))["last_id"] == 0
        await alice.send(json.dumps({"type": "message.send", "room": room, "text": "hello", "client_id": "h"}))
        ack = await recv(alice, "message.ack")
        assert (await recv(bob, "message.new"))["message"] == ack["message"]

        # A burst of 300; bob's socket dies after 60 of them, he reconnects (to the other process)
        # and resumes after the last id he saw.
        total = 300

        async def burst():
            for i in range(total):
                await alice.send(json.dumps({"type": "message.send", "room": room, "text": f"b{i}", "client_id": f"b{i}"}))

        sender = asyncio.create_task(burst())
        seen: list[int] = []
        while len(seen) < 60:
            seen.append((await recv(bob, "message.new"))["message"]["id"])
        bob.transport.abort()  # no close handshake: like a dropped connection
        await asyncio.sleep(0.2)
        bob = await open_socket(one, people["bob"])
        await bob.send(json.dumps({"type": "subscribe", "room": room, "after": seen[-1]}))
        subscribed = None
        while subscribed is None or len([i for i in seen if i > ack["message"]["id"]]) < total:
            frame = json.loads(await asyncio.wait_for(bob.recv(), 10))
            if frame["type"] == "message.new":
                seen.append(frame["message"]["id"])
            elif frame["type"] == "subscribed":
                subscribed = frame
        await sender
        acks = 0
        while acks < total:
            frame = json.loads(await asyncio.wait_for(alice.recv(), 10))
            acks += frame["type"] == "message.ack"
        burst_ids = [i for i in seen if i > ack["message"]["id"]]
        assert len(burst_ids) == len(set(burst_ids)) == total, "duplicates or gaps"
        assert burst_ids == sorted(burst_ids)
        stored = await database_sync_to_async(
            lambda: list(services.Message.objects.filter(room_id=room, text__startswith="b").values_list("id", flat=True))
        )()
        assert sorted(stored) == burst_ids
    finally:
        await alice.close()
        await bob.close()


async def test_presence_across_processes_and_crashed_process_expires(start_server, people):
    one, two = start_server(**SERVER_ENV), start_server(**SERVER_ENV)
    room = people["room"]
    alice = await open_socket(one, people["alice"])
    try:
        await alice.send(json.dumps({"type": "subscribe", "room": room}))
        assert (await recv(alice, "presence.state"))["online"] == [people["alice"].user.pk]
        _bob_on_two = await open_socket(two, people["bob"])  # held open: bob is online on process two
        bob_pk = people["bob"].user.pk
        assert await recv(alice, "presence") == {"type": "presence", "room": room, "user": bob_pk, "online": True}
        bob_on_one = await open_socket(one, people["bob"])
        await bob_on_one.close()
        # Bob still has a socket on the other process: no "offline".
        with pytest.raises(asyncio.TimeoutError):
            await recv(alice, "presence", timeout=0.5)
        # The process holding Bob's last socket crashes: no disconnect() runs, his entry expires
        # (TTL 5 s) and a live process's sweeper announces it.
        two.kill()
        offline = await recv(alice, "presence", timeout=12)
        assert offline == {"type": "presence", "room": room, "user": bob_pk, "online": False}
    finally:
        await alice.close()
