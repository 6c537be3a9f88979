"""Log lines: the request id (from X-Request-ID or made), the user and session, JSON lines, and the
context carried into background tasks. Real processes (daphne's access log, the Celery worker,
beat) are in tests/core/test_observability_processes.py."""

from __future__ import annotations

import json
import logging
import re

import pytest
from channels.testing import HttpCommunicator

from core import logging as hotline_logging
from core.requestid import TASK_HEADER, request_id_from

GENERATED = re.compile(r"^[0-9a-f]{32}$")


class Captured(logging.Handler):
    """Records as the console handler sees them: with the log context filter applied."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.addFilter(hotline_logging.RedactSecretsFilter())
        self.addFilter(hotline_logging.LogContextFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def find(self, logger: str, contains: str = "") -> logging.LogRecord:
        found = [r for r in self.records if r.name == logger and contains in r.getMessage()]
        assert found, [(r.name, r.getMessage()) for r in self.records]
        return found[-1]


@pytest.fixture(autouse=True)
def fresh_log_context():
    """Each test starts with nothing known (a login run directly in an earlier test binds its user
    to the test process's own context, as a request's would to the request's)."""
    variables = (hotline_logging.REQUEST_ID, hotline_logging.USER_ID, hotline_logging.SESSION_ID, hotline_logging.TASK)
    tokens = [variable.set(None) for variable in variables]
    yield
    for variable, token in zip(variables, tokens):
        variable.reset(token)


@pytest.fixture
def captured():
    # On the apps' loggers, not the root: a task run in process may set Django up again (Celery's
    # Django fix-up), which replaces the root logger's handlers.
    handler = Captured()
    loggers = [logging.getLogger(name) for name in ("sms", "tests")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.mark.parametrize("sent", [b"req-1", b"0af7651916cd43dd8448eb211c80319c", b"Root=1-5759e988/x:y@z+="])
def test_a_safe_request_id_is_kept(sent):
    assert request_id_from(sent) == sent.decode()


@pytest.mark.parametrize("sent", [None, b"", b"a" * 129, b"two words", b"line\nbreak", b'"quoted"', b"<script>",
                                  "caf\u00e9".encode(), b"a;b"])
def test_an_unsafe_or_missing_request_id_is_replaced(sent):
    assert GENERATED.match(request_id_from(sent))


async def asgi_get(path: str, headers=()) -> dict:
    from config.asgi import application

    return await HttpCommunicator(application, "GET", path, headers=[(b"host", b"127.0.0.1"), *headers]).get_response(timeout=5)


def header(response: dict, name: bytes) -> str:
    values = [value.decode() for key, value in response["headers"] if key.lower() == name]
    assert len(values) == 1, response["headers"]
    return values[0]


async def test_the_request_id_is_echoed_or_made():
    kept = await asgi_get("/livez", [(b"x-request-id", b"edge-42")])
    assert kept["status"] == 200 and header(kept, b"x-request-id") == "edge-42"
    made = await asgi_get("/livez")
    replaced = await asgi_get("/livez", [(b"x-request-id", b"bad id\r\n")])
    assert GENERATED.match(header(made, b"x-request-id")) and GENERATED.match(header(replaced, b"x-request-id"))
    assert header(made, b"x-request-id") != header(replaced, b"x-request-id")


@pytest.mark.django_db(transaction=True)
async def test_a_request_logs_and_its_background_task_logs_carry_its_id_user_and_session(captured, settings,
                                                                                         user_factory, login):
    from asgiref.sync import sync_to_async
    from channels.db import database_sync_to_async

    from config.asgi import application
    from core.background import _pool

    settings.BACKGROUND_IN_PROCESS = True  # the embedded mode's task thread, not the broker
    settings.SMS_PROVIDER = "console"
    def sender():
        from django.contrib.auth.models import Permission

        user = user_factory()
        user.user_permissions.add(Permission.objects.get(codename="send_message"))
        return user

    user = await database_sync_to_async(sender)()
    session = await database_sync_to_async(login)(user)
    body = json.dumps({"mobile_number": "+989121234567", "message_text": "hello"}).encode()
    request = HttpCommunicator(
        application, "POST", "/api/message/send/", body=body,
        headers=[(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), (b"x-request-id", b"rq-77"),
                 (b"content-length", str(len(body)).encode()),
                 (b"authorization", f"Bearer {session.access}".encode())])
    response = await request.get_response(timeout=5)
    assert response["status"] in (200, 201, 202), response["body"]
    await sync_to_async(lambda: _pool().submit(lambda: None).result(5))()  # the task thread is done
    for _ in range(50):
        if any(r.name == "sms.services" for r in captured.records):
            break
        await sync_to_async(lambda: __import__("time").sleep(0.05))()
    sent = captured.find("sms.services", "sent by console")
    assert (sent.request_id, sent.user_id, sent.session_id) == ("rq-77", user.pk, session.session.id)
    assert sent.task == ("sms.deliver_message")


def test_a_task_binds_the_context_it_was_given_and_unbinds_it(captured):
    from celery import shared_task

    @shared_task(name="tests.log_context_probe")
    def probe():
        logging.getLogger("tests.probe").info("inside the task")

    token = hotline_logging.REQUEST_ID.set("outer")
    try:
        probe.apply(headers={TASK_HEADER: {"request_id": "rq-from-web", "user_id": 7, "session_id": "s-1"}})
        inside = captured.find("tests.probe")
        assert (inside.request_id, inside.user_id, inside.session_id, inside.task) == (
            "rq-from-web", 7, "s-1", "tests.log_context_probe")
        assert hotline_logging.REQUEST_ID.get() == "outer" and hotline_logging.USER_ID.get() is None
        # A forged header that is not a safe id is not believed.
        probe.apply(headers={TASK_HEADER: {"request_id": "x\ny"}})
        assert captured.find("tests.probe").request_id == "outer"
    finally:
        hotline_logging.REQUEST_ID.reset(token)


def test_publishing_a_task_puts_the_context_in_its_headers():
    from core.requestid import _publish_with_context

    headers: dict = {}
    _publish_with_context(headers=headers)
    assert headers == {}  # nothing known, nothing sent
    token = hotline_logging.REQUEST_ID.set("rq-1")
    hotline_logging.log_context_bind(user_id=3)
    try:
        _publish_with_context(headers=headers)
    finally:
        hotline_logging.REQUEST_ID.reset(token)
        hotline_logging.USER_ID.set(None)
    assert headers == {TASK_HEADER: {"request_id": "rq-1", "user_id": 3}}


def test_json_lines_have_the_fields_and_stay_redacted():
    stream = __import__("io").StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(hotline_logging.JsonFormatter())
    handler.addFilter(hotline_logging.RedactSecretsFilter())
    handler.addFilter(hotline_logging.LogContextFilter())
    log = logging.getLogger("tests.json")
    log.addHandler(handler)
    log.propagate = False
    token = hotline_logging.REQUEST_ID.set("rq-9")
    try:
        log.warning("refresh=%s for %s", "eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl", "someone", extra={"status": 401})
        try:
            raise ValueError("token=abc123 leaked")
        except ValueError:
            log.exception("failed")
    finally:
        hotline_logging.REQUEST_ID.reset(token)
        log.removeHandler(handler)
        log.propagate = True
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert list(first)[:4] == ["timestamp", "level", "logger", "message"]
    assert first["level"] == "WARNING" and first["logger"] == "tests.json" and first["status"] == 401
    assert first["request_id"] == "rq-9" and "user_id" not in first
    assert "eyJ" not in lines[0] and first["message"] == "refresh=[redacted] for someone"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", first["timestamp"])
    assert "ValueError" in second["exc_info"] and "abc123" not in lines[1]
