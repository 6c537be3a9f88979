"""`python -m config.serve` (the Procfile's and ./scripts/run's server): the access log is redacted,
and DEBUG is never served beyond loopback unless forced (issue 15)."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
import psutil
import pytest

from config.serve import bind_refusal
from tests.servers import ROOT, free_port

SECRET = "s3cr3t-value-never-logged"


def test_bind_refusal():
    assert bind_refusal(["127.0.0.1"], debug=True, forced=False) is None
    assert bind_refusal(["::1", "localhost", "127.0.0.5"], debug=True, forced=False) is None
    assert bind_refusal(["0.0.0.0"], debug=False, forced=False) is None
    assert bind_refusal(["0.0.0.0"], debug=True, forced=True) is None
    refusal = bind_refusal(["0.0.0.0"], debug=True, forced=False)
    assert "0.0.0.0" in refusal and "DEBUG_ALLOW_NON_LOOPBACK=1" in refusal and "simulator" in refusal
    assert bind_refusal(["hotline.example.com"], debug=True, forced=False)


def _env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST") and k not in {"DEBUG", "HOST"}}
    env.update(extra)
    return env


def test_scripts_run_refuses_debug_on_a_public_address_before_touching_anything(tmp_path):
    database = tmp_path / "never.sqlite3"
    result = subprocess.run(
        ["./scripts/run"], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=_env(HOST="0.0.0.0", DATABASE_URL=f"sqlite:///{database}", REDIS_URL=""),
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "refusing to serve on 0.0.0.0 with DEBUG on" in result.stderr
    assert "Traceback" not in result.stderr
    assert not database.exists()  # refused before migrating


def test_scripts_run_with_debug_binds_loopback(tmp_path):
    port = free_port()
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["./scripts/run"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env=_env(PORT=str(port), DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", REDIS_URL=""),
        )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(f"./scripts/run did not answer:\n{log.read_text()}")
        assert f"serving on http://127.0.0.1:{port}/" in log.read_text()
        # DEBUG on (the simulator is mounted) and only on loopback.
        assert httpx.get(f"http://127.0.0.1:{port}/dev/auth4app/", timeout=5).status_code == 200
        # scripts/run execs the server, so this is its process: it listens on loopback only.
        listening = {c.laddr.ip for c in psutil.Process(process.pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN}
        assert listening == {"127.0.0.1"}
    finally:
        os.killpg(process.pid, 15)
        process.wait(15)


@pytest.mark.integration
def test_access_log_never_carries_a_token(start_server):
    server = start_server()
    response = httpx.get(f"{server.url}/api/me/?token={SECRET}&page=2", headers={"Authorization": f"Bearer {SECRET}"})
    assert response.status_code == 401
    deadline = time.monotonic() + 5
    while "GET /api/me/" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.log()
    assert "GET /api/me/?token=[redacted]&page=2" in log  # the access line is there, redacted
    assert SECRET not in log


def _rendered(logger_name: str, message: str, *args, **extra) -> str:
    import logging

    from core.logging import RedactSecretsFilter

    record = logging.LogRecord(logger_name, logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    RedactSecretsFilter().filter(record)
    return record.getMessage()


def test_no_record_bypasses_redaction():
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXZhbHVl"
    # The console SMS provider's line: the code a developer reads stays, a credential in the text does not.
    line = _rendered("sms.console", "SMS to %s: %s", "+989121234567",
                     f"Your hotline code is 482913. Open /web/?token={SECRET} or {jwt}", sms_console=True)
    assert "482913" in line and SECRET not in line and jwt not in line
    body = _rendered("django.request", 'body {"mobile_number": "+98912", "code": "482913", "refresh": "%s"}', SECRET)
    assert "482913" not in body and SECRET not in body


def test_the_console_provider_line_passes_the_projects_filter(settings, caplog):
    import logging

    from core.logging import RedactSecretsFilter
    from sms.providers.base import OutgoingSMS
    from sms.providers.console import ConsoleProvider

    # The console handler of settings.LOGGING, the one with the filter.
    handler = next(h for h in logging.getLogger().handlers if any(isinstance(f, RedactSecretsFilter) for f in h.filters))
    records = []
    original_emit = handler.emit
    handler.emit = lambda record: records.append(record.getMessage())
    try:
        ConsoleProvider(config={}, timeout=1).send(OutgoingSMS(to="+989121234567", text=f"code 482913 token={SECRET}"))
    finally:
        handler.emit = original_emit
    assert records and SECRET not in records[-1] and "482913" in records[-1]


def test_autobahns_per_connection_settings_dump_is_built_only_when_written():
    """config.serve makes the debug dump of autobahn's ~40 protocol settings lazy (8 % of a
    handshake's CPU): the same text, built only on use. If autobahn stops formatting that line with
    its module's `pformat`, this fails: re-check docs/upgrading.md's autobahn entry."""
    import inspect
    from pprint import pformat

    from autobahn.websocket import protocol

    from config.serve import _PrettyPrintedOnUse, defer_autobahn_settings_dump

    assert "pformat(configAttrLog)" in inspect.getsource(protocol.WebSocketProtocol._connectionMade)
    saved = protocol.pformat
    try:
        defer_autobahn_settings_dump()
        value = [("openHandshakeTimeout", 5, "WebSocketServerFactory"), ("utf8validateIncoming", True, "X")]
        dumped = protocol.pformat(value)
        assert isinstance(dumped, _PrettyPrintedOnUse)
        assert str(dumped) == pformat(value) == "{}".format(dumped)
    finally:
        protocol.pformat = saved
