"""Writes of the accounts app: users, login sessions, tokens. Events go out after commit.

A login session ends (is revoked) through `session_revoke` / `sessions_revoke_for_user` only,
whatever the source (API, admin, refresh-token reuse, user deactivation or deletion), so every
ending has the same effect: the session row is marked, its refresh tokens are blacklisted, the
shared cache says "revoked" (access tokens and new sockets are refused from then on), and a
`session.revoked` event reaches every process, whose sockets of that session close with 4401.

Django's auth signals fire here, so apps that hook into them (audit logs, analytics, lockouts) see
every method: `login_complete` (SMS code, messenger, social) sends `user_logged_in`, whose receiver
from django.contrib.auth (`update_last_login`) sets `last_login`; every session that ends sends
`user_logged_out`. Both are sent inside the transaction that records the change, as Django's own
`login()`/`logout()` run inside the request's: a receiver's writes commit or roll back with it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token
from rest_framework_simplejwt.utils import datetime_from_epoch
from user_agents import parse as parse_user_agent

from core import clock, metrics
from core.logging import log_context_bind
from core.text import is_storable

from .models import LoginSession, SessionRefreshToken, User

logger = logging.getLogger(__name__)

SESSION_REVOKED_EVENT = "session.revoked"  # handed to a socket's session_revoked(), one session
# Every process joins this channel-layer group once (accounts.ws.SessionWatch) and hears every
# revocation as one event per batch of sessions: no group per session, no SUBSCRIBE per socket.
REVOCATIONS_GROUP = "sessions.revoked"
SESSIONS_REVOKED_EVENT = "sessions.revoked"
_REVOCATIONS_PER_EVENT = 500  # session ids per event, to keep one event's size bounded
Reason = LoginSession.RevokeReason


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def session_state_key(session_id: str) -> str:
    """Shared-cache key holding "active" or "revoked" for a session (see selectors.session_is_active)."""
    return f"session:state:{session_id}"


@dataclass(frozen=True)
class LoginResult:
    user: User
    session: LoginSession
    access: str
    refresh: str

    def as_payload(self) -> dict:
        """The JSON body every login endpoint returns."""
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


# The kinds of device a session's `device` starts with ("Phone (Pixel 8)"), and their codes in the
# API's `device_kind`, which pages translate (the stored text stays English, as it always was).
DEVICE_KINDS = {"Bot": "bot", "Phone": "phone", "Tablet": "tablet", "PC": "pc", "Other": "other"}


def device_kind_and_model(device: str) -> tuple[str, str]:
    """("phone", "Pixel 8") for the `device` _describe_user_agent wrote ("Phone (Pixel 8)"); ("", "")
    when there is none or it is not in that form."""
    kind, _space, rest = device.partition(" (")
    if kind not in DEVICE_KINDS or (rest and not rest.endswith(")")):
        return "", ""
    return DEVICE_KINDS[kind], rest[:-1]


# Real User-Agent strings are a few hundred characters. The parser converts version digits with int(),
# which refuses more than 4,300 digits (Python's int_max_str_digits): a longer header was a 500.
USER_AGENT_PARSE_MAX_LENGTH = 512
# Parsing a user agent runs ua-parser's hundreds of regular expressions: ~0.4 ms of CPU on every
# login and refresh with a new string. ua-parser's own cache holds 200 strings and is emptied when
# full, so a service with more distinct clients than that parsed nearly every time. Real traffic
# repeats a few thousand strings (docs/performance.md).
USER_AGENT_CACHE_SIZE = 4096


def _describe_user_agent(raw: str) -> dict:
    if not raw:
        return {"device": "", "browser": "", "os": ""}
    device, browser, os_name = _user_agent_description(raw[:USER_AGENT_PARSE_MAX_LENGTH])
    return {"device": device, "browser": browser, "os": os_name}


@functools.lru_cache(maxsize=USER_AGENT_CACHE_SIZE)
def _user_agent_description(raw: str) -> tuple[str, str, str]:
    ua = parse_user_agent(raw)
    if ua.is_bot:
        kind = "Bot"
    elif ua.is_mobile:
        kind = "Phone"
    elif ua.is_tablet:
        kind = "Tablet"
    elif ua.is_pc:
        kind = "PC"
    else:
        kind = "Other"
    family = ua.device.family if ua.device.family not in ("Other", "", None) else ""
    browser = " ".join(x for x in [ua.browser.family, ua.browser.version_string] if x).strip()
    os_name = " ".join(x for x in [ua.os.family, ua.os.version_string] if x).strip()
    return (f"{kind} ({family})" if family else kind)[:100], browser[:100], os_name[:100]


# --- Tokens ---------------------------------------------------------------------------------


def refresh_token_digest(encoded: str) -> str:
    """What is stored for an issued refresh token in simplejwt's outstanding-token table: a SHA-256
    of it, never the token (a database dump or an admin page would otherwise be a set of live
    sessions). The jti beside it is what every lookup uses."""
    return "sha256:" + hashlib.sha256(encoded.encode()).hexdigest()


class SessionRefreshJWT(RefreshToken):
    """A refresh token bound to a login session by its `sid` claim.

    Whether it may still be used is decided by its session's records (`SessionRefreshToken`),
    not by simplejwt's blacklist check, so that presenting a rotated token is recognised as
    reuse instead of being refused like any other bad token.
    """

    def verify(self) -> None:
        Token.verify(self)  # signature, expiry, jti and type; the blacklist is not consulted here

    @classmethod
    def for_session(cls, session: LoginSession) -> "SessionRefreshJWT":
        """Issue and record a refresh token for a session that is already saved."""
        token = cls.unrecorded_for_session(session)
        token.record(session)
        return token

    @classmethod
    def unrecorded_for_session(cls, session: LoginSession) -> "SessionRefreshJWT":
        """The signed claims only; nothing is written (`record` does that once the session row exists)."""
        token = Token.for_user.__func__(cls, session.user)
        token["sid"] = session.id
        return token

    def record(self, session: LoginSession) -> str:
        """Write the token's records; returns the encoded token (encoded once, reused by the caller)."""
        encoded = str(self)
        expires_at = datetime_from_epoch(self["exp"])
        # simplejwt's own list of issued tokens, so its blacklist stays truthful; the token itself is
        # not kept (see refresh_token_digest).
        OutstandingToken.objects.create(
            user=session.user,
            jti=self["jti"],
            token=refresh_token_digest(encoded),
            created_at=self.current_time,
            expires_at=expires_at,
        )
        SessionRefreshToken.objects.create(jti=self["jti"], session=session, expires_at=expires_at)
        return encoded


def tokens_for_session(session: LoginSession) -> tuple[str, str]:
    """Issue a new (access, refresh) pair for `session`; both carry its id as `sid`."""
    refresh = SessionRefreshJWT.for_session(session)
    session.expires_at = datetime_from_epoch(refresh["exp"])
    LoginSession.objects.filter(pk=session.pk).update(expires_at=session.expires_at)
    return str(refresh.access_token), str(refresh)


def login_complete(*, user: User, method: str, ip: str | None, user_agent: str, request=None) -> LoginResult:
    """Record a login session for `user` and issue its JWT pair (the token carries the session id).

    Sends `user_logged_in(sender=User, request, user, login_session, method)`; its receiver from
    django.contrib.auth sets `last_login` (one UPDATE; nothing here writes it, so it is written once).
    """
    session = LoginSession(
        user=user,
        login_method=method,
        ip=ip or None,
        user_agent=(user_agent or "").replace("\x00", "")[:1000],  # a NUL cannot be stored (core.text)
        **_describe_user_agent(user_agent or ""),
    )
    # The token is signed before the session row is written, so the row is inserted with the
    # token's expiry instead of being updated afterwards (one statement less per login).
    refresh = SessionRefreshJWT.unrecorded_for_session(session)
    session.expires_at = datetime_from_epoch(refresh["exp"])
    # No savepoint when the caller already holds a transaction (the OTP and auth4app logins do):
    # an error here rolls back the caller's transaction, which is what both want anyway.
    with transaction.atomic(savepoint=False):
        session.save(force_insert=True)
        encoded_refresh = refresh.record(session)
        user_logged_in.send(sender=user.__class__, request=request, user=user, login_session=session, method=method)
    access = str(refresh.access_token)
    metrics.AUTHENTICATIONS.labels(method, "success").inc()
    log_context_bind(user_id=user.pk, session_id=session.id)
    logger.info("login user=%s method=%s session=%s", user.pk, method, session.id)
    return LoginResult(user=user, session=session, access=access, refresh=encoded_refresh)


@dataclass(frozen=True)
class RefreshResult:
    access: str
    refresh: str


def session_refresh(*, refresh: str, request=None) -> RefreshResult:
    """Rotate a refresh token: the presented one is used up (and blacklisted), a new pair is issued
    for the same session. Presenting a token that was already rotated is reuse: a stolen copy is
    in play, so the whole session is revoked and the request refused.

    Raises simplejwt's `InvalidToken` / `AuthenticationFailed` (401) with a stable `code`.
    """
    try:
        token = SessionRefreshJWT(refresh)
    except TokenError as exc:
        raise InvalidToken({"detail": str(exc), "code": "token_not_valid"}) from None
    sid = token.get("sid")
    record = (
        SessionRefreshToken.objects.select_related("session", "session__user")
        .filter(jti=token[jwt_settings.JTI_CLAIM])
        .first()
    )
    if not sid or record is None or record.session_id != sid:
        raise InvalidToken({"detail": _("Token is not a session token."), "code": "token_not_valid"})
    session = record.session
    if not session.is_active:
        raise AuthenticationFailed(_("Session has ended."), code="session_revoked")
    if not jwt_settings.USER_AUTHENTICATION_RULE(session.user):
        raise AuthenticationFailed(_("No active account found for the given token."), code="no_active_account")

    now = clock.now()
    with transaction.atomic():
        # Claim the token: of two requests presenting it, exactly one updates the row.
        claimed = SessionRefreshToken.objects.filter(pk=record.pk, rotated_at__isnull=True).update(rotated_at=now)
        if claimed:
            _blacklist_jtis([record.pk])
            access, new_refresh = tokens_for_session(session)
            session_touch(session_id=session.pk)
    if not claimed:
        session_revoke(session=session, reason=Reason.REFRESH_REUSE, request=request)
        logger.warning("refresh token reuse: session %s of user %s revoked", session.id, session.user_id)
        raise AuthenticationFailed(_("Refresh token was already used; the session has been ended."), code="token_reused")
    return RefreshResult(access=access, refresh=new_refresh)


def _blacklist_jtis(jtis: list[str]) -> None:
    outstanding = list(OutstandingToken.objects.filter(jti__in=jtis).values_list("pk", flat=True))
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token_id=pk) for pk in outstanding], ignore_conflicts=True
    )


# --- Revocation -----------------------------------------------------------------------------


# Every function below takes the `request` that asked for the ending, if any, for the receivers
# of `user_logged_out` (as Django's `logout(request)` gives them).


def session_revoke(*, session: LoginSession, by: User | None = None, reason: str = Reason.USER, request=None) -> bool:
    """End one session: its tokens stop working and its sockets close (4401) on every process.

    Returns False when it had already ended.
    """
    return _revoke(LoginSession.objects.filter(pk=session.pk), by=by, reason=reason, request=request) == 1


def sessions_revoke_for_user(
    *, user: User, by: User | None = None, reason: str, keep: str | None = None, request=None
) -> int:
    """End every active session of `user` except `keep` (a session id); returns how many ended."""
    sessions = LoginSession.objects.filter(user=user)
    if keep:
        sessions = sessions.exclude(pk=keep)
    return _revoke(sessions, by=by, reason=reason, request=request)


def sessions_revoke(*, session_ids: list[str], by: User | None = None, reason: str, request=None) -> int:
    """End the given sessions (those still active); returns how many ended. Used by the admin."""
    return _revoke(LoginSession.objects.filter(pk__in=list(session_ids)), by=by, reason=reason, request=request)


def session_revoke_own(*, user: User, session_id: str, reason: str = Reason.USER, request=None) -> bool:
    """End one of `user`'s own sessions; False when no active session of theirs has that id."""
    if not is_storable(session_id):  # e.g. a NUL from `/api/sessions/%00/`: no session has it
        return False
    sessions = LoginSession.objects.filter(pk=session_id, user=user)
    return _revoke(sessions, by=user, reason=reason, request=request) == 1


def _revoke(sessions, *, by: User | None, reason: str, request) -> int:
    with transaction.atomic():
        # Locked, so that of two concurrent revokes of a session exactly one sees it active, ends
        # it and sends its `user_logged_out` (the other waits, then finds it ended). NO KEY UPDATE
        # is the lock the UPDATE below takes anyway, only taken one statement earlier: it does not
        # block a refresh inserting a token that references the session.
        active = sessions.filter(revoked_at__isnull=True).select_for_update(no_key=True).order_by("pk")
        ending = dict(active.values_list("pk", "user_id"))
        if not ending:
            return 0
        ids = list(ending)
        updated = LoginSession.objects.filter(pk__in=ids, revoked_at__isnull=True).update(
            revoked_at=clock.now(), revoked_by=by, revoke_reason=str(reason)[:64]
        )
        _blacklist_jtis(
            list(
                SessionRefreshToken.objects.filter(session_id__in=ids, expires_at__gt=clock.now()).values_list(
                    "jti", flat=True
                )
            )
        )
        _send_logged_out(ending, reason=str(reason), request=request)
        transaction.on_commit(lambda: announce_sessions_revoked(ids, reason=str(reason)))
    metrics.SESSION_REVOCATIONS.labels(str(reason)).inc(updated)
    logger.info("revoked %d session(s) (%s)", updated, reason)
    return updated


def _send_logged_out(ending: dict[str, int], *, reason: str, request) -> None:
    """`user_logged_out(sender=User, request, user, login_session_id, reason)` once per ended session.
    The users are read only when someone listens (Django itself connects no receiver to it)."""
    if not user_logged_out.has_listeners(User):
        return
    users = User.objects.in_bulk(set(ending.values()))
    for session_id, user_id in ending.items():
        user_logged_out.send(
            sender=User, request=request, user=users.get(user_id), login_session_id=session_id, reason=reason
        )


def announce_sessions_revoked(session_ids: list[str], *, reason: str) -> None:
    """After commit: mark the sessions revoked in the shared cache, then tell every process.

    The cache write comes first: a socket that binds after the event went out re-checks the cache
    (SessionBoundConsumerMixin.bind_session) and sees "revoked". Every process's SessionWatch hears
    the event and closes the sockets of those sessions it holds (accounts.ws).
    """
    ttl = int(settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"].total_seconds())
    try:
        cache.set_many({session_state_key(sid): "revoked" for sid in session_ids}, timeout=ttl)
    except Exception:  # pragma: no cover - the database stays the truth; cached "active" lasts 60 s at most
        logger.exception("could not mark sessions revoked in the cache")
    layer = get_channel_layer()
    if layer is None:
        return

    async def publish():
        # One event loop for the whole batch (never async_to_sync per message: see docs/realtime.md).
        for start in range(0, len(session_ids), _REVOCATIONS_PER_EVENT):
            batch = [str(sid) for sid in session_ids[start : start + _REVOCATIONS_PER_EVENT]]
            await layer.group_send(REVOCATIONS_GROUP, {"type": SESSIONS_REVOKED_EVENT, "sessions": batch, "reason": reason})

    try:
        async_to_sync(publish)()
    except Exception:  # pragma: no cover - sockets still re-check the session periodically
        metrics.CHANNEL_LAYER_PUBLISH_FAILURES.labels("session_revoked").inc()
        logger.exception("could not publish session revocations")


def mark_session_revoked_in_cache(session_id: str) -> None:
    cache.set(
        session_state_key(session_id),
        "revoked",
        timeout=int(settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"].total_seconds()),
    )


def session_touch(*, session_id: str) -> None:
    """Update last_seen_at at most once per SESSION_LAST_SEEN_INTERVAL_SECONDS per session."""
    interval = settings.SESSION_LAST_SEEN_INTERVAL_SECONDS
    if cache.add(f"session:seen:{session_id}", 1, timeout=interval):
        LoginSession.objects.filter(pk=session_id).update(last_seen_at=clock.now())


# --- Housekeeping ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FlushResult:
    refresh_tokens: int
    outstanding_tokens: int
    sessions: int


def sessions_flush_expired(*, keep_days: int) -> FlushResult:
    """Delete what can no longer matter: refresh-token records past their expiry (an expired token
    fails validation before reuse is checked), simplejwt's expired outstanding/blacklisted tokens,
    and sessions that ended (revoked or expired) more than `keep_days` days ago."""
    now = clock.now()
    cutoff = now - timedelta(days=keep_days)
    refresh_tokens, _ = SessionRefreshToken.objects.filter(expires_at__lte=now).delete()
    outstanding = OutstandingToken.objects.filter(expires_at__lte=now)
    outstanding_count = outstanding.count()
    outstanding.delete()
    ended = LoginSession.objects.filter(revoked_at__lt=cutoff) | LoginSession.objects.filter(
        revoked_at__isnull=True, expires_at__lt=cutoff
    )
    session_ids = list(ended.values_list("pk", flat=True))
    sessions = 0
    for start in range(0, len(session_ids), 1000):
        batch = session_ids[start : start + 1000]
        SessionRefreshToken.objects.filter(session_id__in=batch).delete()
        sessions += LoginSession.objects.filter(pk__in=batch).delete()[1].get(LoginSession._meta.label, 0)
    return FlushResult(refresh_tokens=refresh_tokens, outstanding_tokens=outstanding_count, sessions=sessions)


__all__ = [
    "LoginResult",
    "RefreshResult",
    "REVOCATIONS_GROUP",
    "SESSION_REVOKED_EVENT",
    "SESSIONS_REVOKED_EVENT",
    "announce_sessions_revoked",
    "login_complete",
    "session_refresh",
    "session_revoke",
    "session_revoke_own",
    "session_touch",
    "sessions_flush_expired",
    "sessions_revoke",
    "sessions_revoke_for_user",
    "tokens_for_session",
    "user_get_or_create",
    "user_group",
    "user_payload",
]
