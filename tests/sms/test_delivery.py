"""The delivery state machine: retries with backoff, failover, exactly-once claims, expiry."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError
from django.db.models import F

from core import clock as core_clock
from sms import leases, services
from sms.models import Message
from sms.providers import PROVIDER_CLASSES, Provider, SendResult, locmem
from tests.sms.fakes import FAKES

pytestmark = pytest.mark.django_db

NUMBER = "+989121234567"


def clock_now():
    return core_clock.now()


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
    services.message_send(to=NUMBER, text="once")
    task = task_queue.items[0]
    assert task_queue.run_next() == "sent"
    task_queue.items.append(task)  # the broker delivers it again
    assert task_queue.run_next() == "done"
    assert [sms.text for sms in locmem.outbox] == ["once"]


def _claimed_by_another_worker(message, claimed_at):
    """The row as a worker that claimed it at `claimed_at` (and renewed nothing since) left it."""
    Message.objects.filter(pk=message.pk).update(
        status="sending", claimed_at=claimed_at, lease_expires_at=claimed_at + timedelta(seconds=15),
        attempts=F("attempts") + 1,
    )


def test_a_claimed_row_is_left_alone_until_its_lease_runs_out_then_sent_again(sms_settings, task_queue, clock):
    sms_settings.SMS_PROVIDER = "locmem"
    sms_settings.SMS_SENDING_LEASE_SECONDS = 15
    locmem.outbox.clear()
    message = services.otp_send(to=NUMBER, code="123456", ttl_seconds=300)
    task_queue.items.clear()
    _claimed_by_another_worker(message, clock_now())

    assert services.message_deliver(message_id=message.pk) == "busy"  # a live worker may be mid-call
    assert task_queue.items == []
    clock.shift(14)
    assert services.outbox_requeue_expired() == services.Requeued(interrupted=0, lost=0)
    clock.shift(2)  # the lease ran out: that worker is gone
    assert services.outbox_requeue_expired() == services.Requeued(interrupted=1, lost=0)
    row = Message.objects.get(pk=message.pk)
    assert (row.status, row.error_code, row.provider_attempts) == ("queued", "interrupted", 1)
    assert [countdown for _, _, countdown in task_queue.items] == [None]  # at once: no backoff after a death

    assert task_queue.run_all(clock) == ["sent"]
    assert [sms.code for sms in locmem.outbox] == ["123456"]
    row.refresh_from_db()
    assert (row.status, row.attempts, row.secret) == ("sent", 2, "")


def test_a_row_changed_between_its_read_and_the_claim_is_not_claimed(sms_settings, task_queue, clock, monkeypatch):
    sms_settings.SMS_PROVIDER = "locmem"
    message = services.message_send(to=NUMBER, text="hi")
    lease_end = leases.lease_end

    def another_worker_moves_it_on(now):  # runs after the read, before the claim's UPDATE
        Message.objects.filter(pk=message.pk).update(provider_index=1, updated_at=now + timedelta(seconds=1))
        return lease_end(now)

    monkeypatch.setattr(leases, "lease_end", another_worker_moves_it_on)
    assert services.message_deliver(message_id=message.pk) == "not_due"
    row = Message.objects.get(pk=message.pk)
    assert (row.status, row.attempts, row.provider_index) == ("queued", 0, 1)


def test_a_message_that_keeps_losing_its_worker_fails_after_the_providers_tries(sms_settings, task_queue, clock):
    sms_settings.SMS_PROVIDER = "locmem"
    sms_settings.SMS_MAX_ATTEMPTS_PER_PROVIDER = 3
    message = services.message_send(to=NUMBER, text="poison")
    task_queue.items.clear()
    outcomes = []
    for _ in range(3):  # e.g. every attempt runs the worker out of memory
        _claimed_by_another_worker(message, clock_now())
        clock.shift(16)
        services.outbox_requeue_expired()
        outcomes.append(Message.objects.get(pk=message.pk).status)
    assert outcomes == ["queued", "queued", "failed"]
    assert Message.objects.get(pk=message.pk).error_code == "interrupted"


def test_a_lost_task_is_queued_again_after_one_lease(sms_settings, task_queue, clock):
    sms_settings.SMS_PROVIDER = "locmem"
    sms_settings.SMS_SENDING_LEASE_SECONDS = 15
    locmem.outbox.clear()
    message = services.message_send(to=NUMBER, text="its task died with a worker")
    task_queue.items.clear()

    assert services.outbox_requeue_expired().lost == 0  # just queued: its task may be on its way
    clock.shift(16)
    assert services.outbox_requeue_expired().lost == 1
    assert services.outbox_requeue_expired().lost == 0  # one extra task per lease, not one per sweep
    assert task_queue.run_all(clock) == ["sent"]
    assert [sms.text for sms in locmem.outbox] == ["its task died with a worker"]
    assert Message.objects.get(pk=message.pk).attempts == 1


def test_a_retry_waiting_for_its_backoff_is_not_lost(sms_settings, fake_provider, task_queue, clock):
    fake, _ = fake_provider("twilio")
    fake.modes = ["retryable"]
    sms_settings.SMS_PROVIDER = "twilio"
    sms_settings.SMS_RETRY_BASE_SECONDS = 30
    services.message_send(to=NUMBER, text="hello")
    assert task_queue.run_next() == "retry"
    clock.shift(40)  # due 10 s ago: not yet a lost task
    assert services.outbox_requeue_expired().lost == 0
    clock.shift(10)
    assert services.outbox_requeue_expired().lost == 1


class _AcceptsAfterItsLeaseRanOut(Provider):
    """A provider call that outlives the worker's lease (the worker froze): the sweep takes the
    message back during the call, then the provider accepts it."""

    name = "late"
    shift = None

    def _send(self, sms):
        _AcceptsAfterItsLeaseRanOut.shift(60)
        services.outbox_requeue_expired()
        return SendResult.sent("late-acceptance")


def test_a_late_acceptance_is_recorded_so_the_message_is_not_sent_again(sms_settings, task_queue, clock, monkeypatch):
    monkeypatch.setitem(PROVIDER_CLASSES, "late", f"{__name__}._AcceptsAfterItsLeaseRanOut")
    sms_settings.SMS_PROVIDER = "late"
    _AcceptsAfterItsLeaseRanOut.shift = clock.shift
    message = services.message_send(to=NUMBER, text="hi")
    assert task_queue.run_next() == "sent"
    assert len(task_queue.items) == 1  # what the sweep queued while the call ran
    assert task_queue.run_all() == ["done"]
    row = Message.objects.get(pk=message.pk)
    assert (row.status, row.provider_message_id) == ("sent", "late-acceptance")


def test_the_lease_keeper_renews_only_the_claims_it_holds(sms_settings, task_queue, clock):
    sms_settings.SMS_SENDING_LEASE_SECONDS = 15
    mine = services.message_send(to=NUMBER, text="mine")
    theirs = services.message_send(to=NUMBER, text="theirs")
    start = clock_now()
    for message in (mine, theirs):
        _claimed_by_another_worker(message, start)
    keeper = leases.LeaseKeeper()
    with keeper.hold(mine.pk, start):
        clock.shift(10)
        assert keeper.renew() == 1
    assert keeper.renew() == 0  # released
    leases_now = dict(Message.objects.values_list("pk", "lease_expires_at"))
    assert leases_now[mine.pk] == start + timedelta(seconds=25)
    assert leases_now[theirs.pk] == start + timedelta(seconds=15)

    # A claim the sweep took back (this process stalled too long) is not renewed either.
    with keeper.hold(theirs.pk, start):
        clock.shift(10)
        services.outbox_requeue_expired()
        assert keeper.renew() == 0


def test_an_outcome_is_recorded_through_a_short_database_outage(monkeypatch):
    failures = iter([OperationalError("server closed the connection"), InterfaceError("connection already closed")])
    naps = []
    monkeypatch.setattr(services.time, "sleep", naps.append)

    def write():
        error = next(failures, None)
        if error:
            raise error
        return 1

    with mock.patch.object(services.connection, "in_atomic_block", False), \
            mock.patch.object(services.connection, "close") as close:
        assert services._durably(write) == 1
    assert len(naps) == close.call_count == 2


def test_an_outcome_write_gives_up_after_half_a_lease(sms_settings, monkeypatch):
    sms_settings.SMS_SENDING_LEASE_SECONDS = 10
    now = [0.0]
    monkeypatch.setattr(services.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(services.time, "sleep", lambda seconds: now.__setitem__(0, now[0] + seconds))

    def write():
        raise OperationalError("the database is down")

    with mock.patch.object(services.connection, "in_atomic_block", False), \
            mock.patch.object(services.connection, "close"), pytest.raises(OperationalError):
        services._durably(write)
    assert 5.0 <= now[0] <= 5.5


def test_a_database_error_in_the_task_is_retried(sms_settings, monkeypatch):
    from sms.tasks import deliver_message

    calls = []

    def flaky(*, message_id):
        calls.append(message_id)
        if len(calls) == 1:
            raise OperationalError("the database restarted")
        return "sent"

    monkeypatch.setattr(services, "message_deliver", flaky)
    deliver_message.apply(args=(7,))
    assert calls == [7, 7]


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


def test_purge_deletes_old_finished_messages_only(sms_settings, task_queue, clock):
    sms_settings.SMS_PROVIDER = "locmem"
    old = services.message_send(to=NUMBER, text="old")
    task_queue.run_all()
    clock.shift(86400 * 91)
    waiting = services.message_send(to=NUMBER, text="still queued")
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
