"""Writes of the accounts app: users, login sessions, tokens. Events go out after commit."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.tokens import RefreshToken
from user_agents import parse as parse_user_agent

from core import clock
from core.events import send_on_commit

from .models import LoginSession, SessionRefreshToken, User

logger = logging.getLogger(__name__)

SESSION_REVOKED_EVENT = "session.revoked"


def session_group(session_id: str) -> str:
    return f"session.{session_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def _state_key(session_id: str) -> str:
    return f"session:state:{session_id}"


@dataclass(frozen=True)
class LoginResult:
    user: User
    session: LoginSession
    access: str
    refresh: str

    def as_payload(self) -> dict:
        return {
            "access": self.access,
            "refresh": self.refresh,
            "user": user_payload(self.user),
            "session": {"id": self.session.id},
        }


def user_payload(user: User) -> dict:
    return {"id": user.id, "mobile_number": str(user.mobile_number)}


def user_get_or_create(*, mobile_number: str) -> User:
    """The user of an E.164 number, created on first login (safe under concurrent first logins)."""
    user = User.objects.filter(mobile_number=mobile_number).first()
    if user is not None:
        return user
    try:
        with transaction.atomic():
            return User.objects.create_user(mobile_number=mobile_number)
    except IntegrityError:
        return User.objects.get(mobile_number=mobile_number)


def _describe_user_agent(raw: str) -> dict:
    if not raw:
        return {"device": "", "browser": "", "os": ""}
    ua = parse_user_agent(raw)
    device = "Bot" if ua.is_bot else ("Phone" if ua.is_mobile else "Tablet" if ua.is_tablet else "PC" if ua.is_pc else "Other")
    family = ua.device.family if ua.device.family not in ("Other", "", None) else ""
    browser = " ".join(x for x in [ua.browser.family, ua.browser.version_string] if x).strip()
    os_name = " ".join(x for x in [ua.os.family, ua.os.version_string] if x).strip()
    return {
        "device": (f"{device} ({family})" if family else device)[:100],
        "browser": browser[:100],
        "os": os_name[:100],
    }


def tokens_for_session(session: LoginSession) -> tuple[str, str]:
    refresh = RefreshToken.for_user(session.user)
    refresh["sid"] = session.id
    SessionRefreshToken.objects.create(jti=refresh["jti"], session=session)
    return str(refresh.access_token), str(refresh)


def login_complete(*, user: User, method: str, ip: str | None, user_agent: str) -> LoginResult:
    """Record a login session for `user` and issue its JWT pair (the token carries the session id)."""
    session = LoginSession.objects.create(
        user=user,
        login_method=method,
        ip=ip,
        user_agent=(user_agent or "")[:1000],
        **_describe_user_agent(user_agent or ""),
    )
    access, refresh = tokens_for_session(session)
    logger.info("login user=%s method=%s session=%s", user.pk, method, session.id)
    return LoginResult(user=user, session=session, access=access, refresh=refresh)


def _blacklist_session_tokens(session: LoginSession) -> None:
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    # simplejwt records each refresh token it issues; those of this session are found by the sid claim
    # we keep in `session_tokens`, and every one still outstanding is blacklisted.
    for outstanding in OutstandingToken.objects.filter(user=session.user, jti__in=_session_jtis(session)):
        BlacklistedToken.objects.get_or_create(token=outstanding)


def _session_jtis(session: LoginSession) -> list[str]:
    return list(SessionRefreshToken.objects.filter(session=session).values_list("jti", flat=True))


def session_revoke(*, session: LoginSession, by: User | None = None, reason: str = "revoked") -> bool:
    """End one session: its tokens stop working and its sockets close (4401) on every process.

    Returns False when it had already ended.
    """
    with transaction.atomic():
        updated = LoginSession.objects.filter(pk=session.pk, revoked_at__isnull=True).update(
            revoked_at=clock.now(), revoked_by=by, revoke_reason=reason[:64]
        )
        if not updated:
            return False
        session.refresh_from_db()
        _blacklist_session_tokens(session)
        sid = session.id
        transaction.on_commit(lambda: mark_session_revoked_in_cache(sid))
        send_on_commit(session_group(sid), {"type": SESSION_REVOKED_EVENT, "session": sid, "reason": reason})
    logger.info("session %s revoked (%s)", session.id, reason)
    return True


def sessions_revoke_for_user(*, user: User, by: User | None = None, reason: str, keep: str | None = None) -> int:
    count = 0
    for session in LoginSession.objects.filter(user=user, revoked_at__isnull=True).exclude(pk=keep or ""):
        count += session_revoke(session=session, by=by, reason=reason)
    return count


def mark_session_revoked_in_cache(session_id: str) -> None:
    cache.set(_state_key(session_id), "revoked", timeout=settings.JWT_REFRESH_DAYS * 86400)


def session_touch(*, session_id: str) -> None:
    """Update last_seen_at at most once per SESSION_LAST_SEEN_INTERVAL_SECONDS per session."""
    interval = settings.SESSION_LAST_SEEN_INTERVAL_SECONDS
    if cache.add(f"session:seen:{session_id}", 1, timeout=interval):
        LoginSession.objects.filter(pk=session_id).update(last_seen_at=clock.now())
