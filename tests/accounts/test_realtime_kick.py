"""Real-time kick across processes: a session revoked through the API on server A closes that
session's WebSocket open on server B with 4401 within 1 s, and B refuses its tokens from then on.

Two real daphne processes share the test database and Redis (channel layer and cache)."""

import asyncio
import json
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

KICK_DEADLINE_SECONDS = 1.0


def test_revoke_on_one_process_closes_the_socket_on_another_within_1s(start_server, user_factory, login):
    server_a, server_b = start_server(), start_server()
    user = user_factory()
    victim, other_device = login(user), login(user)
    bystander = login(user_factory())

    async def scenario():
        async with httpx.AsyncClient(timeout=5) as http:

            async def ticket(server, access):
                response = await http.post(f"{server.url}/api/ws/ticket/", headers={"Authorization": f"Bearer {access}"})
                return response

            victim_ticket = (await ticket(server_b, victim.access)).json()["ticket"]
            bystander_ticket = (await ticket(server_b, bystander.access)).json()["ticket"]
            async with connect(f"{server_b.ws_url}/ws/chat/?ticket={victim_ticket}", compression=None) as victim_ws, \
                    connect(f"{server_b.ws_url}/ws/chat/?ticket={bystander_ticket}", compression=None) as bystander_ws:
                # A round trip on each socket: the consumer has finished connecting (session bound).
                for ws in (victim_ws, bystander_ws):
                    await ws.send(json.dumps({"type": "ping"}))
                    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "pong"

                started = time.monotonic()
                revoke = await http.delete(
                    f"{server_a.url}/api/sessions/{victim.session.id}/",
                    headers={"Authorization": f"Bearer {other_device.access}"},
                )
                assert revoke.status_code == 204

                with pytest.raises(ConnectionClosed) as closed:
                    while True:  # frames already in flight may come first; the close must follow
                        await asyncio.wait_for(victim_ws.recv(), KICK_DEADLINE_SECONDS * 2)
                elapsed = time.monotonic() - started
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
                assert elapsed < KICK_DEADLINE_SECONDS, f"closed after {elapsed:.3f}s"

                # The other user's socket on B is untouched.
                await bystander_ws.send(json.dumps({"type": "ping"}))
                assert json.loads(await asyncio.wait_for(bystander_ws.recv(), 5))["type"] == "pong"

            # B refuses the revoked session's tokens: no requests, no new tickets.
            me = await http.get(f"{server_b.url}/api/me/", headers={"Authorization": f"Bearer {victim.access}"})
            assert me.status_code == 401 and me.json()["code"] == "session_revoked"
            assert (await ticket(server_b, victim.access)).status_code == 401
            refreshed = await http.post(f"{server_b.url}/api/token/refresh/", json={"refresh": victim.refresh})
            assert refreshed.status_code == 401
            return elapsed

    elapsed = asyncio.run(scenario())
    print(f"cross-process kick took {elapsed * 1000:.0f} ms")


def test_a_ticket_issued_before_the_revoke_is_refused_on_another_process(start_server, user_factory, login):
    server_a, server_b = start_server(), start_server()
    result = login(user_factory())

    async def scenario():
        async with httpx.AsyncClient(timeout=5) as http:
            headers = {"Authorization": f"Bearer {result.access}"}
            ticket = (await http.post(f"{server_a.url}/api/ws/ticket/", headers=headers)).json()["ticket"]
            assert (await http.post(f"{server_a.url}/api/logout/", headers=headers)).status_code == 204
            async with connect(f"{server_b.ws_url}/ws/chat/?ticket={ticket}", compression=None) as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
                assert closed.value.rcvd.code == 4401

    asyncio.run(scenario())
