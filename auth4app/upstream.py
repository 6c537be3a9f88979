"""The auth4app HTTP API: `code/get` and `code/result` (see docs/auth4app.md for the wire format).

The API key is sent only here, in the JSON body of requests to AUTH4APP_API_URL. Replies are
read as JSON whatever their content type, and fields we do not know are ignored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import weakref
from dataclasses import dataclass

import httpx
from django.conf import settings

logger = logging.getLogger(__name__)

# code_id goes into URLs, Redis keys and channel-layer group names: only plain tokens are accepted.
CODE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


class UpstreamError(Exception):
    """auth4app could not be reached or answered something we cannot use."""


@dataclass(frozen=True)
class IssuedCode:
    code_id: str
    code: object  # a number in the docs; passed through as given
    qr_link: str
    links: list


@dataclass(frozen=True)
class CodeResult:
    auth: bool
    phone: str  # digits as upstream gave them ("" when absent)


_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _client() -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
    # One pooled client per event loop: a poller making one call a second per login must not open a
    # new connection each time. Requests wait for a slot on a semaphore the size of the pool rather
    # than inside httpcore, whose pool rescans every queued request against every connection on each
    # change (profiled: most of the poller's CPU when hundreds of polls were queued there).
    loop = asyncio.get_running_loop()
    bundle = _clients.get(loop)
    if bundle is None:
        size = settings.AUTH4APP_MAX_CONCURRENT_REQUESTS
        client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            headers={"User-Agent": "hotline-auth4app"},
        )
        bundle = _clients[loop] = (client, asyncio.Semaphore(size))
    return bundle


async def _call(endpoint: str, params: dict) -> dict:
    url = f"{settings.AUTH4APP_API_URL}/{endpoint}"
    try:
        timeout = settings.AUTH4APP_HTTP_TIMEOUT_SECONDS
        client, slots = _client()
        async with slots:
            response = await client.post(
                url,
                json={"api_key": settings.AUTH4APP_API_KEY, **params},
                timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            )
    except httpx.HTTPError as exc:
        raise UpstreamError(f"{endpoint}: {type(exc).__name__}") from exc
    if response.status_code >= 300:
        raise UpstreamError(f"{endpoint}: HTTP {response.status_code}")
    try:
        data = json.loads(response.content)
    except ValueError as exc:
        raise UpstreamError(f"{endpoint}: reply is not JSON") from exc
    if not isinstance(data, dict):
        raise UpstreamError(f"{endpoint}: reply is not a JSON object")
    return data


def _digits(value: object) -> str:
    return "".join(ch for ch in str(value if value is not None else "") if ch.isdigit())


async def code_get(*, phone_e164: str) -> IssuedCode:
    """Ask auth4app for a code the person sends to its bot. Raises UpstreamError."""
    data = await _call("code/get", {"phone": _digits(phone_e164)})
    code_id = str(data.get("code_id") or "")
    if not CODE_ID_RE.match(code_id) or data.get("code") in (None, ""):
        raise UpstreamError("code/get: reply without a usable code_id and code")
    links = data.get("links") if isinstance(data.get("links"), list) else []
    return IssuedCode(code_id=code_id, code=data["code"], qr_link=str(data.get("qrLink") or ""), links=links)


def _truthy(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes"}


async def code_result(*, code_id: str) -> CodeResult:
    """Has the person confirmed? Raises UpstreamError."""
    data = await _call("code/result", {"code_id": code_id})
    return CodeResult(auth=_truthy(data.get("auth")), phone=_digits(data.get("phone")))
