"""`/proxy/auth/code`, `/proxy/auth/result`, `/proxy/auth/complete` (seed 000's paths and fields).

Async views (the upstream call is an async aiohttp request), form or JSON bodies. They are APIs for
scripts as well as the login page, so CSRF tokens are not required: what protects a login is its
binding to the client that started it, an HttpOnly SameSite=Lax cookie (never sent on cross-site
POSTs) or the `login_token` returned to that client.
"""

from __future__ import annotations

import functools
import json

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.errors import ServiceError, error_key_body, service_error_response
from core.net import client_ip

from . import services
from .poller import get_poller
from .store import PENDING


def _body(request) -> dict:
    if "json" in (request.content_type or ""):
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, RecursionError) as exc:  # RecursionError: nested past the parser's depth
            raise ServiceError("invalid", _("The body is not valid JSON.")) from exc
        if not isinstance(data, dict):
            raise ServiceError("invalid", _("The body must be a JSON object."))
        return data
    try:
        return {key: request.POST.get(key) for key in request.POST}
    except (MultiPartParserError, BadRequest) as exc:  # a malformed multipart body
        raise ServiceError("invalid", _("The body could not be read.")) from exc


def _api(view):
    """Parse the body, run the view, turn refusals into JSON replies (never a 500 for bad input) in
    the seed-compatible `{"error", "detail", "code"}` shape (core.errors.error_key_body)."""

    @csrf_exempt
    @require_POST
    @functools.wraps(view)
    async def wrapper(request):
        try:
            return await view(request, _body(request))
        except ServiceError as exc:
            return service_error_response(exc, error_key_body)

    return wrapper


def _string(data: dict, name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) else None


@_api
async def code(request, data):
    """Start a login: upstream's code, code_id, links and qrLink, plus expires_in, ws_url, login_token."""
    started = await services.auth_login_start(
        phone=data.get("phone"),
        ip=client_ip(request),
        browser_key=request.COOKIES.get(services.BROWSER_COOKIE),
    )
    get_poller().ask(started.payload["code_id"])
    response = JsonResponse(started.payload)
    response.set_cookie(
        services.BROWSER_COOKIE,
        started.browser_key,
        max_age=settings.AUTH4APP_CODE_TTL + services.CONFIRMED_GRACE_SECONDS,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
        path="/",
    )
    return response


@_api
async def result(request, data):
    """The login's status from the server's own state: `{"auth": bool, "status": ...}`."""
    payload = await services.auth_login_result(
        code_id=data.get("code_id"),
        login_token=_string(data, "login_token"),
        browser_key=request.COOKIES.get(services.BROWSER_COOKIE),
    )
    if payload["status"] == PENDING:
        get_poller().ask(data["code_id"])  # asking keeps it polled
    return JsonResponse(payload)


@_api
async def complete(request, data):
    """Log in with a confirmed login (once): `{token, access, refresh, user, session}`."""
    payload = await services.auth_login_complete(
        code_id=data.get("code_id"),
        login_token=_string(data, "login_token"),
        browser_key=request.COOKIES.get(services.BROWSER_COOKIE),
        ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        request=request,
    )
    return JsonResponse(payload)
