"""WebSocket authentication: one-time tickets (and access tokens for django-chelseru clients),
resolved by ASGI middleware into scope["user"] and scope["session_id"], and a consumer mixin
that closes a socket with 4401 the moment its login session is revoked, on any process."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache

from . import selectors
from .models import User
from .services import SESSION_REVOKED_EVENT, session_group

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def _ticket_key(ticket: str) -> str:
    return f"wsticket:{ticket}"


def ws_ticket_issue(*, user_id: int, session_id: str) -> str:
    ticket = secrets.token_urlsafe(32)
    cache.set(_ticket_key(ticket), {"user_id": user_id, "sid": session_id}, timeout=settings.WS_TICKET_TTL_SECONDS)
    return ticket


def ws_ticket_redeem(ticket: str) -> dict | None:
    """One use only: of concurrent redeemers, only the one whose delete removed the key wins."""
    if not ticket or len(ticket) > 128:
        return None
    key = _ticket_key(ticket)
    data = cache.get(key)
    if data is None or not cache.delete(key):
        return None
    return data


def _from_access_token(raw: str) -> dict | None:
    from rest_framework_simplejwt.exceptions import TokenError
    from rest_framework_simplejwt.tokens import AccessToken

    try:
        token = AccessToken(raw)
    except TokenError:
        return None
    sid = token.get("sid")
    if not sid:
        return None
    return {"user_id": token.get(settings.SIMPLE_JWT["USER_ID_CLAIM"]), "sid": sid}


@database_sync_to_async
def _resolve(query: dict[str, list[str]]):
    claims = None
    if "ticket" in query:
        claims = ws_ticket_redeem(query["ticket"][0])
    elif "token" in query:
        claims = _from_access_token(query["token"][0])
    if not claims or not selectors.session_is_active(claims["sid"]):
        return AnonymousUser(), None
    user = User.objects.filter(pk=claims["user_id"], is_active=True).first()
    if user is None:
        return AnonymousUser(), None
    return user, claims["sid"]


class TicketAuthMiddleware(BaseMiddleware):
    """Puts the authenticated user and login session id into the scope; never rejects by itself,
    so each consumer chooses its close code."""

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        user, sid = await _resolve(query)
        scope["user"] = user
        scope["session_id"] = sid
        return await super().__call__(scope, receive, send)


class SessionBoundConsumerMixin:
    """For async consumers of logged-in users: join the session's group on connect, and close
    with 4401 when the session is revoked. Call `await self.bind_session()` in `connect()`."""

    session_id: str | None = None

    async def bind_session(self) -> bool:
        user = self.scope.get("user")
        self.session_id = self.scope.get("session_id")
        if user is None or not user.is_authenticated or not self.session_id:
            return False
        await self.channel_layer.group_add(session_group(self.session_id), self.channel_name)
        # Re-check after joining: a revoke that landed between the middleware and group_add is not missed.
        if not await database_sync_to_async(selectors.session_is_active)(self.session_id):
            await self.channel_layer.group_discard(session_group(self.session_id), self.channel_name)
            return False
        return True

    async def unbind_session(self) -> None:
        if self.session_id:
            await self.channel_layer.group_discard(session_group(self.session_id), self.channel_name)

    async def session_revoked(self, event):
        await self.close(code=CLOSE_UNAUTHENTICATED)


assert SESSION_REVOKED_EVENT.replace(".", "_") == "session_revoked"
