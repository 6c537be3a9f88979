"""Celery tasks of the sms app (run by the `worker` process, or in-process without Redis)."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="sms.deliver_message", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def deliver_message(message_id: int) -> str:
    """One delivery attempt of outbox message `message_id` (see sms.services.message_deliver)."""
    return services.message_deliver(message_id=message_id)
