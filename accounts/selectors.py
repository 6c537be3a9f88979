"""Reads of the accounts app."""

from __future__ import annotations

from django.core.cache import cache

from .models import LoginSession

# How long "active" may be served from the shared cache. A revoke overwrites the key with
# "revoked" at once, so this only bounds the cost of a missed cache write (Redis hiccup).
_ACTIVE_CACHE_SECONDS = 60


def _state_key(session_id: str) -> str:
    return f"session:state:{session_id}"


def session_is_active(session_id: str) -> bool:
    """Shared-state check used on every authenticated request and socket connect.

    A revoke writes "revoked" to the shared cache at once; "active" is cached briefly so a
    request does not need the database, and the database decides on a miss.
    """
    if not session_id or not isinstance(session_id, str) or len(session_id) > 64:
        return False
    key = _state_key(session_id)
    state = cache.get(key)
    if state is None:
        active = LoginSession.objects.active().filter(pk=session_id).exists()
        state = "active" if active else "revoked"
        # add(), not set(): never overwrite a "revoked" that a concurrent revoke just wrote.
        cache.add(key, state, timeout=_ACTIVE_CACHE_SECONDS)
        state = cache.get(key, state)
    return state == "active"


def sessions_active_for_user(*, user) -> list[LoginSession]:
    """The user's active sessions, newest first."""
    return list(LoginSession.objects.active().filter(user=user).order_by("-created_at", "-pk"))


def session_active_for_user(*, user, session_id: str) -> LoginSession | None:
    return LoginSession.objects.active().filter(user=user, pk=session_id).first()
