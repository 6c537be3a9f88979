"""The shapes clients see of an auth4app login: the socket's `auth.status` frames, the body of
/proxy/auth/result, and the push channel's message. Pure functions of a stored `LoginState`."""

from __future__ import annotations

import json
import math

from django.utils.translation import gettext_noop

from core import clock

from .store import COMPLETED, CONFIRMED, ERROR, EXPIRED, PENDING, LoginState

EXPIRED_FRAME = {"type": "auth.status", "status": EXPIRED}


def expires_in(state: LoginState) -> int:
    return max(0, math.ceil(state.expires_at - clock.timestamp()))


def status_frame(state: LoginState) -> dict:
    """The WebSocket frame describing `state` (completed logins read as confirmed)."""
    if state.status == PENDING:
        return {"type": "auth.status", "status": PENDING, "expires_in": expires_in(state)}
    if state.status in (CONFIRMED, COMPLETED):
        return {"type": "auth.status", "status": CONFIRMED, "phone": state.phone}
    if state.status == EXPIRED:
        return dict(EXPIRED_FRAME)
    # Marked for translation, sent in English: each socket translates a detail into its language.
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


def push_message(code_id: str, frame: dict) -> str:
    """What goes on the push channel: `[code_id, frame]` (auth4app/push.py)."""
    return json.dumps([code_id, frame], separators=(",", ":"))


def read_push_message(data) -> tuple[str, dict] | None:
    try:
        code_id, frame = json.loads(data)
    except (ValueError, TypeError):
        return None
    return code_id, frame
