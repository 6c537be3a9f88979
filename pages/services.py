"""Writes of the pages app: the browser's refresh-token cookie flow.

The browser keeps its access token in memory only; its refresh token lives in an HttpOnly,
SameSite=Strict cookie limited to /web/ (see docs/security.md, "Browser tokens"). These
functions rotate that refresh token through `accounts.services.session_refresh`, the service
behind `POST /api/token/refresh/`, so rotation, blacklisting and reuse detection are the same
for the pages as for any other client.
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework.exceptions import APIException
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, UntypedToken

from accounts import services as accounts_services
from accounts.models import LoginSession, User

MAX_TOKEN_LENGTH = 4096


class WebSessionInvalid(Exception):
    """The refresh token is missing, malformed, expired, already rotated, or its session has ended."""


@dataclass(frozen=True)
class RotatedTokens:
    access: str
    refresh: str


def _plausible(token: object) -> bool:
    return isinstance(token, str) and 0 < len(token) <= MAX_TOKEN_LENGTH


def web_session_rotate(*, refresh: str) -> RotatedTokens:
    """Rotate `refresh` exactly as /api/token/refresh/ does; raise WebSessionInvalid when refused."""
    if not _plausible(refresh):
        raise WebSessionInvalid
    try:
        result = accounts_services.session_refresh(refresh=refresh)
    except (APIException, TokenError) as exc:
        raise WebSessionInvalid from exc
    return RotatedTokens(access=result.access, refresh=result.refresh)


def web_session_end(*, refresh: str) -> bool:
    """End the login session a signature-valid refresh token names; True if one ended now.

    The cookie may hold an already rotated or blacklisted token (its session may already be
    over): that is fine, logging out only needs to know which session it was.
    """
    if not _plausible(refresh):
        return False
    try:
        token = UntypedToken(refresh)  # signature and expiry; the blacklist does not matter here
    except TokenError:
        return False
    session_id = token.get("sid")
    if token.get("token_type") != "refresh" or not isinstance(session_id, str):
        return False
    session = LoginSession.objects.select_related("user").filter(pk=session_id).first()
    if session is None:
        return False
    return accounts_services.session_revoke(
        session=session, by=session.user, reason=LoginSession.RevokeReason.LOGOUT
    )


def web_session_language(*, access: str) -> str:
    """The language the account of a just-issued access token chose ("" for none)."""
    user_id = AccessToken(access).get("user_id")
    return User.objects.filter(pk=user_id).values_list("language", flat=True).first() or ""
