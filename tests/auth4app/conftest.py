from __future__ import annotations

import asyncio

import pytest
from channels.testing import WebsocketCommunicator

from devtools.auth4app_simulator import SimulatorCore, SimulatorServer

API_KEY = "test-auth4app-key"


@pytest.fixture
def sim():
    """A fake auth4app on 127.0.0.1 speaking the exact wire format; it checks the API key."""
    with SimulatorServer(SimulatorCore(api_key=API_KEY)) as server:
        yield server


@pytest.fixture
def a4a_settings(settings, sim):
    """The app pointed at the fake, with a short poll interval so in-process tests are quick."""
    settings.AUTH4APP_API_URL = sim.url
    settings.AUTH4APP_API_KEY = API_KEY
    settings.AUTH4APP_POLL_INTERVAL = 0.1
    return settings


@pytest.fixture
async def poller():
    """The test loop's poller, stopped after the test."""
    from auth4app.poller import get_poller

    current = get_poller()
    yield current
    await current.aclose()


def cookie_header(client) -> list[tuple[bytes, bytes]]:
    """The Cookie header a browser would send, from a Django test client's jar."""
    pairs = "; ".join(f"{morsel.key}={morsel.value}" for morsel in client.cookies.values())
    return [(b"cookie", pairs.encode())] if pairs else []


async def open_socket(code_id: str, *, headers=None, login_token: str | None = None) -> WebsocketCommunicator:
    from config.asgi import application

    path = f"/ws/auth/{code_id}/" + (f"?login_token={login_token}" if login_token else "")
    communicator = WebsocketCommunicator(application, path, headers=headers or [])
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def wait_for(predicate, timeout: float = 3.0, step: float = 0.02):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


async def confirm_through_simulator(client, sim, code_id: str) -> None:
    """The person confirms in the messenger (the simulator), and the code's result says so."""
    sim.core.confirm(code_id)

    async def confirmed():
        return (await client.post("/proxy/auth/result", {"code_id": code_id})).json()["status"] == "confirmed"

    await wait_for(confirmed)
