"""Reads of auth4app logins: the bound state and the frames clients see."""

from __future__ import annotations

import hashlib
import hmac
import math

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from core import clock

from .errors import LoginError
from .store import COMPLETED, CONFIRMED, ERROR, EXPIRED, PENDING, LoginState, get_store
from .upstream import CODE_ID_RE


def secret_hash(secret: str) -> str:
    """What is stored of a login token or browser key (never the secret itself)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def binding_allows(state: LoginState, *, login_token: str | None, browser_key: str | None) -> bool:
    """True when the caller is the client that started the login: its cookie or its login_token."""
    allowed = False
    if login_token and len(login_token) <= 256:
        allowed |= hmac.compare_digest(secret_hash(login_token), state.token_hash)
    if browser_key and len(browser_key) <= 256 and state.browser_hash:
        allowed |= hmac.compare_digest(secret_hash(browser_key), state.browser_hash)
    return allowed


async def login_get_bound(*, code_id: str, login_token: str | None, browser_key: str | None) -> LoginState:
    """The login `code_id` if the caller may see it; LoginError 404 (unknown) or 403 (not bound) otherwise."""
    if not isinstance(code_id, str) or not CODE_ID_RE.match(code_id):
        raise LoginError(400, "invalid", _("code_id is missing or malformed."))
    state = await get_store().get(code_id)
    if state is None:
        raise LoginError(404, "not_found", _("Unknown or expired code_id."))
    if not binding_allows(state, login_token=login_token, browser_key=browser_key):
        raise LoginError(403, "forbidden", _("This login belongs to another client."))
    return state


def expires_in(state: LoginState) -> int:
    return max(0, math.ceil(state.expires_at - clock.timestamp()))


def status_frame(state: LoginState) -> dict:
    """The WebSocket frame describing `state` (completed logins read as confirmed)."""
    if state.status == PENDING:
        return {"type": "auth.status", "status": PENDING, "expires_in": expires_in(state)}
    if state.status in (CONFIRMED, COMPLETED):
        return {"type": "auth.status", "status": CONFIRMED, "phone": state.phone}
    if state.status == EXPIRED:
        return {"type": "auth.status", "status": EXPIRED}
    return {"type": "auth.status", "status": ERROR, "detail": state.detail or gettext_noop("Confirmation failed.")}


def result_payload(state: LoginState) -> dict:
    """The body of /proxy/auth/result for `state`."""
    auth = state.status in (CONFIRMED, COMPLETED)
    payload: dict = {"auth": auth, "status": state.status}
    if auth:
        payload["phone"] = state.phone
    elif state.status == PENDING:
        payload["expires_in"] = expires_in(state)
    elif state.status == ERROR:
        payload["detail"] = state.detail
    return payload
