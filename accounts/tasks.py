"""Celery tasks of the accounts app: housekeeping run by beat (CELERY_BEAT_SCHEDULE in settings)."""

from __future__ import annotations

from importlib import import_module

from celery import shared_task
from django.conf import settings

from .services import sessions_flush_expired


@shared_task(name="accounts.flush_expired_sessions", ignore_result=True)
def flush_expired_sessions(keep_days: int = 30) -> str:
    """Delete ended login sessions and expired token records (`flushexpiredsessions` by hand), and the
    expired browser sessions of Django's session store (`clearsessions` by hand)."""
    flushed = sessions_flush_expired(keep_days=max(0, keep_days))
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
    return (f"sessions={flushed.sessions} refresh_tokens={flushed.refresh_tokens} "
            f"outstanding_tokens={flushed.outstanding_tokens}")
