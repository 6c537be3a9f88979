"""WebSocket authentication: one-time tickets (and access tokens for django-chelseru clients),
resolved by ASGI middleware into scope["user"] and scope["session_id"], and a consumer mixin
that closes a socket with 4401 the moment its login session is revoked, on any process."""

from __future__ import annotations

import asyncio
import logging
import random
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

logger = logging.getLogger(__name__)

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
    """For async consumers of logged-in users: a socket that ends with its login session.

    Call `await self.bind_session()` in `connect()` (it returns False when the scope has no
    active session: close with 4401 then) and `await self.unbind_session()` in `disconnect()`.
    When the session is revoked anywhere, the `session.revoked` event reaches
    `session_revoked()`, which closes the socket with 4401. Because the channel layer may drop
    an event (Redis reconnect), each bound socket also re-checks its session every
    SESSION_SOCKET_RECHECK_SECONDS as a safety net. Override `session_revoked` to send a frame
    first, but keep closing with 4401.
    """

    session_id: str | None = None
    _session_watch: asyncio.Task | None = None

    async def bind_session(self) -> bool:
        user = self.scope.get("user")
        self.session_id = self.scope.get("session_id")
        if user is None or not user.is_authenticated or not self.session_id:
            return False
        await self.channel_layer.group_add(session_group(self.session_id), self.channel_name)
        # Re-check after joining: a revoke whose event went out between the middleware's check and
        # group_add is not missed, because the revoke writes the shared cache before publishing.
        if not await database_sync_to_async(selectors.session_is_active)(self.session_id):
            await self.channel_layer.group_discard(session_group(self.session_id), self.channel_name)
            return False
        self._stop_session_watch()
        self._session_watch = asyncio.ensure_future(self._watch_session(asyncio.current_task()))
        return True

    async def unbind_session(self) -> None:
        self._stop_session_watch()
        if self.session_id:
            await self.channel_layer.group_discard(session_group(self.session_id), self.channel_name)

    async def session_revoked(self, event):
        self._stop_session_watch()
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def websocket_disconnect(self, message):
        # However the consumer's disconnect() is written, the watcher never outlives the socket.
        self._stop_session_watch()
        await super().websocket_disconnect(message)

    def _stop_session_watch(self) -> None:
        task, self._session_watch = self._session_watch, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _watch_session(self, owner: asyncio.Task | None) -> None:
        interval = settings.SESSION_SOCKET_RECHECK_SECONDS
        # Spread the first check so sockets opened together do not re-check together.
        delay = interval * random.uniform(0.5, 1.0)
        while True:
            await asyncio.sleep(delay)
            delay = interval
            if owner is not None and owner.done():
                return  # the consumer ended without a disconnect (cancelled by the server)
            try:
                active = await database_sync_to_async(selectors.session_is_active)(self.session_id)
            except Exception:  # a cache/database hiccup: try again next round rather than kill the socket
                logger.warning("session re-check failed for a socket", exc_info=True)
                continue
            if not active:
                await self.session_revoked({"type": SESSION_REVOKED_EVENT, "session": self.session_id, "reason": "recheck"})
                return


assert SESSION_REVOKED_EVENT.replace(".", "_") == "session_revoked"
