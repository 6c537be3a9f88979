"""The delivery state machine: retries with backoff, failover, exactly-once claims, expiry."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from sms import services
from sms.models import Message
from sms.providers import locmem
from tests.sms.fakes import FAKES

pytestmark = pytest.mark.django_db

NUMBER = "+989121234567"


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc), tick=False)
    return time_machine


def test_retryable_failures_back_off_exponentially_then_succeed(sms_settings, fake_provider, task_queue, clock):
    fake, server = fake_provider("twilio")
    fake.modes = ["retryable", "timeout"]
    sms_settings.SMS_PROVIDER = "twilio"
    message = services.message_send(to=NUMBER, text="hello")

    assert task_queue.run_next(clock) == "retry"
    row = Message.objects.get(pk=message.pk)
    assert (row.status, row.provider_attempts, row.error_code) == ("queued", 1, "20429")
    assert task_queue.items[0][2] == 2.0  # base delay

    # Running early does nothing: the attempt is not due yet.
    assert services.message_deliver(message_id=message.pk) == "not_due"

    assert task_queue.run_next(clock) == "retry"
    assert task_queue.items[0][2] == 4.0  # doubled
    assert task_queue.run_next(clock) == "sent"

    row.refresh_from_db()
    assert (row.status, row.attempts, row.provider) == ("sent", 3, "twilio")
    assert row.provider_message_id.startswith("SM")
    assert len(server.requests) == 3


def test_backoff_is_bounded(sms_settings):
    sms_settings.SMS_RETRY_BASE_SECONDS = 2
    sms_settings.SMS_RETRY_MAX_SECONDS = 10
    assert [services.backoff_seconds(n) for n in (1, 2, 3, 4, 5)] == [2, 4, 8, 10, 10]


def test_retries_exhausted_fail_over_to_next_provider(sms_settings, fake_provider, task_queue, clock):
    kave, kave_server = fake_provider("kavenegar")
    kave.mode = "retryable"
    twilio, twilio_server = fake_provider("twilio")
    sms_settings.SMS_PROVIDER, sms_settings.SMS_FALLBACK_PROVIDERS = "kavenegar", ["twilio"]
    message = services.message_send(to=NUMBER, text="hello")

    assert task_queue.run_all(clock) == ["retry", "retry", "failover", "sent"]
    row = Message.objects.get(pk=message.pk)
    assert (row.status, row.provider, row.provider_index, row.attempts) == ("sent", "twilio", 1, 4)
    assert "kavenegar: 409" in row.last_error  # what made it fail over is kept
    assert len(kave_server.requests) == 3 and len(twilio_server.requests) == 1


def test_permanent_failure_fails_over_at_once(sms_settings, fake_provider, task_queue, clock):
    meli, meli_server = fake_provider("melipayamak")
    meli.mode = "permanent"
    fake_provider("twilio")
    sms_settings.SMS_PROVIDER, sms_settings.SMS_FALLBACK_PROVIDERS = "melipayamak", ["twilio"]
    message = services.message_send(to=NUMBER, text="hello")

    assert task_queue.run_all(clock) == ["failover", "sent"]
    assert len(meli_server.requests) == 1
    assert Message.objects.get(pk=message.pk).provider == "twilio"


def test_last_provider_failing_marks_failed_with_its_code(sms_settings, fake_provider, task_queue, clock):
    kave, _ = fake_provider("kavenegar")
    kave.mode = "permanent"
    twilio, _ = fake_provider("twilio")
    twilio.mode = "permanent"
    sms_settings.SMS_PROVIDER, sms_settings.SMS_FALLBACK_PROVIDERS = "kavenegar", ["twilio"]
    message = services.otp_send(to=NUMBER, code="123456", ttl_seconds=300)

    assert task_queue.run_all(clock) == ["failover", "failed:21610"]
    row = Message.objects.get(pk=message.pk)
    assert (row.status, row.error_code, row.provider) == ("failed", "21610", "twilio")
    assert "unsubscribed" in row.last_error and row.secret == ""


def test_a_task_run_twice_sends_once(sms_settings, task_queue):
    sms_settings.SMS_PROVIDER = "locmem"
    locmem.outbox.clear()
    message = services.message_send(to=NUMBER, text="once")
    task = task_queue.items[0]
    assert task_queue.run_next() == "sent"
    task_queue.items.append(task)  # the broker delivers it again
    assert task_queue.run_next() == "done"
    assert [sms.text for sms in locmem.outbox] == ["once"]


def test_claimed_row_is_not_sent_again_and_is_failed_after_its_lease(sms_settings, task_queue, clock):
    sms_settings.SMS_PROVIDER = "locmem"
    sms_settings.SMS_SENDING_LEASE_SECONDS = 30
    locmem.outbox.clear()
    message = services.message_send(to=NUMBER, text="hi")
    task_queue.items.clear()
    # Another worker claimed it and died during the provider call.
    Message.objects.filter(pk=message.pk).update(status="sending", claimed_at=datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc))

    assert services.message_deliver(message_id=message.pk) == "busy"
    assert task_queue.items[0][2] == 31  # looks again when the lease ends
    assert task_queue.run_next(clock) == "failed:interrupted"
    row = Message.objects.get(pk=message.pk)
    assert (row.status, row.error_code) == ("failed", "interrupted")
    assert locmem.outbox == []


def test_expired_code_is_not_sent(sms_settings, task_queue, clock):
    sms_settings.SMS_PROVIDER = "locmem"
    locmem.outbox.clear()
    message = services.otp_send(to=NUMBER, code="999111", ttl_seconds=60)
    clock.shift(61)
    assert task_queue.run_all() == ["failed:expired"]
    assert locmem.outbox == [] and Message.objects.get(pk=message.pk).secret == ""


def test_no_retry_scheduled_past_the_code_expiry(sms_settings, fake_provider, task_queue, clock):
    fake, _ = fake_provider("twilio")
    fake.mode = "retryable"
    sms_settings.SMS_PROVIDER = "twilio"
    sms_settings.SMS_RETRY_BASE_SECONDS = 50
    services.otp_send(to=NUMBER, code="999111", ttl_seconds=60)
    assert task_queue.run_all(clock) == ["retry", "failed:20429"]  # 50 s fits, the next 100 s does not


def test_unknown_provider_fails_over(sms_settings, task_queue):
    sms_settings.SMS_PROVIDER, sms_settings.SMS_FALLBACK_PROVIDERS = "nosuch", ["locmem"]
    locmem.outbox.clear()
    services.message_send(to=NUMBER, text="hi")
    assert task_queue.run_all() == ["failover", "sent"]


@pytest.mark.parametrize("name", ["console", "locmem", *sorted(FAKES)])
def test_otp_flow_sends_the_code_through_any_provider(name, sms_settings, fake_provider, task_queue, caplog):
    sms_settings.SMS_PROVIDER = name
    locmem.outbox.clear()
    server = fake_provider(name)[1] if name in FAKES else None

    message = services.otp_send(to=NUMBER, code="734019", ttl_seconds=300)
    assert task_queue.run_all() == ["sent"]

    row = Message.objects.get(pk=message.pk)
    assert row.status == "sent" and "734019" not in f"{row.text}{row.params}{row.secret}"
    if server:
        assert len(server.requests) == 1
        request = server.requests[0]
        assert "734019" in (request.body.decode() + request.path)
    elif name == "locmem":
        assert locmem.outbox[0].code == "734019" and "734019" in locmem.outbox[0].text
    # No log line other than the console provider's carries the code.
    leaks = [r for r in caplog.records if "734019" in r.getMessage() and r.name != "sms.console"]
    assert leaks == []
    # Nor any credential (Kavenegar's API key is part of its URL).
    if name in FAKES:
        secrets = [v for k, v in FAKES[name].config.items() if k in {"API_KEY", "PASSWORD", "TOKEN", "AUTH_TOKEN"}]
        assert not [r for r in caplog.records if any(s in r.getMessage() for s in secrets)]


def test_admin_retry_requeues_a_failed_message(sms_settings, task_queue):
    sms_settings.SMS_PROVIDER = "nosuch"
    message = services.message_send(to=NUMBER, text="hi")
    assert task_queue.run_all() == ["failed:unknown_provider"]
    sms_settings.SMS_PROVIDER = "locmem"
    assert services.message_retry(message=Message.objects.get(pk=message.pk)) is True
    assert services.message_retry(message=Message.objects.get(pk=message.pk)) is False  # not failed any more
    assert task_queue.run_all() == ["sent"]


def test_requeue_due_and_purge(sms_settings, task_queue, clock):
    sms_settings.SMS_PROVIDER = "locmem"
    old = services.message_send(to=NUMBER, text="old")
    task_queue.run_all()
    clock.shift(86400 * 91)
    waiting = services.message_send(to=NUMBER, text="lost timer")
    task_queue.items.clear()  # e.g. the embedded process restarted
    assert services.outbox_requeue_due() == 1
    assert task_queue.run_all() == ["sent"]
    assert services.outbox_purge(older_than_days=90) == 1
    assert list(Message.objects.values_list("pk", flat=True)) == [waiting.pk]
    assert not Message.objects.filter(pk=old.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_embedded_mode_delivers_on_the_thread_pool_after_commit(settings):
    settings.BACKGROUND_IN_PROCESS = True
    settings.SMS_PROVIDER, settings.SMS_FALLBACK_PROVIDERS = "locmem", []
    locmem.outbox.clear()
    message = services.otp_send(to=NUMBER, code="5150", ttl_seconds=120)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Message.objects.get(pk=message.pk).status != "sent":
        time.sleep(0.02)
    assert Message.objects.get(pk=message.pk).status == "sent"
    assert [sms.code for sms in locmem.outbox] == ["5150"]
