"""Celery tasks of the sms app (run by the `worker` process, or in-process without Redis)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from . import services

# A database that restarts or refuses connections for a moment: worth trying again. (Integrity and
# data errors are not: they would fail the same way.)
TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)


@shared_task(
    name="sms.deliver_message", ignore_result=True, acks_late=True, reject_on_worker_lost=True,
    # 1, 2, 4, ... 30 s apart (with jitter, so a restart's failures do not come back in step), about
    # two minutes in all; past that the outbox sweep queues the message again anyway.
    autoretry_for=TRANSIENT_DATABASE_ERRORS, retry_backoff=1, retry_backoff_max=30, retry_jitter=True, max_retries=8,
)
def deliver_message(message_id: int) -> str:
    """One delivery attempt of outbox message `message_id` (see sms.services.message_deliver)."""
    return services.message_deliver(message_id=message_id)


@shared_task(name="sms.outbox_requeue_expired", ignore_result=True)
def outbox_requeue_expired() -> str:
    """Beat, every SMS_OUTBOX_SWEEP_SECONDS: take back dead workers' messages, re-queue lost tasks."""
    requeued = services.outbox_requeue_expired()
    return f"interrupted={requeued.interrupted} lost={requeued.lost}"


@shared_task(name="sms.outbox_purge", ignore_result=True)
def outbox_purge() -> int:
    """Beat, daily: delete finished messages older than SMS_OUTBOX_RETENTION_DAYS."""
    return services.outbox_purge(older_than_days=settings.SMS_OUTBOX_RETENTION_DAYS)
