"""Expiry, upstream failure and idle polling, with the clock moved by time-machine."""

from __future__ import annotations

import asyncio

import pytest
import time_machine
from django.test import AsyncClient

from auth4app.store import get_store

from .conftest import open_socket, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("a4a_settings")]


async def _start(client):
    response = await client.post("/proxy/auth/code", {"phone": "+79991234567"})
    assert response.status_code == 200
    return response.json()


async def _result(client, body):
    response = await client.post("/proxy/auth/result", {"code_id": body["code_id"], "login_token": body["login_token"]})
    return response.json()


async def test_expiry_reaches_socket_result_and_complete(sim, poller):
    with time_machine.travel(0, tick=True) as traveller:
        client = AsyncClient()
        body = await _start(client)
        socket = await open_socket(body["code_id"], login_token=body["login_token"])
        try:
            assert (await socket.receive_json_from())["expires_in"] == 300
            traveller.shift(299)
            assert (await _result(client, body))["status"] == "pending"
            assert await socket.receive_nothing(timeout=0.3)
            traveller.shift(2)
            assert await socket.receive_json_from(timeout=2) == {"type": "auth.status", "status": "expired"}
            assert (await socket.receive_output(timeout=1))["code"] == 1000
        finally:
            await socket.disconnect()
        assert await _result(client, body) == {"auth": False, "status": "expired"}
        # A confirmation arriving after expiry changes nothing.
        sim.core.confirm(body["code_id"])
        await asyncio.sleep(0.3)
        assert (await _result(client, body))["status"] == "expired"
        complete = await client.post("/proxy/auth/complete", {"code_id": body["code_id"]})
        assert complete.status_code == 400 and complete.json()["code"] == "expired"


async def test_expiry_seen_by_a_polling_client_without_any_poller(sim, poller):
    with time_machine.travel(0, tick=True) as traveller:
        client = AsyncClient()
        body = await _start(client)
        await poller.aclose()  # nobody watches: the result request itself notices the expiry
        traveller.shift(301)
        assert await _result(client, body) == {"auth": False, "status": "expired"}


async def test_confirmed_login_can_be_completed_briefly_after_expiry_but_not_later(sim, poller):
    with time_machine.travel(0, tick=True) as traveller:
        client = AsyncClient()
        first = await _start(client)
        second = await _start(client)
        traveller.shift(290)
        sim.core.confirm(first["code_id"])
        sim.core.confirm(second["code_id"])
        await wait_for(lambda: _is(client, first, "confirmed"))
        await wait_for(lambda: _is(client, second, "confirmed"))
        traveller.shift(20)  # past the code's expiry, inside the grace after confirmation
        ok = await client.post("/proxy/auth/complete", {"code_id": first["code_id"]})
        assert ok.status_code == 200
        traveller.shift(200)
        late = await client.post("/proxy/auth/complete", {"code_id": second["code_id"]})
        assert late.status_code == 400 and late.json()["code"] == "expired"


async def _is(client, body, status):
    return (await _result(client, body))["status"] == status


async def test_upstream_failures_are_retried_with_backoff_then_error_after_30s(sim, poller):
    with time_machine.travel(0, tick=True) as traveller:
        client = AsyncClient()
        body = await _start(client)
        socket = await open_socket(body["code_id"], login_token=body["login_token"])
        try:
            await socket.receive_json_from()
            sim.core.storage.set_setting("mode", "error")
            await asyncio.sleep(1.0)
            # Backoff: at interval 0.1 s, 1 s of failures is about 4 tries (0.1, 0.2, 0.4, ...), not 10.
            failing = sim.core.storage.get_stats().get("code/result", 0)
            assert 2 <= failing <= 6, failing
            state = await get_store().get(body["code_id"])
            assert state.status == "pending" and state.failures >= 2
            assert (await _result(client, body))["status"] == "pending"

            traveller.shift(31)
            frame = await socket.receive_json_from(timeout=3)
            assert frame["status"] == "error" and frame["detail"]
            assert (await socket.receive_output(timeout=1))["code"] == 1000
        finally:
            await socket.disconnect()
        result = await _result(client, body)
        assert result["status"] == "error" and result["auth"] is False


async def test_polling_recovers_when_upstream_comes_back(sim, poller, settings):
    settings.AUTH4APP_HTTP_TIMEOUT_SECONDS = 0.2
    client = AsyncClient()
    body = await _start(client)
    sim.core.storage.set_setting("mode", "timeout")
    await asyncio.sleep(0.3)
    sim.core.storage.set_setting("mode", "ok")
    sim.core.confirm(body["code_id"])
    await wait_for(lambda: _is(client, body, "confirmed"), timeout=8)
    state = await get_store().get(body["code_id"])
    assert state.status == "confirmed"


async def test_polling_stops_when_nobody_asks_for_30s(sim, poller):
    with time_machine.travel(0, tick=True) as traveller:
        client = AsyncClient()
        body = await _start(client)
        await asyncio.sleep(0.35)
        assert body["code_id"] in poller.watches
        assert sim.core.storage.get_stats().get("code/result", 0) >= 2
        traveller.shift(31)
        await wait_for(lambda: body["code_id"] not in poller.watches)
        calls = sim.core.storage.get_stats()["code/result"]
        await asyncio.sleep(0.35)
        assert sim.core.storage.get_stats()["code/result"] == calls
        assert await get_store().lease_holder(body["code_id"]) is None  # released for other processes
        # Asking again resumes polling.
        assert (await _result(client, body))["status"] == "pending"
        await wait_for(lambda: sim.core.storage.get_stats()["code/result"] > calls)


async def test_an_open_socket_keeps_the_login_polled(sim, poller):
    with time_machine.travel(0, tick=True) as traveller:
        client = AsyncClient()
        body = await _start(client)
        socket = await open_socket(body["code_id"], login_token=body["login_token"])
        try:
            await socket.receive_json_from()
            traveller.shift(60)
            calls = sim.core.storage.get_stats().get("code/result", 0)
            await asyncio.sleep(0.35)
            assert sim.core.storage.get_stats()["code/result"] > calls
            assert body["code_id"] in poller.watches
        finally:
            await socket.disconnect()
