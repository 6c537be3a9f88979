"""Reads of auth4app logins: a login's state, for the client that started it only."""

from __future__ import annotations

import hashlib
import hmac

from django.utils.translation import gettext as _

from .errors import LoginError
from .store import LoginState, get_store
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
    if not isinstance(code_id, str) or not CODE_ID_RE.fullmatch(code_id):
        raise LoginError("invalid", _("code_id is missing or malformed."), status=400)
    state = await get_store().get(code_id)
    if state is None:
        raise LoginError("not_found", _("Unknown or expired code_id."), status=404)
    if not binding_allows(state, login_token=login_token, browser_key=browser_key):
        raise LoginError("forbidden", _("This login belongs to another client."), status=403)
    return state
