"""What the messenger login counts: upstream calls by outcome and time, pushes, logins."""

from __future__ import annotations

import pytest
from django.test import AsyncClient
from prometheus_client import REGISTRY

from auth4app import upstream
from tests.fakes.http import FakeHTTPServer, Reply

from .conftest import confirm_through_simulator

PHONE = "+79991234567"


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("a4a_settings")
async def test_a_confirmed_login_counts_calls_a_push_and_a_login(sim, poller):
    before = {
        "get": value("hotline_auth4app_upstream_requests_total", endpoint="code_get", outcome="ok"),
        "timed": value("hotline_auth4app_upstream_duration_seconds_count", endpoint="code_get"),
        "result": value("hotline_auth4app_upstream_requests_total", endpoint="code_result", outcome="ok"),
        "push": value("hotline_login_pushes_total", status="confirmed"),
        "login": value("hotline_authentications_total", method="auth4app", outcome="success"),
    }
    client = AsyncClient()
    code_id = (await client.post("/proxy/auth/code", {"phone": PHONE})).json()["code_id"]
    await confirm_through_simulator(client, sim, code_id)
    assert (await client.post("/proxy/auth/complete", {"code_id": code_id})).status_code == 200
    assert value("hotline_auth4app_upstream_requests_total", endpoint="code_get", outcome="ok") == before["get"] + 1
    assert value("hotline_auth4app_upstream_duration_seconds_count", endpoint="code_get") == before["timed"] + 1
    assert value("hotline_auth4app_upstream_requests_total", endpoint="code_result", outcome="ok") > before["result"]
    assert value("hotline_login_pushes_total", status="confirmed") == before["push"] + 1
    assert value("hotline_authentications_total", method="auth4app", outcome="success") == before["login"] + 1


@pytest.mark.parametrize(
    "reply, outcome",
    [
        (Reply(status=503, body={"error": "down"}), "http_error"),
        (Reply(body="not json"), "bad_reply"),
        (Reply(body={"auth": True}, delay=1.0), "timeout"),
    ],
)
async def test_each_kind_of_upstream_failure_is_counted(settings, reply, outcome):
    before = value("hotline_auth4app_upstream_requests_total", endpoint="code_result", outcome=outcome)
    with FakeHTTPServer(lambda request: reply) as fake:
        settings.AUTH4APP_API_URL = fake.url
        settings.AUTH4APP_HTTP_TIMEOUT_SECONDS = 0.3
        with pytest.raises(upstream.UpstreamError):
            await upstream.code_result(code_id="abc")
    await upstream.aclose()
    assert value("hotline_auth4app_upstream_requests_total", endpoint="code_result", outcome=outcome) == before + 1


async def test_an_unreachable_upstream_is_a_connection_error(settings):
    from tests.servers import free_port

    before = value("hotline_auth4app_upstream_requests_total", endpoint="code_get", outcome="connection_error")
    settings.AUTH4APP_API_URL = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(upstream.UpstreamError):
        await upstream.code_get(phone_e164=PHONE)
    await upstream.aclose()
    assert value("hotline_auth4app_upstream_requests_total", endpoint="code_get", outcome="connection_error") == before + 1
