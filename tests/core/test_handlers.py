"""core.handlers.SyncChainASGIHandler: Django's middleware and sync views run in one thread hop."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils.deprecation import MiddlewareMixin

from core.handlers import SyncChainASGIHandler

SEEN: list[dict] = []


class RecordingMiddleware(MiddlewareMixin):
    """Async-capable like every Django middleware; records how and where the handler ran it."""

    def process_request(self, request):
        SEEN.append({"async_mode": self.async_mode, "thread": threading.get_ident()})

    def process_response(self, request, response):
        SEEN.append({"async_mode": self.async_mode, "thread": threading.get_ident()})
        return response


async def asgi_request(app, method: str, path: str, body: bytes = b"", content_type: str = "application/json"):
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", content_type.encode()),
                    (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the client stays connected: Django answers a disconnect by stopping

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    status = sent[0]["status"]
    payload = b"".join(m.get("body", b"") for m in sent[1:])
    return status, payload


@pytest.fixture
def handler():
    SEEN.clear()
    middleware = [*settings.MIDDLEWARE[:2], "tests.core.test_handlers.RecordingMiddleware", *settings.MIDDLEWARE[2:]]
    with override_settings(MIDDLEWARE=middleware):
        yield SyncChainASGIHandler()


@pytest.mark.django_db(transaction=True)
async def test_middleware_runs_in_sync_mode_off_the_event_loop(handler):
    loop_thread = threading.get_ident()
    status, body = await asgi_request(handler, "GET", "/healthz")
    assert status == 200, body
    # process_request and process_response both ran, in sync mode, in one worker thread.
    assert [s["async_mode"] for s in SEEN] == [False, False]
    assert SEEN[0]["thread"] == SEEN[1]["thread"] != loop_thread


@pytest.mark.django_db(transaction=True)
async def test_async_views_still_answer_through_the_sync_chain(handler):
    # auth4app's /proxy views are async: the chain hands them back to the event loop.
    status, body = await asgi_request(handler, "POST", "/proxy/auth/result", b"[1]")
    assert status == 400
    assert json.loads(body)["error"] == "The body must be a JSON object."
    assert [s["async_mode"] for s in SEEN] == [False, False]


def test_the_project_serves_http_through_the_sync_chain_handler():
    from config.asgi import django_asgi_app

    assert isinstance(django_asgi_app, SyncChainASGIHandler)


@pytest.mark.django_db(transaction=True)
async def test_request_threads_are_reused_one_request_at_a_time(handler):
    for _ in range(3):
        status, body = await asgi_request(handler, "GET", "/healthz")
        assert status == 200, body
    # Sequential requests: one thread, started once and lent to each request in turn.
    assert handler.request_threads.started == 1
    assert len({s["thread"] for s in SEEN}) == 1

    SEEN.clear()
    answers = await asyncio.gather(*(asgi_request(handler, "GET", "/healthz") for _ in range(4)))
    assert [status for status, _ in answers] == [200] * 4
    # Never more threads than requests in flight, and never the event loop's.
    assert handler.request_threads.started <= 4
    assert threading.get_ident() not in {s["thread"] for s in SEEN}


def test_idle_request_threads_are_capped():
    from core.handlers import RequestThreads

    threads = RequestThreads(max_idle=2)
    lent = [threads.acquire() for _ in range(3)]
    assert threads.started == 3
    for executor in lent:
        threads.release(executor)
    assert threads.acquire() is lent[1]  # LIFO among the two kept; the third was shut down
    assert lent[2]._shutdown
