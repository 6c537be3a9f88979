"""Celery tasks of the otp app: housekeeping run by beat (CELERY_BEAT_SCHEDULE in settings)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from .services import challenges_purge_expired


@shared_task(name="otp.purge_expired", ignore_result=True)
def purge_expired(older_than_seconds: int = 86400) -> int:
    """Delete challenges whose code expired more than `older_than_seconds` ago (`otp_purge_expired` by hand)."""
    return challenges_purge_expired(older_than=timedelta(seconds=max(0, older_than_seconds)))
