"""bench.auth_push's tab: a socket dropped before its terminal frame is reopened, as the page does."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from bench import auth_push

PENDING = json.dumps({"type": "auth.status", "status": "pending", "expires_in": 300})
CONFIRMED = json.dumps({"type": "auth.status", "status": "confirmed", "phone": "989121234567"})


@pytest.fixture(autouse=True)
def no_reopen_wait(monkeypatch):
    monkeypatch.setattr(auth_push, "REOPEN_SECONDS", 0.0)


def record(tabs: int = 1) -> dict:
    return {"pending": 0, "terminal": [], "closes": [], "tabs": tabs}


async def run_tab(handler, *, tab: dict | None = None, state: dict | None = None) -> dict:
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]

        def reopen():
            return connect(f"ws://127.0.0.1:{port}/ws/auth/x/", compression=None, close_timeout=2)

        tab = tab or record()
        state = state if state is not None else {"sockets": []}
        await auth_push._watch(state, tab, await reopen(), reopen)
        for ws in state["sockets"]:
            await ws.close()
        return tab


async def test_a_dropped_socket_is_reopened_and_its_terminal_frame_counted():
    opened = []

    async def handler(ws):
        opened.append(ws)
        await ws.send(PENDING)
        if len(opened) == 1:
            ws.transport.abort()  # gone without a close frame: the client sees 1006
            return
        await ws.send(CONFIRMED)
        await ws.close(1000)

    tab = await run_tab(handler)
    assert len(opened) == 2
    assert tab["reopened"] == 1
    assert tab["closes"] == [1006, 1000]
    assert [status for _, status in tab["terminal"]] == ["confirmed"]
    assert tab["pending"] == 2


async def test_a_normal_close_without_a_terminal_frame_is_not_reopened():
    opened = []

    async def handler(ws):
        opened.append(ws)
        await ws.send(PENDING)
        await ws.close(1000)

    tab = await run_tab(handler)
    assert len(opened) == 1
    assert "reopened" not in tab
    assert tab["terminal"] == []  # counted lost by the bench


def dropping_after_pending(opened: list):
    """A server that answers `pending` and drops every socket without a close frame (1006)."""

    async def handler(ws):
        opened.append(ws)
        await ws.send(PENDING)
        ws.transport.abort()

    return handler


async def test_a_tab_reopens_once_even_when_its_login_has_other_tabs():
    opened = []
    tab = await run_tab(dropping_after_pending(opened), tab=record(tabs=2))
    assert len(opened) == 2  # the first socket and one reopen, not one per tab of the login
    assert tab["closes"] == [1006, 1006]
    assert tab["terminal"] == []


async def test_no_reopen_while_the_harness_closes_the_sockets():
    opened = []
    tab = await run_tab(dropping_after_pending(opened), state={"sockets": [], "closing": True})
    assert len(opened) == 1
    assert "reopened" not in tab
