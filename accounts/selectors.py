"""Reads of the accounts app."""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from core import redis_clients
from core.db import in_db_pool
from core.phone import region_of

from .models import LoginSession, User

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


def _session_user_row(user_id, session_id: str) -> User | None:
    if not session_id or not isinstance(session_id, str) or len(session_id) > 64:
        return None
    if isinstance(user_id, bool) or not isinstance(user_id, (int, str)):
        return None
    try:
        user_id = int(user_id)
    except ValueError:  # a user id of the wrong shape
        return None
    if not -(2**63) <= user_id < 2**63:  # would not fit the column
        return None
    # Every WebSocket handshake asks this: written in SQL, because building it through the ORM took
    # several times the CPU PostgreSQL spent running it. Table names come from the models.
    users = connection.ops.quote_name(User._meta.db_table)
    sessions = connection.ops.quote_name(LoginSession._meta.db_table)
    found = User.objects.raw(
        f"SELECT u.* FROM {users} u INNER JOIN {sessions} s ON s.user_id = u.id"
        " WHERE u.id = %s AND u.is_active AND s.id = %s AND s.revoked_at IS NULL AND s.expires_at > %s",
        [user_id, session_id, connection.ops.adapt_datetimefield_value(timezone.now())],
    )
    rows = list(found)  # at most one (the session id is a key); read to the end, so the cursor closes
    return rows[0] if rows else None


def session_user(*, user_id, session_id: str) -> User | None:
    """The active user of an active login session, in one database query.

    The database is the truth that the shared cache only mirrors: a revoke commits there before it
    writes "revoked" to the cache, so this is never staler than `session_is_active`. On success the
    cache learns "active" (add, never over a "revoked"), so a socket's re-check after joining the
    session's group (`asession_is_active`) is one cache read.
    """
    user = _session_user_row(user_id, session_id)
    if user is not None:
        cache.add(_state_key(session_id), "active", timeout=_ACTIVE_CACHE_SECONDS)
    return user


async def asession_user(*, user_id, session_id: str) -> User | None:
    """`session_user` for the WebSocket handshake: the query in the database thread, the cache
    write on the event loop (Django's cache from async code is per async context, and a thread hop
    more), with the cache's own key function and serializer, so both read each other's entries."""
    client = redis_clients.async_cache_client()
    if client is None:
        return await database_sync_to_async(session_user)(user_id=user_id, session_id=session_id)
    # On the shared thread pool, not the one thread-sensitive thread: handshakes overlap their queries.
    user = await in_db_pool(_session_user_row)(user_id, session_id)
    if user is not None:
        await client.set(
            redis_clients.cache_key(_state_key(session_id)),
            redis_clients.cache_dumps("active"),
            nx=True,  # add(): never over a "revoked" a concurrent revoke just wrote
            ex=_ACTIVE_CACHE_SECONDS,
        )
    return user


def sessions_active(session_ids: list[str]) -> set[str]:
    """Which of many sessions are active: one cache read for all, one database query for the misses.

    The periodic re-check of every socket of a process (accounts.ws) asks this once per round.
    """
    ids = [sid for sid in set(session_ids) if sid and isinstance(sid, str) and len(sid) <= 64]
    if not ids:
        return set()
    states = cache.get_many([_state_key(sid) for sid in ids])
    active = {sid for sid in ids if states.get(_state_key(sid)) == "active"}
    missing = [sid for sid in ids if _state_key(sid) not in states]
    for start in range(0, len(missing), 1000):
        active.update(LoginSession.objects.active().filter(pk__in=missing[start : start + 1000]).values_list("pk", flat=True))
    return active


async def asession_is_active(session_id: str) -> bool:
    """`session_is_active` for async code: a cached state is read on the event loop (no thread
    hop); a miss is decided by the database through `session_is_active`."""
    if not session_id or not isinstance(session_id, str) or len(session_id) > 64:
        return False
    client = redis_clients.async_cache_client()
    if client is not None:
        raw = await client.get(redis_clients.cache_key(_state_key(session_id)))
        if raw is not None:
            return redis_clients.cache_loads(raw) == "active"
    return await database_sync_to_async(session_is_active)(session_id)


def sessions_active_for_user(*, user) -> list[LoginSession]:
    """The user's active sessions, newest first."""
    return list(LoginSession.objects.active().filter(user=user).order_by("-created_at", "-pk"))


def session_active_for_user(*, user, session_id: str) -> LoginSession | None:
    return LoginSession.objects.active().filter(user=user, pk=session_id).first()


# --- Languages (docs/i18n.md) ------------------------------------------------------------------


def _supported(language: str | None) -> str | None:
    return language if language in dict(settings.LANGUAGES) else None


def language_of_number(mobile_number: str) -> str | None:
    """The language of an E.164 number's country when it is one of ours (SMS_LANGUAGE_BY_REGION)."""
    return _supported(settings.SMS_LANGUAGE_BY_REGION.get(region_of(mobile_number) or ""))


def language_for_user(user: User, fallback: str | None = None) -> str:
    """The language of texts sent to `user` (SMS, email): their choice, else their number's country's
    language when it is one of ours, else `fallback` (the language of the request that caused the
    text, as for an SMS), else English."""
    return (
        _supported(user.language)
        or language_of_number(str(user.mobile_number))
        or _supported(fallback)
        or settings.LANGUAGE_CODE
    )


def sms_language_for_number(*, mobile_number: str, fallback: str | None = None) -> str:
    """The language of an SMS to an E.164 number that may or may not belong to a user.

    The user's own choice first; then the number's country when it is one of ours; then `fallback`
    (the language of the request that asked for the SMS); then English. One query, the same whether
    or not the number has an account, so the answer to the sender reveals nothing.
    """
    chosen = User.objects.filter(mobile_number=mobile_number).values_list("language", flat=True).first()
    return (
        _supported(chosen)
        or language_of_number(mobile_number)
        or _supported(fallback)
        or settings.LANGUAGE_CODE
    )
