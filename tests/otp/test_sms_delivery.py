"""The code travels through the real SMS gateway (console provider) and appears in exactly one
log line, the console provider's, and nowhere else: not in a response, not in another log line."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from core import background

NUMBER = "+989121234567"


@pytest.fixture
def queued_tasks(monkeypatch):
    """Tasks queued after commit are collected here and run by the test, in this thread."""
    tasks: list = []
    monkeypatch.setattr(background, "enqueue", lambda task, *args, **kwargs: tasks.append((task, args)))
    return tasks


@pytest.mark.django_db
@pytest.mark.usefixtures("otp_settings")
def test_console_sms_carries_the_code_and_nothing_else_does(client, settings, queued_tasks, caplog):
    settings.SMS_PROVIDER = "console"
    settings.SMS_FALLBACK_PROVIDERS = []
    caplog.set_level(logging.DEBUG)

    sent = client.post("/api/otp/send/", {"mobile_number": NUMBER}, format="json")
    assert sent.status_code == 200
    assert not [r for r in caplog.records if r.name == "sms.console"], "the request must not wait on the provider"
    for task, args in queued_tasks:
        task.apply(args=args, throw=True)

    console = [r for r in caplog.records if r.name == "sms.console"]
    assert len(console) == 1
    code = re.search(r"\b(\d{6})\b", console[0].getMessage()).group(1)
    assert NUMBER in console[0].getMessage()

    logged_in = client.post("/api/authenticate/", {"mobile_number": NUMBER, "code": code}, format="json")
    assert logged_in.status_code == 200

    carrying = [r for r in caplog.records if code in r.getMessage()]
    assert carrying == console
    for response in (sent, logged_in):
        assert code not in response.content.decode() and code not in str(response.headers)


@pytest.mark.integration
def test_server_log_shows_the_code_only_in_the_sms_line(start_server):
    """A real daphne process in the embedded mode (delivery on its in-process thread pool),
    console provider, default log configuration."""
    server = start_server(REDIS_URL="", SMS_PROVIDER="console", SMS_FALLBACK_PROVIDERS="", LOG_LEVEL="DEBUG")
    with httpx.Client(base_url=server.url, timeout=10) as http:
        sent = http.post("/api/otp/send/", json={"mobile_number": NUMBER})
        assert sent.status_code == 200, sent.text
        code = _wait_for_code(server)
        logged_in = http.post("/api/authenticate/", json={"mobile_number": NUMBER, "code": code})
        assert logged_in.status_code == 200, logged_in.text
        refreshed = http.post("/api/token/refresh/", json={"refresh": logged_in.json()["refresh"]})
        assert refreshed.status_code == 200
    lines = [line for line in server.log().splitlines() if code in line]
    assert len(lines) == 1 and "sms.console" in lines[0] and NUMBER in lines[0], lines
    for response in (sent, logged_in, refreshed):
        assert code not in response.text and code not in str(response.headers)


def _wait_for_code(server, timeout: float = 15) -> str:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(r"sms\.console SMS to \+\d+: \D*(\d{6})\b", server.log())
        if match:
            return match.group(1)
        time.sleep(0.05)
    raise AssertionError(f"no console SMS in the server log:\n{server.log()}")
