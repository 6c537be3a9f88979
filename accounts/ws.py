"""WebSocket authentication: one-time tickets (and access tokens for django-chelseru clients),
resolved by ASGI middleware into scope["user"] and scope["session_id"], and a consumer mixin
that closes a socket with 4401 the moment its login session is revoked, on any process."""

from __future__ import annotations

import asyncio
import logging
import secrets
import weakref
from dataclasses import dataclass
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache

from core import ratelimit, redis_clients
from core.errors import RateLimited
from core.logging import log_context_bind
from core.loops import PerLoop

from . import selectors
from .services import SESSION_REVOKED_EVENT, session_group

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
# The ticket was used: a socket opened with it, or a later handshake with the same ticket (a retry of
# the same client) took it over. Not an authentication failure: the client gets a new ticket and
# reconnects at once (docs/websocket.md).
CLOSE_TICKET_USED = 4410


def _ticket_key(ticket: str) -> str:
    return f"wsticket:{ticket}"


def _holder_key(ticket: str) -> str:
    # The handshake that claimed the ticket last (a random id per handshake).
    return f"wsticket:{ticket}:holder"


def _spent_key(ticket: str) -> str:
    # Left for a while after a socket opened with the ticket: a later use is told 4410, not 4401.
    return f"wsticket:{ticket}:spent"


# How long past the ticket's own expiry a claim stays good for the handshake that holds it (a slow
# handshake spends it after the middleware's checks); "spent" is remembered for the ticket's life
# plus this.
_HOLD_SLACK_SECONDS = 60


def _valid_shape(ticket: str) -> bool:
    return bool(ticket) and len(ticket) <= 128


def ws_ticket_issue(*, user_id: int, session_id: str) -> str:
    """A one-time ticket for one socket of this session. Raises RateLimited (429) once the user has
    asked for WS_TICKETS_PER_USER_PER_MINUTE this minute: every ticket is a cache write, and a client
    stuck in a reconnect loop should back off (docs/websocket.md)."""
    verdict = ratelimit.consume(f"wsticket:user:{user_id}", ratelimit.Rate(settings.WS_TICKETS_PER_USER_PER_MINUTE, 60))
    if not verdict.allowed:
        raise RateLimited(verdict.retry_after)
    ticket = secrets.token_urlsafe(32)
    cache.set(_ticket_key(ticket), {"user_id": user_id, "sid": session_id}, timeout=settings.WS_TICKET_TTL_SECONDS)
    return ticket


# A ticket is used in two steps, so that a handshake that never completes does not burn it (issue 21:
# during a reconnect storm a handshake can outlast daphne's 5 s limit; the client retries the upgrade
# with the same ticket and was told 4401, unauthenticated):
# * claim (the middleware, at the start of the handshake): the ticket is readable and this handshake
#   becomes its holder. A later handshake with the same ticket takes it over: the last one holds it.
# * spend (the consumer, just before it accepts): only the holder can, once; the ticket is gone.
# So at most one socket ever opens per ticket, as before; a handshake overtaken by a retry of its
# own client closes with 4410 (its client has gone); a ticket whose socket opened is answered 4410
# ("used: get a new ticket"), and an unknown or expired one 4401.

# KEYS: ticket, holder, spent; ARGV: handshake id, hold slack (ms) -> {1, claims} | {0} used | {-1} none
_CLAIM = """
local claims = redis.call('GET', KEYS[1])
if not claims then
  if redis.call('EXISTS', KEYS[3]) == 1 then return {0} end
  return {-1}
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then left = 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', left + tonumber(ARGV[2]))
return {1, claims}
"""

# KEYS: ticket, holder, spent; ARGV: handshake id, spent ttl (s) -> 1 when this handshake spent it
_SPEND = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SET', KEYS[3], 1, 'EX', ARGV[2])
return 1
"""


@dataclass(frozen=True)
class TicketClaim:
    claims: dict | None  # {"user_id", "sid"} when the ticket is good
    used: bool = False  # no claims because a socket already opened with this ticket


def _keys(ticket: str) -> list[str]:
    return [redis_clients.cache_key(k(ticket)) for k in (_ticket_key, _holder_key, _spent_key)]


def _claim_answer(answer) -> TicketClaim:
    if answer[0] == 1:
        return TicketClaim(redis_clients.cache_loads(answer[1]))
    return TicketClaim(None, used=answer[0] == 0)


def ws_ticket_claim(ticket: str, handshake: str) -> TicketClaim:
    """Make `handshake` the ticket's holder and return its claims (see above)."""
    if not _valid_shape(ticket):
        return TicketClaim(None)
    if redis_clients.cache_is_redis():
        script = redis_clients.sync_client().register_script(_CLAIM)
        return _claim_answer(script(keys=_keys(ticket), args=[handshake, _HOLD_SLACK_SECONDS * 1000]))
    claims = cache.get(_ticket_key(ticket))
    if claims is None:
        return TicketClaim(None, used=cache.get(_spent_key(ticket)) is not None)
    cache.set(_holder_key(ticket), handshake, timeout=settings.WS_TICKET_TTL_SECONDS + _HOLD_SLACK_SECONDS)
    return TicketClaim(claims)


def ws_ticket_spend(ticket: str, handshake: str) -> bool:
    """Use the ticket up for the socket of `handshake`; False when another handshake holds it now
    or it was spent already. Of concurrent spenders only one gets True."""
    if redis_clients.cache_is_redis():
        script = redis_clients.sync_client().register_script(_SPEND)
        return bool(script(keys=_keys(ticket), args=[handshake, settings.WS_TICKET_TTL_SECONDS + _HOLD_SLACK_SECONDS]))
    # Other caches (the embedded mode's, in one process): only the spender whose delete removed the key wins.
    if cache.get(_holder_key(ticket)) != handshake or not cache.delete(_ticket_key(ticket)):
        return False
    cache.delete(_holder_key(ticket))
    cache.set(_spent_key(ticket), 1, timeout=settings.WS_TICKET_TTL_SECONDS + _HOLD_SLACK_SECONDS)
    return True


def ws_ticket_redeem(ticket: str) -> dict | None:
    """Claim and spend at once: the ticket's claims, or None when it is unknown, expired or used."""
    handshake = secrets.token_hex(8)
    claim = ws_ticket_claim(ticket, handshake)
    if claim.claims is None or not ws_ticket_spend(ticket, handshake):
        return None
    return claim.claims


async def aws_ticket_claim(ticket: str, handshake: str) -> TicketClaim:
    """`ws_ticket_claim` on the event loop: one script call, no thread hop (on Redis)."""
    if not _valid_shape(ticket):
        return TicketClaim(None)
    client = redis_clients.async_cache_client()
    if client is None:
        return await database_sync_to_async(ws_ticket_claim)(ticket, handshake)
    script = client.register_script(_CLAIM)
    return _claim_answer(await script(keys=_keys(ticket), args=[handshake, _HOLD_SLACK_SECONDS * 1000]))


async def aws_ticket_spend(ticket: str, handshake: str) -> bool:
    client = redis_clients.async_cache_client()
    if client is None:
        return await database_sync_to_async(ws_ticket_spend)(ticket, handshake)
    script = client.register_script(_SPEND)
    return bool(await script(keys=_keys(ticket), args=[handshake, settings.WS_TICKET_TTL_SECONDS + _HOLD_SLACK_SECONDS]))


async def aws_ticket_redeem(ticket: str) -> dict | None:
    """`ws_ticket_redeem` on the event loop."""
    handshake = secrets.token_hex(8)
    claim = await aws_ticket_claim(ticket, handshake)
    if claim.claims is None or not await aws_ticket_spend(ticket, handshake):
        return None
    return claim.claims


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


async def _resolve(scope: dict, query: dict[str, list[str]]):
    """Fill the scope's user and session id from the query's ticket or token; what is refused says
    how in `ws_refusal` (CLOSE_TICKET_USED for a ticket a socket already opened with, else 401)."""
    claims = None
    if "ticket" in query:
        ticket, handshake = query["ticket"][0], secrets.token_hex(8)
        claim = await aws_ticket_claim(ticket, handshake)
        claims = claim.claims
        if claims:
            scope["ws_ticket"] = (ticket, handshake)  # spent by the consumer (SessionBoundConsumerMixin)
        elif claim.used:
            scope["ws_refusal"] = CLOSE_TICKET_USED
    elif "token" in query:
        claims = _from_access_token(query["token"][0])
    if not claims:
        return AnonymousUser(), None
    # One query decides both: the session is active and its user is active.
    user = await selectors.asession_user(user_id=claims["user_id"], session_id=claims["sid"])
    if user is None:
        return AnonymousUser(), None
    return user, claims["sid"]


class TicketAuthMiddleware(BaseMiddleware):
    """Puts the authenticated user and login session id into the scope; never rejects by itself,
    so each consumer chooses its close code."""

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        user, sid = await _resolve(scope, query)
        scope["user"] = user
        scope["session_id"] = sid
        if sid:
            log_context_bind(user_id=user.pk, session_id=sid)  # for the socket's whole life
        return await super().__call__(scope, receive, send)


class SessionSweep:
    """The periodic re-check of every bound socket of one process (and event loop), in one task.

    Every SESSION_SOCKET_RECHECK_SECONDS it asks `selectors.sessions_active` about all the sessions
    its sockets belong to at once (one cache read, one query for the misses) and closes the sockets
    of the ended ones with 4401. One task per process instead of one per socket: an idle socket
    costs no timer, no task and no query of its own. Sockets are held weakly, so a consumer that
    ends without a disconnect (cancelled by the server) drops out by itself.
    """

    def __init__(self):
        self.sockets: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # consumer -> session id
        self.task: asyncio.Task | None = None

    def add(self, consumer, session_id: str) -> None:
        self.sockets[consumer] = session_id
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, consumer) -> None:
        self.sockets.pop(consumer, None)
        if not self.sockets and self.task is not None:
            self.task.cancel()
            self.task = None

    async def sweep(self) -> int:
        """One round: close the sockets whose session ended; returns how many were closed."""
        bound = list(self.sockets.items())
        if not bound:
            return 0
        active = await database_sync_to_async(selectors.sessions_active)([sid for _, sid in bound])
        closed = 0
        for consumer, sid in bound:
            if sid not in active and self.sockets.get(consumer) == sid:
                self.discard(consumer)
                try:
                    await consumer.session_revoked({"type": SESSION_REVOKED_EVENT, "session": sid, "reason": "recheck"})
                except Exception:
                    logger.warning("closing a socket of an ended session failed", exc_info=True)
                closed += 1
        return closed

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(settings.SESSION_SOCKET_RECHECK_SECONDS)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:  # a cache/database hiccup: try again next round rather than kill sockets
                logger.warning("session re-check of the sockets failed", exc_info=True)


_sweeps: PerLoop[SessionSweep] = PerLoop(SessionSweep)


def session_sweep() -> SessionSweep:
    """The SessionSweep of the running event loop."""
    return _sweeps.get()


class SessionBoundConsumerMixin:
    """For async consumers of logged-in users: a socket that ends with its login session.

    Call `await self.bind_session()` in `connect()` (it returns False when the scope has no
    active session or its ticket was used: close with `self.refusal_code`, 4401 or 4410, then)
    and `await self.unbind_session()` in `disconnect()`.
    When the session is revoked anywhere, the `session.revoked` event reaches
    `session_revoked()`, which closes the socket with 4401. Because the channel layer may drop
    an event (Redis reconnect), the process's `SessionSweep` also re-checks the sessions of all
    its bound sockets every SESSION_SOCKET_RECHECK_SECONDS as a safety net. Override
    `session_revoked` to send a frame first, but keep closing with 4401.
    """

    session_id: str | None = None

    @property
    def refusal_code(self) -> int:
        """The close code for a socket that `bind_session` or `spend_ticket` refused: 4410 when its
        ticket was used (get a new one), else 4401."""
        return self.scope.get("ws_refusal", CLOSE_UNAUTHENTICATED)

    async def bind_session(self, *, spend_ticket: bool = True) -> bool:
        """With `spend_ticket=False` the consumer calls `spend_ticket()` itself, just before it
        accepts (the later, the fewer handshakes that outlast daphne's limit burn their ticket)."""
        user = self.scope.get("user")
        self.session_id = self.scope.get("session_id")
        if user is None or not user.is_authenticated or not self.session_id:
            return False
        await self.channel_layer.group_add(session_group(self.session_id), self.channel_name)
        # Re-check after joining: a revoke whose event went out between the middleware's check and
        # group_add is not missed, because the revoke writes the shared cache before publishing.
        # (The middleware's check left "active" in the cache, so this is one read on the loop.)
        if not await selectors.asession_is_active(self.session_id) or (spend_ticket and not await self.spend_ticket()):
            await self.channel_layer.group_discard(session_group(self.session_id), self.channel_name)
            return False
        session_sweep().add(self, self.session_id)
        return True

    async def spend_ticket(self) -> bool:
        """Use up the ticket this socket was opened with (nothing to do for an access token). False
        when another handshake took it over or spent it: close with `refusal_code` (4410) then."""
        pending = self.scope.get("ws_ticket")
        if pending is None:
            return True
        if await aws_ticket_spend(*pending):
            self.scope["ws_ticket"] = None
            return True
        self.scope["ws_refusal"] = CLOSE_TICKET_USED
        return False

    async def unbind_session(self) -> None:
        session_sweep().discard(self)
        if self.session_id:
            await self.channel_layer.group_discard(session_group(self.session_id), self.channel_name)

    async def session_revoked(self, event):
        session_sweep().discard(self)
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def websocket_disconnect(self, message):
        # However the consumer's disconnect() is written, the socket leaves the re-check.
        session_sweep().discard(self)
        await super().websocket_disconnect(message)


assert SESSION_REVOKED_EVENT.replace(".", "_") == "session_revoked"
