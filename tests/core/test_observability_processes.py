"""Metrics, logs and errors in the production shape: real daphne processes, the Procfile's worker and
beat, one PROMETHEUS_MULTIPROC_DIR, LOG_FORMAT=json, and a fake Sentry ingest on 127.0.0.1.

1. Two web processes and the worker report together: a login, a chat message across the two
   processes and a failed SMS move the counters that a scrape of either process shows, read with
   prometheus-client's own parser; the open sockets are per process, and a killed process's sockets
   leave the gauge when the next process starts while its counts stay in the totals.
2. Every line of every process is one JSON object; the request id sent as X-Request-ID is in the
   response, the access log, the request's lines and the lines of the Celery task it enqueued, and
   the user and session are in the lines of authenticated requests.
3. With SENTRY_DSN set, an adapter that crashes in the worker sends an error event, tagged with the
   request's id, that carries no code, token, API key or whole phone number.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import tempfile
import uuid

import httpx
import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from tests.fakes.sentry import FakeSentry
from tests.fakes.smsgw import LEAKED_API_KEY, LEAKED_JWT
from tests.processes import CeleryProcess, wait_for
from tests.servers import ServerProcess, server_env

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TOKEN = "scrape-token-9f8e7d6c5b4a3210"
PROVIDER = "tests.fakes.smsgw.Scripted"
ALICE = "+989121230010"
FAILING = "+989121230002"  # the scripted provider refuses it for good
CRASHING = "+989121230001"  # the scripted provider crashes on it


@pytest.fixture
def production_env(requires_redis):
    if settings.SECRET_KEY == settings.DEFAULT_SECRET_KEY:
        pytest.fail("server processes need SECRET_KEY: run the tests through ./scripts/test")
    metrics_dir = tempfile.mkdtemp(prefix="hotline-metrics-")
    queue = f"obs-{uuid.uuid4().hex[:8]}"
    env = server_env(
        PROMETHEUS_MULTIPROC_DIR=metrics_dir, METRICS_TOKEN=TOKEN, LOG_FORMAT="json", CELERY_QUEUE=queue,
        SMS_PROVIDER=PROVIDER, SMS_MAX_ATTEMPTS_PER_PROVIDER=1, OTP_RESEND_SECONDS=0,
        # Celery's own switch for its start banners (printed, not logged): docs/deployment.md.
        CELERY_QUIET=1,
        # The tests run as root, which Celery warns about on stderr before logging is set up.
        PYTHONWARNINGS="ignore:You're running the worker with superuser privileges",
    )
    yield env
    shutil.rmtree(metrics_dir, ignore_errors=True)
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(queue, f"_kombu.binding.{queue}")
    client.close()


def scrape(server: ServerProcess) -> dict:
    """{name: {frozenset(labels without pid): summed value}} and the raw families, from one scrape."""
    response = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200, response.text[:500]
    samples: dict = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = frozenset(sample.labels.items())
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def total(samples: dict, name: str, **labels) -> float:
    """The sum of `name` over every series whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(value for key, value in samples.get(name, {}).items() if wanted <= key)


def pids(samples: dict, name: str, **labels) -> dict[str, float]:
    wanted = set(labels.items())
    return {dict(key)["pid"]: value for key, value in samples.get(name, {}).items() if wanted <= key}


def json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    return parsed


def code_for(worker: CeleryProcess, number: str) -> str:
    found = {}

    def seen():
        for line in json_lines(worker.log()):
            if line.get("logger") == "sms.console" and number in line["message"]:
                # The text is in the number's language (Persian for +98): the code is its 6-digit run.
                found["code"] = re.search(r"(?<!\d)\d{6}(?!\d)", line["message"].split(number, 1)[1]).group(0)
        return "code" in found

    wait_for(seen, 30, lambda: f"the code for {number} in the worker's log:\n{worker.log()[-3000:]}")
    return found["code"]


async def open_chat(server: ServerProcess, access: str):
    async with httpx.AsyncClient() as http:
        ticket = await http.post(f"{server.url}/api/ws/ticket/", headers={"Authorization": f"Bearer {access}"})
    assert ticket.status_code == 201, ticket.text
    return await connect(f"{server.ws_url}/ws/chat/?ticket={ticket.json()['ticket']}", compression=None)


async def recv(ws, kind: str) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame["type"] == kind:
            return frame


async def close_all(sockets) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


def test_two_web_processes_and_the_worker_report_together_in_json_logs(production_env, user_factory, login):
    from tests.chat.conftest import open_direct

    worker = CeleryProcess("worker", production_env, "obs-worker")
    beat = CeleryProcess("beat", production_env, "obs-beat")
    one, two = ServerProcess(env=production_env), ServerProcess(env=production_env)
    three = None
    try:
        worker.start()
        beat.start()
        one.start()
        two.start()
        worker.wait_ready()
        beat.wait_ready()
        before = scrape(one)
        assert total(before, "hotline_http_requests_total", route="api/otp/send/") == 0

        # A login: the code is asked for through one process and used through the other.
        with httpx.Client(timeout=20) as http:
            sent = http.post(f"{one.url}/api/otp/send/", json={"mobile_number": ALICE},
                             headers={"X-Request-ID": "rq-login-1"})
            assert sent.status_code == 200 and sent.headers["X-Request-ID"] == "rq-login-1"
            logged_in = http.post(f"{two.url}/api/authenticate/",
                                  json={"mobile_number": ALICE, "code": code_for(worker, ALICE)})
            assert logged_in.status_code == 200, logged_in.text
            alice = logged_in.json()
            # A failed SMS: the provider refuses the number for good (no fallback).
            failed = http.post(f"{two.url}/api/otp/send/", json={"mobile_number": FAILING},
                               headers={"X-Request-ID": "rq-failing-2"})
            assert failed.status_code == 200
            me = http.get(f"{one.url}/api/me/", headers={"Authorization": f"Bearer {alice['access']}"})
            assert me.status_code == 200 and len(me.headers["X-Request-ID"]) == 32

        # A chat message from a socket on one process to a socket on the other.
        from accounts.models import User

        bob = user_factory()
        bob_login = login(bob)
        room = open_direct(User.objects.get(pk=alice["user"]["id"]), bob)

        async def chat():
            a = await open_chat(one, alice["access"])
            b = await open_chat(two, bob_login.access)
            await b.send(json.dumps({"type": "subscribe", "room": room.pk}))
            await recv(b, "subscribed")
            await a.send(json.dumps({"type": "message.send", "room": room.pk, "text": "hi", "client_id": "m1"}))
            await recv(a, "message.ack")
            assert (await recv(b, "message.new"))["message"]["text"] == "hi"
            return a, b

        loop = asyncio.new_event_loop()
        sockets = loop.run_until_complete(chat())

        from sms.models import Message

        wait_for(lambda: Message.objects.filter(to=FAILING, status="failed").exists(), 30,
                 lambda: f"the failing SMS to fail:\n{worker.log()[-3000:]}")
        wait_for(lambda: total(scrape(one), "hotline_celery_tasks_total", task="sms.deliver_message") >= 2, 10,
                 "the worker's task outcomes")

        after, other = scrape(one), scrape(two)
        for samples in (after, other):  # either process reports all three
            assert total(samples, "hotline_http_requests_total", route="api/otp/send/", method="POST", status="200") == 2
            assert total(samples, "hotline_authentications_total", method="sms", outcome="success") == 1
            assert total(samples, "hotline_otp_codes_sent_total") == 2
            assert total(samples, "hotline_chat_messages_stored_total") == 1
            assert total(samples, "hotline_chat_messages_delivered_total", via="live") == 1
            assert total(samples, "hotline_sms_provider_results_total", provider=PROVIDER, outcome="sent") == 1
            assert total(samples, "hotline_sms_provider_results_total", provider=PROVIDER, outcome="permanent") == 1
            assert total(samples, "hotline_sms_messages_finished_total", status="failed") == 1
            assert total(samples, "hotline_sms_messages_finished_total", status="sent") == 1
            assert total(samples, "hotline_celery_tasks_total", task="sms.deliver_message", outcome="success") == 2
            assert total(samples, "hotline_http_request_duration_seconds_count", route="api/authenticate/") == 1
        # The open sockets, per process.
        open_by_pid = pids(after, "hotline_websockets_open", endpoint="chat")
        assert open_by_pid == {str(one.process.pid): 1, str(two.process.pid): 1}, open_by_pid
        assert total(after, "hotline_sms_outbox_messages", status="queued") == 0
        assert total(after, "hotline_dependency_up", dependency="redis") == 1

        # A web process dies with its socket open; the next process to start forgets its sockets,
        # while what it counted stays in the totals.
        two.kill()
        three = ServerProcess(env=production_env).start()
        later = scrape(three)
        assert pids(later, "hotline_websockets_open", endpoint="chat") == {str(one.process.pid): 1}
        assert total(later, "hotline_authentications_total", method="sms", outcome="success") == 1
        loop.run_until_complete(close_all(sockets))
        loop.close()
        assert total(scrape(three), "hotline_websocket_closes_total", endpoint="chat", code="1000") >= 1

        # --- the logs -------------------------------------------------------------------------
        web = json_lines(one.log()) + json_lines(two.log())
        tasks = json_lines(worker.log())
        assert json_lines(beat.log()) and any(line["message"] == "beat: Starting..." for line in json_lines(beat.log()))
        for line in web + tasks:
            assert {"timestamp", "level", "logger", "message"} <= set(line), line
        access = [line for line in web if line["logger"] == "hotline.access"]
        login_access = [line for line in access if line.get("request_id") == "rq-login-1"]
        assert login_access and '"POST /api/otp/send/" 200' in login_access[0]["message"]
        assert any(line["logger"] == "otp.services" and line.get("request_id") == "rq-login-1" for line in web)
        me_line = next(line for line in access if '"GET /api/me/"' in line["message"])
        assert (me_line["user_id"], me_line["session_id"]) == (alice["user"]["id"], alice["session"]["id"])
        # The task each request enqueued logs with that request's id.
        delivered = [line for line in tasks if line.get("task") == "sms.deliver_message"]
        assert {line.get("request_id") for line in delivered} == {"rq-login-1", "rq-failing-2"}, delivered
        assert all(line["task_id"] for line in delivered)
    finally:
        for process in (worker, beat):
            process.stop()
        for server in (one, two, three):
            if server is not None:
                server.stop()


def test_sentry_gets_a_redacted_error_from_the_worker(production_env):
    sentry = FakeSentry().start()
    env = {**production_env, "SENTRY_DSN": sentry.dsn, "SENTRY_ENVIRONMENT": "test"}
    worker = CeleryProcess("worker", env, "obs-sentry-worker")
    web = ServerProcess(env=env)
    try:
        worker.start()
        web.start()
        worker.wait_ready()
        response = httpx.post(f"{web.url}/api/otp/send/", json={"mobile_number": CRASHING},
                              headers={"X-Request-ID": "rq-crash-3", "Authorization": f"Bearer {LEAKED_JWT}"},
                              timeout=20)
        assert response.status_code == 200, response.text
        def crash_event():
            found = [e for e in sentry.events if e.get("exception", {}).get("values", [{}])[-1].get("type") == "RuntimeError"]
            return found[0] if found else None

        wait_for(crash_event, 30, lambda: f"the crash's event at the fake Sentry:\n{worker.log()[-3000:]}")
        from sms import crypto
        from sms.models import Message

        message = Message.objects.get(to=CRASHING)
        code = crypto.decrypt(message.secret) if message.secret else None
        event = crash_event()
        assert event["level"] == "error" and event["environment"] == "test"
        assert [e["exception"]["values"][-1]["type"] for e in sentry.events if "exception" in e] == ["RuntimeError"]
        assert event["tags"]["request_id"] == "rq-crash-3"
        text = b"\n".join(sentry.raw).decode()
        # The scripted provider put all of these in its exception and its log line.
        assert "+98912***0001" in text  # masked, so the event still says whose SMS it was
        for secret in (CRASHING, CRASHING.lstrip("+"), LEAKED_JWT, LEAKED_API_KEY, *([code] if code else [])):
            assert secret not in text, secret
        # Nothing from the frames' local variables (the code and the number are in them).
        frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
        assert frames and not any("vars" in frame for frame in frames)
        assert code is not None or message.status == "failed"
    finally:
        worker.stop()
        web.stop()
        sentry.stop()


def test_without_a_dsn_the_sentry_sdk_is_not_even_imported():
    import subprocess
    import sys

    from tests.servers import ROOT

    env = server_env()
    env.pop("SENTRY_DSN", None)
    probe = ("import os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; import django; "
             "django.setup(); import config.asgi, config.celery; print('sentry_sdk' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
