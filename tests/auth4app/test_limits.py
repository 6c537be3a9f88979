"""auth4app's code budgets (issue 15): a host over its own budget cannot lock a victim out of
messenger login, and a global cap bounds what upstream codes cost per hour."""

from __future__ import annotations

import pytest
from django.test import AsyncClient

from .conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("a4a_settings")]

VICTIM = "+79991234567"


@pytest.fixture(autouse=True)
def _behind_one_proxy(settings):
    settings.TRUSTED_PROXY_COUNT = 1


class ClientAt:
    """A client at `ip`, as the one trusted proxy reports it."""

    def __init__(self, ip: str):
        self.client, self.ip = AsyncClient(), ip

    async def post(self, path, data):
        return await self.client.post(path, data, headers={"X-Forwarded-For": self.ip})


async def start(client: "ClientAt", phone: str):
    return await client.post("/proxy/auth/code", {"phone": phone})


async def test_requests_refused_by_the_ip_budget_leave_the_victims_number_alone(sim, poller, settings):
    settings.AUTH4APP_CODES_PER_IP_PER_HOUR = 3
    attacker = ClientAt("198.51.100.66")
    for i in range(3):
        assert (await start(attacker, f"+7999765{i:04d}")).status_code == 200
    for _ in range(5):  # today each of these spent the victim's number budget (5)
        assert (await start(attacker, VICTIM)).status_code == 429

    victim = ClientAt("203.0.113.7")
    response = await start(victim, VICTIM)
    assert response.status_code == 200, response.content
    assert sim.core.storage.get_stats()["code/get"] == 4

    # ...and logs in by messenger.
    body = response.json()
    sim.core.confirm(body["code_id"])
    bound = {"code_id": body["code_id"], "login_token": body["login_token"]}

    async def confirmed():
        return (await victim.post("/proxy/auth/result", bound)).json()["status"] == "confirmed"

    await wait_for(confirmed)
    login = await victim.post("/proxy/auth/complete", bound)
    assert login.status_code == 200 and login.json()["user"]["mobile_number"] == VICTIM


async def test_global_cap_on_upstream_codes(sim, poller, settings):
    settings.AUTH4APP_CODES_PER_HOUR = 3
    for i in range(3):
        client = ClientAt(f"198.51.100.{i + 1}")
        assert (await start(client, f"+7999765{i:04d}")).status_code == 200
    over = await start(ClientAt("198.51.100.9"), "+79997659999")
    assert over.status_code == 429
    assert int(over["Retry-After"]) >= 1 and over.json()["retry_after"] == int(over["Retry-After"])
    assert sim.core.storage.get_stats()["code/get"] == 3  # the refused one cost nothing upstream
