"""Two real server processes sharing Redis and the database, against the fake auth4app."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets

from auth4app.store import get_store

from .conftest import API_KEY, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PHONE = "+79991234567"


def _env(sim, interval: float) -> dict:
    return {"AUTH4APP_API_URL": sim.url, "AUTH4APP_API_KEY": API_KEY, "AUTH4APP_POLL_INTERVAL": str(interval)}


async def _start(http: httpx.AsyncClient, server) -> dict:
    response = await http.post(f"{server.url}/proxy/auth/code", data={"phone": PHONE})
    assert response.status_code == 200, response.text
    return response.json()


def _socket(server, body):
    return websockets.connect(f"{server.ws_url}{body['ws_url']}?login_token={body['login_token']}")


async def _held_by(code_id: str, server) -> bool:
    holder = await get_store().lease_holder(code_id)
    return bool(holder) and f":{server.process.pid}:" in holder


async def _terminal(ws) -> tuple[dict, float]:
    frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return frame, time.time()


async def test_socket_on_a_receives_what_b_polled_and_a_takes_over_when_b_dies(start_server, sim):
    interval = 0.3
    a = start_server(**_env(sim, interval))
    b = start_server(**_env(sim, interval))
    async with httpx.AsyncClient() as http:
        body = await _start(http, b)
        async with _socket(a, body) as ws:
            assert json.loads(await ws.recv())["status"] == "pending"
            # B started the login, so B polls it; A only watches for its socket.
            await wait_for(lambda: _held_by(body["code_id"], b))
            sim.core.confirm(body["code_id"])
            frame, arrived = await _terminal(ws)
            assert frame == {"type": "auth.status", "status": "confirmed", "phone": PHONE}
            seen = sim.core.storage.get(body["code_id"])["first_seen_at"]
            # From the poll that saw the confirmation (on B) to the frame on A's socket.
            assert arrived - seen < 0.1, f"push took {arrived - seen:.3f}s"
            with pytest.raises(websockets.ConnectionClosedOK):
                await ws.recv()
            assert ws.close_code == 1000
        # The client completes on the other process, once.
        done = await http.post(f"{a.url}/proxy/auth/complete", data={"code_id": body["code_id"], "login_token": body["login_token"]})
        assert done.status_code == 200 and done.json()["user"]["phone"] == PHONE
        again = await http.post(f"{b.url}/proxy/auth/complete", data={"code_id": body["code_id"], "login_token": body["login_token"]})
        assert again.status_code == 400

        # The poller dies: A, which has a socket on the login, takes over within two intervals.
        second = await _start(http, b)
        async with _socket(a, second) as ws:
            assert json.loads(await ws.recv())["status"] == "pending"
            await wait_for(lambda: _held_by(second["code_id"], b))
            b.kill()
            killed = time.monotonic()
            await wait_for(lambda: _held_by(second["code_id"], a), timeout=5)
            assert time.monotonic() - killed <= 2 * interval + 0.25
            sim.core.confirm(second["code_id"])
            frame, _ = await _terminal(ws)
            assert frame["status"] == "confirmed"


async def test_five_sockets_and_five_pollers_on_two_processes_cost_one_call_per_interval(start_server, sim):
    a = start_server(**_env(sim, 1.0))
    b = start_server(**_env(sim, 1.0))
    servers = [a, b]
    async with httpx.AsyncClient() as http:
        # Production settings (DEBUG off): the simulator is not there.
        assert (await http.get(f"{a.url}/dev/auth4app/")).status_code == 404
        body = await _start(http, a)
        began = time.monotonic()
        sockets = [await _socket(servers[i % 2], body).__aenter__() for i in range(5)]
        try:
            for ws in sockets:
                assert json.loads(await ws.recv())["status"] == "pending"

            async def poll(i: int) -> int:
                requests = 0
                while time.monotonic() - began < 10:
                    response = await http.post(f"{servers[i % 2].url}/proxy/auth/result",
                                               data={"code_id": body["code_id"], "login_token": body["login_token"]})
                    assert response.json()["status"] == "pending"
                    requests += 1
                    await asyncio.sleep(0.25)
                return requests

            polled = await asyncio.gather(*(poll(i) for i in range(5)))
            assert sum(polled) >= 100
            during = sim.result_calls()
            assert 5 <= during <= 11, during

            sim.core.confirm(body["code_id"])
            frames = await asyncio.gather(*(_terminal(ws) for ws in sockets))
            assert all(frame["status"] == "confirmed" for frame, _ in frames)
            result = await http.post(f"{b.url}/proxy/auth/result", data={"code_id": body["code_id"], "login_token": body["login_token"]})
            assert result.json()["auth"] is True
        finally:
            for ws in sockets:
                await ws.close()
        await asyncio.sleep(1.2)  # nothing keeps polling a confirmed login
        assert sim.result_calls() <= 12, sim.result_calls()
