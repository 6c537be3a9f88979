"""A request id for every HTTP request and WebSocket: from `X-Request-ID` or made here, carried
into its log lines, its response, and the Celery tasks it enqueues.

* `RequestIdMiddleware` (ASGI, outermost in config/asgi.py) takes the `X-Request-ID` a client or
  the reverse proxy sent when it is safe to log (1 to 128 letters, digits and `-_.:/+=@`), else
  makes one (32 hex digits), binds it to the log context (core.logging) for the request's or the
  socket's whole life, and echoes it in the HTTP response's `X-Request-ID`. daphne writes the
  access log line from inside the app's last `send`, so that line carries the id too.
* In Celery: `before_task_publish` copies the log context (request, user and session id) into the
  task message's headers; in the worker `task_prerun` binds it (with the task's name and id) for the
  task's run and `task_postrun` unbinds it. In the embedded mode a task runs on a thread of the
  same process, which gets a copy of the request's context instead (core.background).

Why ASGI rather than Django middleware: the id must also reach WebSocket consumers and the access
log, and must be in place before anything of the request logs.
"""

from __future__ import annotations

import re
import uuid

from celery import signals

from core.logging import REQUEST_ID, SESSION_ID, TASK, USER_ID, log_context

HEADER = b"x-request-id"
MAX_LENGTH = 128
_SAFE = re.compile(rf"^[A-Za-z0-9._:/+=@-]{{1,{MAX_LENGTH}}}$")
# The Celery message header that carries the log context (protocol 2 headers become attributes of
# `task.request` in the worker).
TASK_HEADER = "hotline_log_context"


def request_id_from(value: bytes | None) -> str:
    """The id to use for a request that sent `value` as X-Request-ID (None: it sent none)."""
    if value:
        text = value.decode("latin-1").strip()
        if _SAFE.fullmatch(text):
            return text
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """ASGI middleware for `http` and `websocket` scopes (see the module docstring)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        sent = None
        for name, value in scope.get("headers") or ():
            if name == HEADER:
                sent = value
                break
        request_id = request_id_from(sent)
        token = REQUEST_ID.set(request_id)
        try:
            if scope["type"] == "websocket":
                # Not wrapped: chat's backpressure finds daphne's transport through the `send` callable.
                return await self.app(scope, receive, send)
            header = (HEADER, request_id.encode("latin-1"))

            async def send_with_id(message):
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", ()), header]}
                await send(message)

            return await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


# --- Celery -------------------------------------------------------------------------------------


def _publish_with_context(headers=None, **_):
    if headers is None:
        return
    context = {name: value for name, value in log_context().items() if value is not None}
    if context:
        headers[TASK_HEADER] = context


def _bind_task_context(task_id=None, task=None, **_):
    request = task.request
    # A worker makes each message header an attribute of the request; `apply(headers=...)` keeps them
    # in `request.headers`.
    carried = getattr(request, TASK_HEADER, None) or (getattr(request, "headers", None) or {}).get(TASK_HEADER)
    carried = carried if isinstance(carried, dict) else {}
    tokens = [TASK.set((task.name, task_id))]
    if isinstance(carried.get("request_id"), str) and _SAFE.fullmatch(carried["request_id"]):
        tokens.append(REQUEST_ID.set(carried["request_id"]))
    if isinstance(carried.get("user_id"), int):
        tokens.append(USER_ID.set(carried["user_id"]))
    if isinstance(carried.get("session_id"), str):
        tokens.append(SESSION_ID.set(carried["session_id"]))
    request.hotline_log_tokens = tokens


def _unbind_task_context(task=None, **_):
    for token in reversed(getattr(task.request, "hotline_log_tokens", None) or ()):
        try:
            token.var.reset(token)
        except ValueError:  # set in another context (it cannot happen in one thread); nothing to undo
            pass
    task.request.hotline_log_tokens = None


def connect_celery_signals() -> None:
    """Carry the log context from whoever enqueues a task into the task (config/celery.py)."""
    signals.before_task_publish.connect(_publish_with_context, weak=False, dispatch_uid="hotline-log-context-out")
    signals.task_prerun.connect(_bind_task_context, weak=False, dispatch_uid="hotline-log-context-in")
    signals.task_postrun.connect(_unbind_task_context, weak=False, dispatch_uid="hotline-log-context-done")
