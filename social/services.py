"""Writes of social login: Weibo (web OAuth2) and WeChat mini-program, bound to phone accounts.

The one service behind every social endpoint, page and admin action. A social login ends exactly
like every other login: `accounts.services.login_complete` records one `LoginSession` (method
`social`) and issues the same JWT pair, so refresh rotation, the sessions list and instant
revocation need nothing of their own.

* `weibo_start` issues a random `state` (single use, 10 minutes) bound to the browser that asked:
  the state's record keeps a digest of a random browser key that only that browser holds, in an
  HttpOnly cookie scoped to /api/oauth/. `weibo_callback` claims the state (wrong, reused, expired or
  from another browser: `InvalidState`, and Weibo is not called), then exchanges the code.
* `wechat_mp_login` exchanges a mini-program `js_code`.
* Both end in `_login_or_pend`: a bound identity logs in; an unbound one gets a bind token (opaque,
  single use, 10 minutes) that names the provider identity server-side, in the shared cache. The
  provider's uid, openid and tokens never reach the client.
* `social_bind` proves the phone with the number's newest SMS code (`otp.services.otp_code_redeemed`:
  the same budget, attempt cap and single use as the OTP login), then binds the identity and logs in,
  in the one transaction that uses the code up. The table's unique constraints decide races: of two
  binds of one identity exactly one wins, the other is `AlreadyBound` (409).

Per-IP limits live in the shared cache (`core.ratelimit`), like the OTP limits.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction

from accounts.models import LoginSession, User
from accounts.services import LoginResult, login_complete, user_get_or_create
from core import clock, ratelimit
from core.errors import RateLimited
from core.phone import mask_phone
from otp.services import otp_code_redeemed

from .errors import AccountDisabled, AlreadyBound, InvalidBindToken, InvalidState, ProviderError, ProviderNotConfigured
from .models import SocialIdentity
from .providers import CodeRejected, ProviderFailure, ProviderIdentity, SocialProvider, get_provider

logger = logging.getLogger(__name__)

HOUR = 3600
SOCIAL = LoginSession.Method.SOCIAL
# The browser key: an HttpOnly cookie only the browser that started a Weibo login holds.
BROWSER_COOKIE = "hotline_oauth"
BROWSER_COOKIE_PATH = "/api/oauth/"
# States, bind tokens and browser keys are ours (token_urlsafe(32): 43 characters); anything else is refused
# before it reaches a cache key.
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")

# Per-IP hourly budgets, as data: name -> setting holding the limit.
BUDGETS = {
    "start": "SOCIAL_STARTS_PER_IP_PER_HOUR",
    "callback": "SOCIAL_CALLBACKS_PER_IP_PER_HOUR",
    "login": "SOCIAL_LOGINS_PER_IP_PER_HOUR",
    "bind": "SOCIAL_BINDS_PER_IP_PER_HOUR",
}


@dataclass(frozen=True)
class WeiboStart:
    authorize_url: str
    state: str
    browser_key: str  # for the cookie; never in the body


@dataclass(frozen=True)
class BindPending:
    """An identity no user has yet: the client proves a phone number to bind it."""

    bind_token: str
    provider: str
    expires_in: int
    nickname: str
    avatar_url: str

    def as_payload(self) -> dict:
        return {
            "bind_token": self.bind_token,
            "provider": self.provider,
            "expires_in": self.expires_in,
            "profile": {"nickname": self.nickname, "avatar_url": self.avatar_url},
        }


SocialOutcome = LoginResult | BindPending


# --- helpers --------------------------------------------------------------------------------


def _provider(name: str) -> SocialProvider:
    provider = get_provider(name)
    if provider is None:
        raise ProviderNotConfigured()
    return provider


def _spend(budget: str, ip: str | None) -> None:
    rate = ratelimit.Rate(getattr(settings, BUDGETS[budget]), HOUR)
    verdict = ratelimit.consume(f"social:{budget}:ip:{ip or 'unknown'}", rate)
    if not verdict.allowed:
        logger.warning("social %s refused: the IP's hourly budget is spent", budget)
        raise RateLimited(verdict.retry_after)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _well_formed(token: object) -> bool:
    return isinstance(token, str) and bool(_TOKEN_RE.fullmatch(token))


def _state_key(state: str) -> str:
    return f"social:state:{_digest(state)}"


def _bind_key(bind_token: str) -> str:
    return f"social:bind:{_digest(bind_token)}"


# --- Weibo: start and callback ----------------------------------------------------------------


def weibo_start(*, ip: str | None, browser_key: str | None) -> WeiboStart:
    """A new `state` bound to this browser (its existing key, or a new one) and Weibo's authorize URL.

    `redirect_uri` is WEIBO_REDIRECT_URI, never anything from the request.
    """
    provider = _provider("weibo")
    _spend("start", ip)
    if not _well_formed(browser_key):
        browser_key = secrets.token_urlsafe(32)
    state = secrets.token_urlsafe(32)
    ttl = settings.SOCIAL_STATE_TTL_SECONDS
    # The expiry is checked against core.clock as well as by the cache's TTL, so it agrees with the
    # clock tests control.
    record = {"provider": provider.name, "browser": _digest(browser_key), "expires_at": clock.timestamp() + ttl}
    cache.set(_state_key(state), record, timeout=ttl)
    return WeiboStart(authorize_url=provider.authorize_url(state=state), state=state, browser_key=browser_key)


def _state_claim(*, provider: str, state: object, browser_key: str | None) -> None:
    """Use a state up, or raise InvalidState: missing, unknown, reused, expired, or from another browser."""
    if not _well_formed(state):
        raise InvalidState()
    key = _state_key(state)
    record = cache.get(key)
    if (
        not isinstance(record, dict)
        or record.get("provider") != provider
        or not _well_formed(browser_key)
        # Another browser's request does not spend the state: the one that started can still finish.
        or not hmac.compare_digest(record["browser"], _digest(browser_key))
    ):
        raise InvalidState()
    # Single use: of several requests presenting the state, only the one whose delete removed it goes on.
    if not cache.delete(key) or record["expires_at"] <= clock.timestamp():
        raise InvalidState()


def weibo_callback(*, code: str, state: object, browser_key: str | None, ip: str | None, user_agent: str, request=None) -> SocialOutcome:
    """Finish a Weibo login: claim the state, exchange the code, then log in or hand out a bind token."""
    provider = _provider("weibo")
    _spend("callback", ip)
    _state_claim(provider=provider.name, state=state, browser_key=browser_key)
    identity = _identify(provider, code)
    return _login_or_pend(identity, ip=ip, user_agent=user_agent, request=request)


# --- WeChat mini-program -----------------------------------------------------------------------


def wechat_mp_login(*, code: str, nickname: str, avatar_url: str, ip: str | None, user_agent: str, request=None) -> SocialOutcome:
    """Log in with a mini-program's `wx.login()` code; the nickname and avatar are the mini-program's."""
    provider = _provider("wechat_mp")
    _spend("login", ip)
    identity = _identify(provider, code, nickname=nickname, avatar_url=avatar_url)
    return _login_or_pend(identity, ip=ip, user_agent=user_agent, request=request)


# --- shared end of both flows -------------------------------------------------------------------


def _identify(provider: SocialProvider, code: str, **extra) -> ProviderIdentity:
    try:
        return provider.identity_from_code(code, **extra)
    except ProviderFailure as failure:
        rejected = isinstance(failure, CodeRejected)
        logger.warning(
            "social login: %s %s (provider code %s) %s",
            provider.name,
            "refused the code" if rejected else "failed",
            failure.provider_code,
            failure.detail,
        )
        raise ProviderError(provider=provider.name, provider_code=failure.provider_code, rejected_code=rejected) from None


def _login_or_pend(identity: ProviderIdentity, *, ip: str | None, user_agent: str, request=None) -> SocialOutcome:
    with transaction.atomic():
        bound = (
            SocialIdentity.objects.select_related("user")
            .filter(provider=identity.provider, uid=identity.uid)
            .first()
        )
        if bound is not None:
            if not bound.user.is_active:
                raise AccountDisabled()
            _identity_seen(bound, identity)
            result = login_complete(user=bound.user, method=SOCIAL, ip=ip, user_agent=user_agent, request=request)
    if bound is None:
        return _bind_pending(identity)
    logger.info("social login: provider=%s identity=%s user=%s session=%s", identity.provider, bound.pk, bound.user_id, result.session.id)
    return result


def _identity_seen(bound: SocialIdentity, identity: ProviderIdentity) -> None:
    """Keep the profile the provider just gave (the person may have renamed themselves)."""
    now = clock.now()
    changes = {"last_login_at": now}
    fresh = {"nickname": identity.nickname, "avatar_url": identity.avatar_url, "unionid": identity.unionid}
    changes.update({name: value for name, value in fresh.items() if value and value != getattr(bound, name)})
    if len(changes) > 1:
        changes["updated_at"] = now
    SocialIdentity.objects.filter(pk=bound.pk).update(**changes)


def _bind_pending(identity: ProviderIdentity) -> BindPending:
    token = secrets.token_urlsafe(32)
    ttl = settings.SOCIAL_BIND_TTL_SECONDS
    cache.set(_bind_key(token), {**asdict(identity), "expires_at": clock.timestamp() + ttl}, timeout=ttl)
    logger.info("social login: %s identity not bound yet; bind token issued", identity.provider)
    return BindPending(
        bind_token=token,
        provider=identity.provider,
        expires_in=ttl,
        nickname=identity.nickname,
        avatar_url=identity.avatar_url,
    )


def _bind_pending_read(bind_token: object) -> ProviderIdentity:
    record = cache.get(_bind_key(bind_token)) if _well_formed(bind_token) else None
    if not isinstance(record, dict) or record["expires_at"] <= clock.timestamp():
        raise InvalidBindToken()
    return ProviderIdentity(**{name: record[name] for name in ProviderIdentity.__dataclass_fields__})


def social_bind(*, bind_token: object, mobile_number: str, code: str, ip: str | None, user_agent: str, request=None) -> LoginResult:
    """Bind the bind token's identity to the user of `mobile_number` (created if new) and log in.

    Raises InvalidBindToken (400), otp's InvalidCode (401: wrong code, a try spent) and RateLimited
    (429), AlreadyBound (409) when the identity was bound meanwhile or the user already has another
    identity of that provider (the code is then not burnt), ProviderNotConfigured (404).
    """
    _spend("bind", ip)
    identity = _bind_pending_read(bind_token)
    _provider(identity.provider)
    with otp_code_redeemed(mobile_number=mobile_number, code=code, ip=ip, request=request):
        user = user_get_or_create(mobile_number=mobile_number)
        if not user.is_active:
            raise AccountDisabled()
        try:
            # No savepoint: a refused insert ends the whole transaction (AlreadyBound rolls it back).
            bound = SocialIdentity.objects.create(
                provider=identity.provider,
                uid=identity.uid,
                unionid=identity.unionid,
                user=user,
                nickname=identity.nickname,
                avatar_url=identity.avatar_url,
                last_login_at=clock.now(),
            )
        except IntegrityError:
            logger.info("social bind refused: %s identity or number %s already bound", identity.provider, mask_phone(mobile_number))
            raise AlreadyBound() from None
        result = login_complete(user=user, method=SOCIAL, ip=ip, user_agent=user_agent, request=request)
    # Bound (committed): the token is spent. A parallel bind with it is refused by the unique constraints.
    cache.delete(_bind_key(bind_token))
    logger.info("social bind: provider=%s identity=%s user=%s session=%s", identity.provider, bound.pk, user.pk, result.session.id)
    return result


# --- unbinding -------------------------------------------------------------------------------------


def identity_unbind(*, user: User, identity_id: int) -> bool:
    """Unbind one of `user`'s own identities; False when they have none with that id.

    The user's sessions stay: they logged in; from now on that provider account no longer logs in
    as them (it would get a bind step again).
    """
    deleted, _ = SocialIdentity.objects.filter(pk=identity_id, user=user).delete()
    if deleted:
        logger.info("social identity %s unbound by its user %s", identity_id, user.pk)
    return bool(deleted)


def identities_unbind(*, identity_ids: list[int], by: User | None) -> int:
    """Unbind the given identities (the admin's action); returns how many."""
    deleted, _ = SocialIdentity.objects.filter(pk__in=list(identity_ids)).delete()
    logger.info("%d social identities unbound by admin %s", deleted, getattr(by, "pk", None))
    return deleted
