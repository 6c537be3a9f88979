"""The WebSocket handshake's fast paths: ticket redeem on the event loop, one query for user + session."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.core.cache import cache

from accounts import selectors, services
from accounts.models import LoginSession
from accounts.ws import aws_ticket_redeem, ws_ticket_issue, ws_ticket_redeem

pytestmark = pytest.mark.django_db(transaction=True)


async def test_async_redeem_is_single_use_even_when_raced(user_factory, login):
    result = await database_sync_to_async(lambda: login(user_factory()))()
    ticket = await database_sync_to_async(ws_ticket_issue)(user_id=result.user.pk, session_id=result.session.id)
    outcomes = await asyncio.gather(*(aws_ticket_redeem(ticket) for _ in range(8)))
    assert outcomes.count({"user_id": result.user.pk, "sid": result.session.id}) == 1
    assert outcomes.count(None) == 7
    assert await database_sync_to_async(ws_ticket_redeem)(ticket) is None
    assert await aws_ticket_redeem("made-up") is None
    assert await aws_ticket_redeem("x" * 200) is None


async def test_session_user_needs_an_active_session_of_that_active_user(user_factory, login):
    result = await database_sync_to_async(lambda: login(user_factory()))()
    other = await database_sync_to_async(lambda: login(user_factory()))()
    sid, uid = result.session.id, result.user.pk
    assert (await selectors.asession_user(user_id=uid, session_id=sid)).pk == uid
    # it left "active" in the shared cache, which the sync readers see too
    assert await database_sync_to_async(cache.get)(services.session_state_key(sid)) == "active"
    assert await selectors.asession_is_active(sid)
    assert await selectors.asession_user(user_id=other.user.pk, session_id=sid) is None  # not their session
    assert await selectors.asession_user(user_id="nope", session_id=sid) is None
    assert await selectors.asession_user(user_id=uid, session_id="x" * 65) is None
    assert await selectors.asession_user(user_id=2**70, session_id=sid) is None  # out of the column's range
    assert (await selectors.asession_user(user_id=str(uid), session_id=sid)).pk == uid  # a claim may be a string
    # expired: refused like revoked
    expired = await database_sync_to_async(lambda: login(user_factory()))()
    await database_sync_to_async(
        lambda: LoginSession.objects.filter(pk=expired.session.id).update(expires_at=expired.session.created_at)
    )()
    assert await selectors.asession_user(user_id=expired.user.pk, session_id=expired.session.id) is None
    # revoked in the database: the handshake query refuses at once, whatever the cache says
    await database_sync_to_async(
        lambda: LoginSession.objects.filter(pk=sid).update(revoked_at=result.session.created_at)
    )()
    assert await selectors.asession_user(user_id=uid, session_id=sid) is None
    # a "revoked" in the cache is never overwritten by a later "active"
    await database_sync_to_async(services.mark_session_revoked_in_cache)(other.session.id)
    assert await selectors.asession_user(user_id=other.user.pk, session_id=other.session.id) is not None
    assert not await selectors.asession_is_active(other.session.id)
    # a deactivated user has no sessions that count
    other.user.is_active = False
    await database_sync_to_async(lambda: type(other.user).objects.filter(pk=other.user.pk).update(is_active=False))()
    assert await selectors.asession_user(user_id=other.user.pk, session_id=other.session.id) is None


async def test_sessions_active_reads_many_at_once(user_factory, login):
    results = [await database_sync_to_async(lambda: login(user_factory()))() for _ in range(3)]
    ids = [r.session.id for r in results]
    await database_sync_to_async(lambda: LoginSession.objects.filter(pk=ids[0]).update(revoked_at=results[0].session.created_at))()
    await database_sync_to_async(cache.set)(services.session_state_key(ids[1]), "active")
    assert await database_sync_to_async(selectors.sessions_active)([*ids, "", "x" * 80]) == {ids[1], ids[2]}


async def test_a_ticket_is_held_by_its_last_handshake_and_spent_once(user_factory, login):
    """Issue 21: claim (the middleware) and spend (the consumer, just before accepting) are two steps,
    so a retried handshake takes the ticket over from one that never completed."""
    from accounts.ws import aws_ticket_claim, aws_ticket_spend

    result = await database_sync_to_async(lambda: login(user_factory()))()
    ticket = await database_sync_to_async(ws_ticket_issue)(user_id=result.user.pk, session_id=result.session.id)
    claims = {"user_id": result.user.pk, "sid": result.session.id}
    assert (await aws_ticket_claim(ticket, "stalled")).claims == claims
    assert (await aws_ticket_claim(ticket, "retry")).claims == claims
    assert not await aws_ticket_spend(ticket, "stalled")  # overtaken by the retry
    assert await aws_ticket_spend(ticket, "retry")
    assert not await aws_ticket_spend(ticket, "retry")  # once
    used = await aws_ticket_claim(ticket, "replay")
    assert used.claims is None and used.used  # answered 4410, not 4401
    unknown = await aws_ticket_claim("made-up", "x")
    assert unknown.claims is None and not unknown.used
    assert await database_sync_to_async(ws_ticket_redeem)(ticket) is None
