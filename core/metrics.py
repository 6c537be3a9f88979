"""Every Prometheus metric hotline exports, defined once, and the instrumentation that is not a
one-liner elsewhere (the HTTP middleware, the WebSocket middleware, Celery task outcomes).

Services count with one line, e.g. `metrics.OTP_SEND_REFUSALS.labels("cooldown").inc()`, so an
instrumented line survives moving code around. Label values are always from a short fixed set (URL
patterns, close codes, reasons, provider and task names): never a user id, a phone number, a room
id or a raw path.

Multiprocess mode: with PROMETHEUS_MULTIPROC_DIR set (docs/deployment.md), prometheus-client keeps
each process's values in files of that directory, and whichever process answers GET /metrics
(core/metrics_endpoint.py) adds up the files of all: the web processes and the worker of one host
report together. Counters of a process that died stay in the sum (a total never goes back);
the open-socket gauge is per process (`pid` label) and only live processes count: each process
starting here removes the live-gauge files of processes that are gone (the library's
`mark_process_dead`), and its own pid's, which a reused pid would otherwise inherit
(`forget_dead_processes`). Nothing else ever deletes a file while processes run.

METRICS_ENABLED=0 makes every metric below a no-op and removes both middlewares and the Celery hook,
so the bench can measure what metrics cost (docs/performance.md).
"""

from __future__ import annotations

import glob
import logging
import os
import re
import time

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed

logger = logging.getLogger(__name__)

ENABLED: bool = settings.METRICS_ENABLED
MULTIPROCESS_DIR: str = settings.PROMETHEUS_MULTIPROC_DIR


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def forget_dead_processes(path: str) -> list[int]:
    """At a process's start: remove the live-gauge files of every pid in `path` that is not running
    (and of this process's own pid, left by a dead process that had it before), and every file of a
    dead pid whose values are all zero (management commands, processes that served nothing), so
    that they do not pile up. Files of dead processes with counts stay: totals never go back.
    Returns the dead pids seen."""
    from prometheus_client import multiprocess
    from prometheus_client.mmap_dict import MmapedDict

    files: dict[int, list[str]] = {}
    for name in glob.glob(os.path.join(path, "*_*.db")):
        match = re.search(r"_(\d+)\.db$", name)
        if match:
            files.setdefault(int(match.group(1)), []).append(name)
    gone = sorted(pid for pid in files if pid == os.getpid() or not _process_alive(pid))
    for pid in gone:
        multiprocess.mark_process_dead(pid, path)
        for name in files[pid]:
            try:
                if os.path.exists(name) and all(value == 0 for _, value, _, _ in MmapedDict.read_all_values_from_file(name)):
                    os.remove(name)
            except (OSError, ValueError):  # another process removed it first, or it is half written
                continue
    return gone


if ENABLED and MULTIPROCESS_DIR:
    # Before any metric below exists: a gauge's file is opened when its first value is made.
    try:
        os.makedirs(MULTIPROCESS_DIR, exist_ok=True)
        if not os.access(MULTIPROCESS_DIR, os.W_OK | os.X_OK):
            raise PermissionError("not writable")
    except OSError as exc:
        raise SystemExit(f"hotline: PROMETHEUS_MULTIPROC_DIR={MULTIPROCESS_DIR!r} is not a writable directory ({exc})") from None
    forget_dead_processes(MULTIPROCESS_DIR)

if ENABLED:
    from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

    # `_created` series double every counter's series for a timestamp no dashboard here uses (and
    # multiprocess mode has none).
    disable_created_metrics()
else:
    class _Disabled:
        """Every metric with METRICS_ENABLED off: each call does nothing."""

        def __init__(self, *args, **kwargs):
            pass

        def labels(self, *args, **kwargs):
            return self

        def inc(self, amount: float = 1) -> None:
            pass

        def dec(self, amount: float = 1) -> None:
            pass

        def set(self, value: float) -> None:
            pass

        def observe(self, amount: float) -> None:
            pass

    Counter = Gauge = Histogram = _Disabled  # type: ignore[misc,assignment]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# --- HTTP and WebSockets ---------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "hotline_http_requests", "HTTP requests answered, by URL pattern, method and status.",
    ["route", "method", "status"])
HTTP_REQUEST_DURATION = Histogram(
    "hotline_http_request_duration_seconds", "Time from the request to its response in Django, by URL pattern and method.",
    ["route", "method"], buckets=LATENCY_BUCKETS)
WEBSOCKETS_OPEN = Gauge(
    "hotline_websockets_open", "WebSockets open now, by endpoint (and pid in multiprocess mode).",
    ["endpoint"], multiprocess_mode="liveall")
WEBSOCKET_CLOSES = Counter(
    "hotline_websocket_closes", "WebSockets ended, by endpoint and close code (403: refused at the handshake).",
    ["endpoint", "code"])

# --- chat and the channel layer ----------------------------------------------------------------------

CHAT_MESSAGES_STORED = Counter("hotline_chat_messages_stored", "Chat messages stored (committed).")
CHAT_MESSAGES_DELIVERED = Counter(
    "hotline_chat_messages_delivered", "message.new frames sent to sockets: live, or replayed on subscribe.",
    ["via"])
CHANNEL_LAYER_PUBLISH_FAILURES = Counter(
    "hotline_channel_layer_publish_failures", "Publishes to the channel layer (or the auth4app push channel) that failed.",
    ["kind"])

# --- logins ------------------------------------------------------------------------------------------------

OTP_CODES_SENT = Counter("hotline_otp_codes_sent", "One-time codes issued and queued for SMS.")
OTP_SEND_REFUSALS = Counter(
    "hotline_otp_send_refusals", "Code requests refused: cooldown (409), ip, number, global (429), region (400).",
    ["reason"])
AUTHENTICATIONS = Counter(
    "hotline_authentications", "Login attempts by method (sms, auth4app, social) and outcome.",
    ["method", "outcome"])
LOGIN_PUSHES = Counter(
    "hotline_login_pushes", "Terminal auth4app login states published to the waiting sockets, by status.",
    ["status"])
SESSION_REVOCATIONS = Counter("hotline_session_revocations", "Login sessions ended, by reason.", ["reason"])
AUTH4APP_UPSTREAM_REQUESTS = Counter(
    "hotline_auth4app_upstream_requests", "Calls to the auth4app API by endpoint and outcome.",
    ["endpoint", "outcome"])
AUTH4APP_UPSTREAM_DURATION = Histogram(
    "hotline_auth4app_upstream_duration_seconds", "Time of calls to the auth4app API by endpoint.",
    ["endpoint"], buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

# --- SMS and background tasks ---------------------------------------------------------------------------

SMS_PROVIDER_RESULTS = Counter(
    "hotline_sms_provider_results", "SMS delivery attempts by provider and outcome (sent, retryable, permanent, "
    "interrupted: the worker died during the call).", ["provider", "outcome"])
SMS_MESSAGES_FINISHED = Counter(
    "hotline_sms_messages_finished", "Outbox messages that reached a final status (sent, failed), by the last provider.",
    ["provider", "status"])
CELERY_TASKS = Counter("hotline_celery_tasks", "Celery task runs by task and outcome.", ["task", "outcome"])

# Close codes counted by their number; any other code a client sends counts as "other".
SOCKET_CLOSE_CODES = frozenset({1000, 1001, 1005, 1006, 1011, 1012, 1013, 4400, 4401, 4403, 4404, 4408, 4410, 4413, 4429})
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The route of a request that matched no URL pattern (static files, redirects, 404s).
NO_ROUTE = "<none>"


# What a socket closed before its handshake was accepted counts as (daphne answers HTTP 403).
HANDSHAKE_REFUSED = "403"


def close_code_label(code) -> str:
    if code in SOCKET_CLOSE_CODES or code == HANDSHAKE_REFUSED:
        return str(code)
    return "other"


class HttpMetricsMiddleware:
    """Counts and times every response by URL pattern (never the path), method and status."""

    sync_capable = True
    async_capable = False  # the chain runs in sync mode (core/handlers.py)

    def __init__(self, get_response):
        if not ENABLED:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else NO_ROUTE
        method = request.method if request.method in HTTP_METHODS else "other"
        HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
        HTTP_REQUEST_DURATION.labels(route, method).observe(time.perf_counter() - started)
        return response


class SocketMetricsMiddleware:
    """ASGI middleware for WebSockets: the open sockets per endpoint and how each ended.

    `endpoints` maps a path prefix to the endpoint's label (`{"/ws/chat/": "chat"}`); other paths
    count as "other". The socket's close code is the one the server closed it with, else the one its
    client or daphne reported (1006: dropped); a socket closed before it was accepted counts as 403
    (daphne refuses the handshake). The wrapped `send` keeps `__wrapped__`, which chat's backpressure
    follows to daphne's transport.
    """

    def __init__(self, app, endpoints: dict[str, str]):
        self.app = app
        self.endpoints = sorted(endpoints.items(), key=lambda item: -len(item[0]))

    def endpoint(self, path: str) -> str:
        for prefix, name in self.endpoints:
            if path.startswith(prefix):
                return name
        return "other"

    async def __call__(self, scope, receive, send):
        if not ENABLED or scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        endpoint = self.endpoint(scope.get("path", ""))
        state = {"accepted": False, "code": None}

        async def observed_send(message):
            kind = message["type"]
            if kind == "websocket.accept" and not state["accepted"]:
                state["accepted"] = True
                WEBSOCKETS_OPEN.labels(endpoint).inc()
            elif kind == "websocket.close" and state["code"] is None:
                state["code"] = (message.get("code") or 1000) if state["accepted"] else HANDSHAKE_REFUSED
            await send(message)

        observed_send.__wrapped__ = send

        async def observed_receive():
            message = await receive()
            if message["type"] == "websocket.disconnect" and state["code"] is None:
                state["code"] = message.get("code", 1005)
            return message

        try:
            return await self.app(scope, observed_receive, observed_send)
        finally:
            if state["accepted"]:
                WEBSOCKETS_OPEN.labels(endpoint).dec()
            WEBSOCKET_CLOSES.labels(endpoint, close_code_label(state["code"])).inc()


def _count_task(sender=None, state=None, **_):
    CELERY_TASKS.labels(getattr(sender, "name", "unknown"), (state or "unknown").lower()).inc()


if ENABLED:
    from celery.signals import task_postrun

    task_postrun.connect(_count_task, weak=False, dispatch_uid="hotline-metrics-task-outcome")

# --- collected when /metrics is scraped ------------------------------------------------------------------

_scrape_collectors: list = []


def register_scrape_collector(collect) -> None:
    """Add `collect()`, a function yielding prometheus_client metric families, to every scrape.

    For values read at scrape time from the database or Redis (the SMS outbox's backlog, the global
    OTP budget): their cost is one scrape's, not one per request. Apps register theirs in ready().
    """
    if collect not in _scrape_collectors:
        _scrape_collectors.append(collect)


def scrape_collectors() -> list:
    return list(_scrape_collectors)
