"""A real `celery -A config worker` with Redis as broker, killed during a delivery and restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings

from sms import services
from sms.models import Message
from tests.fakes.http import FakeHTTPServer, Reply
from tests.servers import ROOT, server_env
from tests.sms.fakes import FakeTwilio

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Worker:
    def __init__(self, env: dict, queue: str, name: str):
        self.log_path = ROOT / "var" / f"celery-{name}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "--pool=solo",
             "--prefetch-multiplier=1", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-n", f"{name}@%h", "--loglevel=INFO"],
            cwd=ROOT, env=env, stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self):
        """Die like a crashed machine: no warm shutdown, no acknowledgements, no requeue."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(5)

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def test_queued_message_survives_worker_restart_and_is_sent_exactly_once(requires_redis, task_queue):
    if settings.SECRET_KEY == settings.DEFAULT_SECRET_KEY:
        pytest.fail("worker processes need SECRET_KEY: run the tests through ./scripts/test")
    twilio = FakeTwilio()

    def handler(request):
        if "stall" in request.form().get("Body", ""):
            return Reply(200, {}, delay=60)  # the worker dies while this call is in flight
        return twilio(request)

    queue = f"ht-sms-restart-{uuid.uuid4().hex[:8]}"
    workers: list[Worker] = []
    with FakeHTTPServer(handler) as server:
        env = server_env(
            REDIS_URL=settings.REDIS_URL, CELERY_QUEUE=queue, CELERY_VISIBILITY_TIMEOUT=10,
            SMS_PROVIDER="twilio", SMS_FALLBACK_PROVIDERS="", SMS_HTTP_TIMEOUT_SECONDS=30,
            SMS_SENDING_LEASE_SECONDS=5, TWILIO_API_URL=server.url,
            TWILIO_ACCOUNT_SID=twilio.config["ACCOUNT_SID"], TWILIO_AUTH_TOKEN=twilio.config["AUTH_TOKEN"],
            TWILIO_FROM=twilio.config["FROM"], TWILIO_MESSAGING_SERVICE_SID="",
        )
        in_flight = services.message_send(to="+989121234567", text="stall: in flight when the worker dies")
        waiting = services.message_send(to="+989121234568", text="waiting in the broker")
        from sms.tasks import deliver_message

        for task, args, _ in task_queue.items:  # publish to the real Redis broker
            deliver_message.apply_async(args=args, queue=queue)
        try:
            workers.append(Worker(env, queue, "first"))
            wait_for(lambda: len(server.requests) == 1, 30, f"the first provider call\n{workers[0].log()}")
            assert Message.objects.get(pk=in_flight.pk).status == "sending"
            delivered_at = time.monotonic()
            workers[0].kill()
            assert Message.objects.get(pk=waiting.pk).status == "queued"

            # A replacement worker starts once the broker's visibility timeout (10 s here) has passed,
            # as after a crashed machine; at start-up it puts the dead worker's unacknowledged task back.
            time.sleep(max(0.0, delivered_at + 10.5 - time.monotonic()))
            workers.append(Worker(env, queue, "second"))
            wait_for(lambda: Message.objects.get(pk=waiting.pk).status == "sent", 30,
                     f"the waiting message\n{workers[1].log()}")
            # The redelivered task finds its row already claimed (and the claim's lease over): it is
            # failed as interrupted instead of being sent twice.
            wait_for(lambda: Message.objects.get(pk=in_flight.pk).status == "failed", 30,
                     f"the redelivered task\n{workers[1].log()}")
        finally:
            for worker in workers:
                worker.stop()

        bodies = sorted(r.form()["Body"] for r in server.requests)
        assert bodies == ["stall: in flight when the worker dies", "waiting in the broker"]
        row = Message.objects.get(pk=in_flight.pk)
        assert (row.error_code, row.attempts) == ("interrupted", 1)
        sent = Message.objects.get(pk=waiting.pk)
        assert (sent.attempts, sent.provider) == (1, "twilio") and sent.provider_message_id.startswith("SM")
