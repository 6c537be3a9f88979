"""The one error type of the services, and the one place that turns errors into replies.

A service refuses with a `ServiceError(code, detail, status, retry_after)`: a stable machine `code`,
a `detail` for the person, the HTTP `status` it means and, for a limit, `retry_after` seconds. Every
app's refusals extend it (chat's `ChatError`, auth4app's `LoginError`, otp's `InvalidCode`,
`ResendCooldown` and `AccountDisabled`, social's `SocialError`, accounts' `ProfileError`, this
module's `RateLimited` and `DatabaseUnavailable`). Views and consumers never write an error body:

- over HTTP, `api_exception_handler` (every DRF view) and `service_error_response` (the plain Django
  views of /proxy/auth/*) render it, with Retry-After when it has `retry_after`, in the body shape of
  the endpoint's family (`ErrorBody`): a view names its family, nothing more;
- over a socket, `error_frame` makes the chat socket's `error` frame and `close_code` the close code
  of a refused handshake (4000 + status).

The body shapes are contracts that clients were written against, so there are three, each written
in one function below: `detail_body` (every endpoint designed here: `{"detail", "code"[,
"retry_after"]}`), `chelseru_body` (the django-chelseru-compatible endpoints, whose clients read
`details` and `error`) and `error_key_body` (the seed-compatible /proxy/auth/* and social login
endpoints: `{"error", "detail", "code"}`).
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable

from django.db import OperationalError
from django.http import JsonResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions
from rest_framework import status as http_status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.db import discard_broken_connections

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """A refusal: `code` (stable, for programs), `detail` (for the person), `status` (HTTP) and, for
    a limit or a wait, `retry_after` (whole seconds). Subclasses set class defaults for any of them."""

    status: int = 400
    code: str = "invalid"
    default_detail = _("The request could not be completed.")
    retry_after: int | None = None

    def __init__(self, code: str | None = None, detail=None, *, status: int | None = None,
                 retry_after: float | None = None):
        if code is not None:
            self.code = code
        self.detail = str(detail if detail is not None else self.default_detail)
        if status is not None:
            self.status = status
        if retry_after is not None:
            self.retry_after = max(1, int(math.ceil(retry_after)))
        Exception.__init__(self, self.detail)

    def __str__(self) -> str:
        return self.detail

    @property
    def extra(self) -> dict:
        """Further fields of this refusal's body (e.g. a social provider's own error code)."""
        return {}


class RateLimited(ServiceError, exceptions.Throttled):
    """429 with Retry-After. The body never says which limit fired. A DRF `Throttled` too, so DRF
    code that knows throttling (`wait`) sees one."""

    status = status_code = http_status.HTTP_429_TOO_MANY_REQUESTS
    code = "rate_limited"
    default_detail = _("Too many requests. Try again later.")

    def __init__(self, retry_after: float, detail=None, *, code: str | None = None):
        ServiceError.__init__(self, code, detail, retry_after=retry_after)
        self.wait = self.retry_after
        # APIException's own detail (DRF reads its code through get_codes()); still the same text.
        self.detail = exceptions.ErrorDetail(self.detail, self.code)


# Seconds a client is asked to wait when the database cannot be reached. Short: a full pool or a
# database refusing connections under a burst usually clears within a second or two.
DATABASE_UNAVAILABLE_RETRY_AFTER = 2
DATABASE_UNAVAILABLE_DETAIL = _("The service is busy. Try again shortly.")


class DatabaseUnavailable(ServiceError):
    """503: the database refused a connection, the connection pool timed out
    (psycopg_pool.PoolTimeout, which Django raises as OperationalError) or the connection broke.
    The request may be retried; it is not the client's fault and not a bug worth a 500."""

    status = http_status.HTTP_503_SERVICE_UNAVAILABLE
    code = "database_unavailable"
    default_detail = DATABASE_UNAVAILABLE_DETAIL
    retry_after = DATABASE_UNAVAILABLE_RETRY_AFTER


class RedisUnavailable(DatabaseUnavailable):
    """503: Redis did not answer within its retries (restarting, or a Sentinel failover under way):
    as retryable as a busy database, and said with the same words."""

    code = "redis_unavailable"


# Raised by core.redis_clients' clients once their retries are spent (MasterNotFoundError, during a
# failover, is a ConnectionError).
REDIS_UNAVAILABLE_ERRORS = (RedisConnectionError, RedisTimeoutError)


# --- Body shapes: the only places an error body is written ------------------------------------

ErrorBody = Callable[[ServiceError], dict]


def detail_body(exc: ServiceError) -> dict:
    """`{"detail", "code"[, "retry_after"]}`: every endpoint designed for hotline (chat, profiles,
    sessions, tickets, ...) and the 503 of an unavailable database everywhere."""
    body = {"detail": exc.detail, "code": exc.code, **exc.extra}
    if exc.retry_after is not None:
        body["retry_after"] = exc.retry_after
    return body


def chelseru_body(exc: ServiceError) -> dict:
    """The django-chelseru-compatible endpoints (`/api/otp/send/`, `/api/authenticate/`), whose
    clients read `details` (messages) and `error` (refused logins):

    - a limit (429): `{"details", "detail", "retry_after"}`, the same for every limit;
    - a wait (409, the resend cooldown): `{"details", "retry_after"}`;
    - a wrong, expired or used code (401): `{"error"}`, one answer that says nothing more;
    - another refused login (403, a disabled account): `{"error", "code"}`.
    """
    if exc.status == http_status.HTTP_429_TOO_MANY_REQUESTS:
        return {"details": exc.detail, "detail": exc.detail, "retry_after": exc.retry_after}
    if exc.retry_after is not None:
        return {"details": exc.detail, "retry_after": exc.retry_after}
    if exc.status == http_status.HTTP_401_UNAUTHORIZED:
        return {"error": exc.detail}
    return {"error": exc.detail, "code": exc.code}


def error_key_body(exc: ServiceError) -> dict:
    """The seed-compatible `/proxy/auth/*` endpoints: `{"error", "detail", "code"}`, and for a limit
    `{"error", "detail", "retry_after"}` (auth4app/schema.py documents both)."""
    body = {"error": exc.detail, "detail": exc.detail}
    if exc.retry_after is not None:
        body["retry_after"] = exc.retry_after
    else:
        body["code"] = exc.code
    return {**body, **exc.extra}


def social_body(exc: ServiceError) -> dict:
    """The social login endpoints (`/api/oauth/*`): `{"error", "detail", "code"}` (a provider's
    failure adds `provider` and `provider_code`); a limit answers as on the OTP endpoints, as it always
    has (docs/social.md promises `{"error", "detail", "code"}` for it too)."""
    if exc.status == http_status.HTTP_429_TOO_MANY_REQUESTS:
        return chelseru_body(exc)
    return {"error": exc.detail, "detail": exc.detail, "code": exc.code, **exc.extra}


def _retry_after_header(exc: ServiceError) -> dict:
    return {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}


def service_error_response(exc: ServiceError, body: ErrorBody = detail_body) -> JsonResponse:
    """The HTTP reply to `exc` from a plain Django view (DRF views get theirs from
    `api_exception_handler`)."""
    response = JsonResponse(body(exc), status=exc.status)
    for name, value in _retry_after_header(exc).items():
        response[name] = value
    return response


def database_unavailable_response() -> JsonResponse:
    discard_broken_connections()
    return service_error_response(DatabaseUnavailable())


def api_exception_handler(exc, context):
    """DRF's exception handler (REST_FRAMEWORK["EXCEPTION_HANDLER"]). A view chooses its body shape
    with `error_body` (default `detail_body`)."""
    if isinstance(exc, OperationalError):
        # One line, no traceback: under overload this fires per request and must stay cheap.
        logger.warning("database unavailable (%s): %s", type(exc).__name__, exc)
        discard_broken_connections()
        exc = DatabaseUnavailable()
        return Response(detail_body(exc), status=exc.status, headers=_retry_after_header(exc))
    if isinstance(exc, REDIS_UNAVAILABLE_ERRORS):
        logger.warning("redis unavailable (%s): %s", type(exc).__name__, exc)
        exc = RedisUnavailable()
        return Response(detail_body(exc), status=exc.status, headers=_retry_after_header(exc))
    if isinstance(exc, ServiceError):
        body = getattr(context.get("view"), "error_body", detail_body)
        return Response(body(exc), status=exc.status, headers=_retry_after_header(exc))
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.Throttled) and exc.wait:
        response["Retry-After"] = str(int(math.ceil(exc.wait)))
    return response


# --- Sockets ---------------------------------------------------------------------------------------


def error_frame(exc: ServiceError, ref=None) -> dict:
    """A refused frame's answer on the chat socket (docs/websocket.md): the socket stays open."""
    frame = {"type": "error", "code": exc.code, "detail": exc.detail, "ref": ref}
    if exc.retry_after is not None:
        frame["retry_after"] = exc.retry_after
    return frame


def close_code(exc: ServiceError) -> int:
    """The close code of a handshake refused with `exc`: 4000 + its HTTP status (4403, 4404, ...)."""
    return 4000 + exc.status


# --- Django's error views --------------------------------------------------------------------------


def _is_api_path(path: str) -> bool:
    return path.startswith("/api/") or path.startswith("/proxy/")


def json_or_html_404(request, exception=None):
    if _is_api_path(request.path):
        return JsonResponse({"detail": gettext("Not found.")}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def json_or_html_500(request):
    if _is_api_path(request.path):
        # Django calls this handler inside its `except` block, so the exception is at hand: an API
        # view outside DRF (or middleware) that lost the database answers 503 like DRF views do.
        if isinstance(sys.exc_info()[1], OperationalError):
            return database_unavailable_response()
        if isinstance(sys.exc_info()[1], REDIS_UNAVAILABLE_ERRORS):
            return service_error_response(RedisUnavailable())
        return JsonResponse({"detail": gettext("Server error.")}, status=500)
    from django.views.defaults import server_error

    return server_error(request)


def json_or_html_400(request, exception=None):
    if _is_api_path(request.path):
        return JsonResponse({"detail": gettext("Bad request.")}, status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def json_or_html_403(request, exception=None):
    if _is_api_path(request.path):
        return JsonResponse({"detail": gettext("Forbidden.")}, status=403)
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)
