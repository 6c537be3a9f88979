"""Reads of the accounts app."""

from __future__ import annotations

from django.core.cache import cache

from .models import LoginSession

_ACTIVE_CACHE_SECONDS = 60


def session_is_active(session_id: str) -> bool:
    """Shared-state check used on every authenticated request and socket connect.

    A revoke writes "revoked" to the shared cache at once; "active" is cached briefly so a
    request does not need the database, and the database decides on a miss.
    """
    if not session_id:
        return False
    key = f"session:state:{session_id}"
    state = cache.get(key)
    if state is None:
        active = LoginSession.objects.filter(pk=session_id, revoked_at__isnull=True).exists()
        state = "active" if active else "revoked"
        # add(), not set(): never overwrite a "revoked" that a concurrent revoke just wrote.
        cache.add(key, state, timeout=_ACTIVE_CACHE_SECONDS)
        state = cache.get(key, state)
    return state == "active"


def sessions_active_for_user(*, user) -> list[LoginSession]:
    return list(LoginSession.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at"))
