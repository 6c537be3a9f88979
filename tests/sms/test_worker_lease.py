"""A real worker keeps its lease through a provider call longer than the lease (sms.leases), while a
real beat runs the outbox sweep every second: the message is sent once, never taken back."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings

from config.celery import app
from sms import services
from sms.models import Message
from sms.tasks import deliver_message
from tests.fakes.http import FakeHTTPServer
from tests.processes import CeleryProcess, RedisServer, wait_for
from tests.servers import server_env
from tests.sms.fakes import AcceptingTwilio

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 3
CALL_SECONDS = 8  # the provider answers after more than two leases


def test_a_live_worker_keeps_its_message_through_a_call_longer_than_its_lease(task_queue):
    if settings.SECRET_KEY == settings.DEFAULT_SECRET_KEY:
        pytest.fail("worker processes need SECRET_KEY: run the tests through ./scripts/test")
    provider = AcceptingTwilio(reply_delay=CALL_SECONDS)
    redis = RedisServer().start()
    with FakeHTTPServer(provider) as sms_api:
        env = server_env(REDIS_URL=redis.url, CELERY_QUEUE="lease", **provider.env(sms_api.url),
                         SMS_HTTP_TIMEOUT_SECONDS=CALL_SECONDS * 2, SMS_SENDING_LEASE_SECONDS=LEASE_SECONDS,
                         SMS_OUTBOX_SWEEP_SECONDS=1)
        worker, beat = CeleryProcess("worker", env), CeleryProcess("beat", env)
        try:
            worker.start()
            beat.start()
            message = services.otp_send(to="+989121234567", code="246810", ttl_seconds=300)
            with app.connection_for_write(redis.url) as broker:  # the worker's broker, not this process's
                for _, args, _ in task_queue.items:
                    deliver_message.apply_async(args=args, queue="lease", connection=broker)
            wait_for(lambda: Message.objects.get(pk=message.pk).status == "sent", CALL_SECONDS + 30,
                     lambda: f"the message to be sent\n{worker.log()}\n{beat.log()}")
        finally:
            worker.stop()
            beat.stop()
            redis.stop()

    sweeps = re.findall(r"outbox_requeue_expired\[[0-9a-f-]+\] succeeded in [0-9.e-]+s: '([^']*)'", worker.log())
    assert len(sweeps) >= CALL_SECONDS // 2, worker.log()  # the sweep ran all along the call...
    assert set(sweeps) == {"interrupted=0 lost=0"}  # ...and never took the message back
    assert [(to, code) for _, to, code in provider.accepted] == [("+989121234567", "246810")]
    row = Message.objects.get(pk=message.pk)
    assert (row.attempts, row.error_code, row.secret) == (1, "", "")
    assert row.lease_expires_at - row.claimed_at > timedelta(seconds=LEASE_SECONDS)  # renewed, not the first lease
