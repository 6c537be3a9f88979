"""Writes of the auth4app flow: start a login, poll upstream once, finish it, complete it.

Every status change is a compare-and-set in the shared store; whoever wins it publishes the
terminal frame (auth4app/push.py), so every socket on the login on every process hears it once.
Services never start watching a login: the views and the socket ask this process's poller
(auth4app/poller.py), which steps `auth_login_poll`. See docs/auth4app.md.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from core import clock, metrics, ratelimit
from core.errors import RateLimited
from core.phone import mask_phone, parse_mobile_number

from . import push, upstream
from .errors import LoginError
from .frames import EXPIRED_FRAME, result_payload, status_frame
from .selectors import login_get_bound, secret_hash
from .store import COMPLETED, CONFIRMED, ERROR, EXPIRED, PENDING, LoginState, get_store

logger = logging.getLogger(__name__)

# The HttpOnly, SameSite=Lax cookie that binds a login to the browser that started it.
BROWSER_COOKIE = "hotline_auth4app"
# A confirmed login may still be completed this long after confirmation, even past the code's expiry.
CONFIRMED_GRACE_SECONDS = 120
# Longest wait between retries of a failing upstream.
MAX_BACKOFF_SECONDS = 8.0


@dataclass(frozen=True)
class StartedLogin:
    payload: dict
    browser_key: str  # the cookie value (new, or the browser's existing one)


@dataclass(frozen=True)
class PollOutcome:
    delay: float | None  # seconds until the next step; None once the login is over
    frame: dict | None = None  # the terminal frame, once over


def _browser_key_or_new(browser_key: str | None) -> str:
    if browser_key and 32 <= len(browser_key) <= 128 and browser_key.replace("-", "").replace("_", "").isalnum():
        return browser_key
    return secrets.token_urlsafe(32)


def _check_limits(*, ip: str | None, phone: str) -> None:
    """The caller's IP budget, then the number's, then the global spending cap on upstream codes,
    each spent only if the one before allowed it (so a host over its own budget cannot lock a
    victim's number out of messenger login, nor spend the cap)."""
    hour = 3600
    verdict = ratelimit.check_all(
        [
            (f"auth4app:code:ip:{ip or 'unknown'}", ratelimit.Rate(settings.AUTH4APP_CODES_PER_IP_PER_HOUR, hour)),
            (f"auth4app:code:number:{phone}", ratelimit.Rate(settings.AUTH4APP_CODES_PER_NUMBER_PER_HOUR, hour)),
            ("auth4app:code:global", ratelimit.Rate(settings.AUTH4APP_CODES_PER_HOUR, hour)),
        ]
    )
    if not verdict.allowed:
        raise RateLimited(verdict.retry_after)


async def auth_login_start(*, phone: object, ip: str | None, browser_key: str | None) -> StartedLogin:
    """Ask auth4app for a code for `phone` and store the pending login (the caller asks the
    poller to watch it).

    Raises LoginError (400 bad number, 502 upstream failed) or RateLimited.
    """
    try:
        number = parse_mobile_number(phone)
    except ValidationError as exc:
        raise LoginError("invalid_phone", exc.messages[0], status=400) from exc
    # Every upstream code costs money: limits are counted before the call.
    await sync_to_async(_check_limits, thread_sensitive=False)(ip=ip, phone=number)
    try:
        issued = await upstream.code_get(phone_e164=number)
    except upstream.UpstreamError as exc:
        logger.warning("auth4app code/get failed for %s: %s", mask_phone(number), exc)
        raise LoginError("upstream_unavailable", _("The confirmation service is unavailable. Try again later."), status=502) from exc

    login_token = secrets.token_urlsafe(32)
    browser_key = _browser_key_or_new(browser_key)
    now = clock.timestamp()
    ttl = settings.AUTH4APP_CODE_TTL
    state = LoginState(
        code_id=issued.code_id,
        status=PENDING,
        phone_requested=number,
        token_hash=secret_hash(login_token),
        browser_hash=secret_hash(browser_key),
        created_at=now,
        expires_at=now + ttl,
        # Nobody can have confirmed yet: the first upstream poll is one interval from now.
        polled_at=now,
    )
    await get_store().create(state)
    logger.info("auth4app login %s started for %s", issued.code_id, mask_phone(number))
    payload = {
        "code_id": issued.code_id,
        "code": issued.code,
        "links": issued.links,
        "qrLink": issued.qr_link,
        "expires_in": ttl,
        "ws_url": f"/ws/auth/{issued.code_id}/",
        "login_token": login_token,
    }
    return StartedLogin(payload=payload, browser_key=browser_key)


async def _finish(state: LoginState, status: str, **fields) -> dict:
    """Move a pending login to a terminal status; the winner of the compare-and-set publishes."""
    store = get_store()
    if await store.transition(state.code_id, (PENDING,), {"status": status, **fields}):
        frame = status_frame(dataclasses.replace(state, status=status, **fields))
        metrics.LOGIN_PUSHES.labels(status).inc()
        await push.publish(state.code_id, frame)
        logger.info("auth4app login %s %s", state.code_id, status)
        return frame
    current = await store.get(state.code_id)
    return status_frame(current) if current else dict(EXPIRED_FRAME)


async def auth_login_result(*, code_id: object, login_token: str | None, browser_key: str | None) -> dict:
    """The login's status from the shared state (never an upstream call). While it is pending, the
    caller asks the poller to keep it watched."""
    state = await login_get_bound(code_id=code_id, login_token=login_token, browser_key=browser_key)
    if state.status == PENDING and clock.timestamp() >= state.expires_at:
        await _finish(state, EXPIRED)
        state = await get_store().get(state.code_id) or state
    return result_payload(state)


def _confirmed_number(state: LoginState, result: upstream.CodeResult) -> str:
    if not result.phone:
        return state.phone_requested
    return parse_mobile_number("+" + result.phone)


async def _poll_failed(state: LoginState, exc: Exception) -> PollOutcome:
    now = clock.timestamp()
    failing_since = state.failing_since or state.polled_at
    if now - failing_since >= settings.AUTH4APP_ERROR_GIVE_UP_SECONDS:
        logger.warning("auth4app login %s: upstream failing for %ds, giving up (%s)", state.code_id, now - failing_since, exc)
        frame = await _finish(state, ERROR, detail=gettext_noop("The confirmation service did not answer. Start again."))
        return PollOutcome(None, frame)
    failures = state.failures + 1
    backoff = min(settings.AUTH4APP_POLL_INTERVAL * 2 ** (failures - 1), MAX_BACKOFF_SECONDS)
    logger.info("auth4app login %s: poll failed (%s), retry in %.1fs", state.code_id, exc, backoff)
    await get_store().transition(
        state.code_id, (PENDING,), {"failures": failures, "failing_since": failing_since, "retry_at": now + backoff}
    )
    return PollOutcome(min(backoff, settings.AUTH4APP_POLL_INTERVAL))


async def auth_login_poll(*, code_id: str, owner: str) -> PollOutcome:
    """One step of watching a login: when this process holds its lease and the interval has passed,
    ask upstream once. Returns when to step again, or the terminal frame once the login is over."""
    store = get_store()
    interval = settings.AUTH4APP_POLL_INTERVAL
    # One atomic round trip reads the state, takes or renews the lease (it outlives two intervals,
    # so another process takes over as it lapses if we die) and claims the poll when it is due.
    step = await store.step(code_id, owner=owner, lease_ms=int(interval * 2000), now=clock.timestamp(), interval=interval)
    if step.kind == "held":
        # Another process polls: look again as its lease would lapse (it renews every interval, so
        # usually we find it renewed), which is when a takeover is due if it died.
        return PollOutcome(step.wait + 0.005)
    if step.kind == "wait":
        return PollOutcome(min(interval, step.wait + 0.005))
    if step.kind != "poll":
        state = await store.get(code_id)
        if state is None:
            return PollOutcome(None, dict(EXPIRED_FRAME))
        if state.status != PENDING:
            return PollOutcome(None, status_frame(state))
        return PollOutcome(None, await _finish(state, EXPIRED))
    state = step.state
    try:
        result = await upstream.code_result(code_id=code_id)
    except upstream.UpstreamError as exc:
        return await _poll_failed(state, exc)
    if not result.auth:
        if state.failures:
            await store.transition(code_id, (PENDING,), {"failures": 0, "failing_since": 0.0, "retry_at": 0.0})
        return PollOutcome(interval)
    try:
        phone = _confirmed_number(state, result)
    except ValidationError:
        logger.warning("auth4app login %s confirmed an unusable number", code_id)
        return PollOutcome(None, await _finish(state, ERROR, detail=gettext_noop("This phone number is not accepted.")))
    return PollOutcome(None, await _finish(state, CONFIRMED, phone=phone, confirmed_at=clock.timestamp()))


def _login_in_db(*, phone: str, ip: str | None, user_agent: str, request) -> dict:
    from accounts.services import login_complete, user_get_or_create

    with transaction.atomic():
        user = user_get_or_create(mobile_number=phone)
        if not user.is_active:
            raise LoginError("inactive", _("This account is disabled."), status=403)
        result = login_complete(user=user, method="auth4app", ip=ip, user_agent=user_agent, request=request)
    payload = result.as_payload()
    payload["user"]["phone"] = payload["user"]["mobile_number"]
    return {"token": result.access, **payload}


_NOT_COMPLETABLE = {
    PENDING: ("not_confirmed", gettext_lazy("The phone number is not confirmed yet.")),
    COMPLETED: ("already_completed", gettext_lazy("This login was already completed.")),
    EXPIRED: ("expired", gettext_lazy("This code has expired. Start again.")),
    ERROR: ("failed", gettext_lazy("This login failed. Start again.")),
}


async def auth_login_complete(
    *, code_id: object, login_token: str | None, browser_key: str | None, ip: str | None, user_agent: str, request=None
) -> dict:
    """Turn a confirmed login into a login session (once): the JWT pair and the user.

    `request` is handed to the receivers of `user_logged_in` (sent by accounts' `login_complete`)."""
    store = get_store()
    state = await login_get_bound(code_id=code_id, login_token=login_token, browser_key=browser_key)
    if state.status == CONFIRMED and clock.timestamp() > max(state.expires_at, state.confirmed_at + CONFIRMED_GRACE_SECONDS):
        code, message = _NOT_COMPLETABLE[EXPIRED]
        raise LoginError(code, str(message), status=400)
    # The compare-and-set is what makes a login usable once, across processes.
    if not await store.transition(state.code_id, (CONFIRMED,), {"status": COMPLETED}):
        current = await store.get(state.code_id)
        code, message = _NOT_COMPLETABLE.get(current.status if current else EXPIRED, _NOT_COMPLETABLE[ERROR])
        raise LoginError(code, str(message), status=400)
    try:
        payload = await sync_to_async(_login_in_db)(phone=state.phone, ip=ip, user_agent=user_agent, request=request)
    except BaseException:
        await store.transition(state.code_id, (COMPLETED,), {"status": CONFIRMED})
        raise
    logger.info("auth4app login %s completed: session %s", state.code_id, payload["session"]["id"])
    return payload
