"""One place that turns errors into JSON for API clients."""

from __future__ import annotations

import logging
import math
import sys

from django.db import OperationalError
from django.http import JsonResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class RateLimited(exceptions.APIException):
    """429 with Retry-After. The body never says which limit fired."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = _("Too many requests. Try again later.")
    default_code = "rate_limited"

    def __init__(self, retry_after: int, detail: str | None = None):
        super().__init__(detail)
        self.retry_after = max(1, int(math.ceil(retry_after)))


logger = logging.getLogger(__name__)

# Seconds a client is asked to wait when the database cannot be reached. Short: a full pool or a
# database refusing connections under a burst usually clears within a second or two.
DATABASE_UNAVAILABLE_RETRY_AFTER = 2
DATABASE_UNAVAILABLE_DETAIL = _("The service is busy. Try again shortly.")


def database_unavailable_response() -> JsonResponse:
    """503 with Retry-After: the database refused a connection, the connection pool timed out
    (psycopg_pool.PoolTimeout, which Django raises as OperationalError) or the connection broke.
    The request may be retried; it is not the client's fault and not a bug worth a 500."""
    response = JsonResponse(
        {
            "detail": str(DATABASE_UNAVAILABLE_DETAIL),
            "code": "database_unavailable",
            "retry_after": DATABASE_UNAVAILABLE_RETRY_AFTER,
        },
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
    )
    response["Retry-After"] = str(DATABASE_UNAVAILABLE_RETRY_AFTER)
    return response


def api_exception_handler(exc, context):
    if isinstance(exc, OperationalError):
        # One line, no traceback: under overload this fires per request and must stay cheap.
        logger.warning("database unavailable (%s): %s", type(exc).__name__, exc)
        return database_unavailable_response()
    if isinstance(exc, RateLimited):
        response = Response(
            {"details": str(exc.detail), "detail": str(exc.detail), "retry_after": exc.retry_after},
            status=exc.status_code,
        )
        response["Retry-After"] = str(exc.retry_after)
        return response
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.Throttled) and exc.wait:
        response["Retry-After"] = str(int(math.ceil(exc.wait)))
    return response


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
