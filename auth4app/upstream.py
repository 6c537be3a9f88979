"""The auth4app HTTP API: `code/get` and `code/result` (see docs/auth4app.md for the wire format).

The API key is sent only here, in the JSON body of requests to AUTH4APP_API_URL. Replies are
read as JSON whatever their content type, and fields we do not know are ignored.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import json
import logging
import re
import time
from dataclasses import dataclass

import aiohttp
from django.conf import settings
from yarl import URL

from core import metrics
from core.loops import PerLoop

logger = logging.getLogger(__name__)

# code_id goes into URLs, Redis keys and channel-layer group names: only plain tokens are accepted.
# Always `fullmatch`: `$` also matches before a trailing newline ("abc\n" would pass `match`).
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


_HEADERS = {"User-Agent": "hotline-auth4app", "Content-Type": "application/json"}


def _client() -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
    # One keep-alive session per event loop: a poller making one call a second per login must not
    # open a new connection each time. aiohttp rather than httpx (the project's usual client) because
    # this is the per-login hot path: measured against the same fake upstream at 32 in flight, a
    # code/result request costs ~0.13 ms of CPU with aiohttp and ~1.7-2.5 ms with a shared
    # httpx.AsyncClient (docs/auth4app.md, "Performance notes").
    # Requests wait for a slot on a semaphore the size of the pool *before* the request's timeout
    # starts, so a burst queues here instead of timing out while waiting for a pooled connection.
    bundle = _clients.peek()
    if bundle is None or bundle[0].closed:
        size = settings.AUTH4APP_MAX_CONCURRENT_REQUESTS
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=size, limit_per_host=size, keepalive_timeout=30),
            headers=_HEADERS,
            skip_auto_headers=("User-Agent",),
            # The reply is parsed by us, whatever its content type.
            raise_for_status=False,
        )
        bundle = _clients.set((session, asyncio.Semaphore(size)))
    return bundle


def _drop(session: aiohttp.ClientSession) -> None:
    # Close without a running loop: the connector closes its transports synchronously; what
    # `close()` returns only waits for that to finish.
    connector = session.connector
    session.detach()
    if connector is not None:
        connector.close()


_clients: PerLoop[tuple[aiohttp.ClientSession, asyncio.Semaphore]] = PerLoop(discard=lambda bundle: _drop(bundle[0]))


@atexit.register
def _drop_all() -> None:
    # At exit the loop is gone: close quietly instead of aiohttp warning about unclosed sessions.
    for session, _slots in list(_clients.values()):
        _drop(session)
    _clients.clear()


async def aclose() -> None:
    """Close this event loop's session (tests, shutdown)."""
    bundle = _clients.pop()
    if bundle is not None:
        await bundle[0].close()


@functools.lru_cache(maxsize=8)
def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=seconds, sock_connect=min(seconds, 3.0))


@functools.lru_cache(maxsize=8)
def _proxy(url: str) -> str | None:
    # HTTP(S)_PROXY / NO_PROXY from the environment, as httpx honoured them; read once per URL
    # rather than on every request.
    try:
        proxy, _auth = aiohttp.helpers.get_env_proxy_for_url(URL(url))
    except LookupError:
        return None
    return str(proxy)


async def _call(endpoint: str, params: dict) -> dict:
    url = f"{settings.AUTH4APP_API_URL}/{endpoint}"
    body = json.dumps({"api_key": settings.AUTH4APP_API_KEY, **params}).encode()
    label = endpoint.replace("/", "_")  # code_get, code_result
    try:
        timeout = _timeout(float(settings.AUTH4APP_HTTP_TIMEOUT_SECONDS))
        session, slots = _client()
        async with slots:
            started = time.perf_counter()  # the call's own time, not the wait for a slot
            try:
                async with session.post(
                    url, data=body, timeout=timeout, allow_redirects=False, proxy=_proxy(settings.AUTH4APP_API_URL)
                ) as response:
                    status = response.status
                    content = await response.read()
            finally:
                metrics.AUTH4APP_UPSTREAM_DURATION.labels(label).observe(time.perf_counter() - started)
    except asyncio.TimeoutError as exc:
        metrics.AUTH4APP_UPSTREAM_REQUESTS.labels(label, "timeout").inc()
        raise UpstreamError(f"{endpoint}: {type(exc).__name__}") from exc
    except (aiohttp.ClientError, ValueError) as exc:
        metrics.AUTH4APP_UPSTREAM_REQUESTS.labels(label, "connection_error").inc()
        raise UpstreamError(f"{endpoint}: {type(exc).__name__}") from exc
    if status >= 300:
        metrics.AUTH4APP_UPSTREAM_REQUESTS.labels(label, "http_error").inc()
        raise UpstreamError(f"{endpoint}: HTTP {status}")
    try:
        data = json.loads(content)
    except ValueError as exc:
        metrics.AUTH4APP_UPSTREAM_REQUESTS.labels(label, "bad_reply").inc()
        raise UpstreamError(f"{endpoint}: reply is not JSON") from exc
    if not isinstance(data, dict):
        metrics.AUTH4APP_UPSTREAM_REQUESTS.labels(label, "bad_reply").inc()
        raise UpstreamError(f"{endpoint}: reply is not a JSON object")
    metrics.AUTH4APP_UPSTREAM_REQUESTS.labels(label, "ok").inc()
    return data


def _digits(value: object) -> str:
    return "".join(ch for ch in str(value if value is not None else "") if ch.isdigit())


async def code_get(*, phone_e164: str) -> IssuedCode:
    """Ask auth4app for a code the person sends to its bot. Raises UpstreamError."""
    data = await _call("code/get", {"phone": _digits(phone_e164)})
    code_id = str(data.get("code_id") or "")
    if not CODE_ID_RE.fullmatch(code_id) or data.get("code") in (None, ""):
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
