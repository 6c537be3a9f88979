"""Browser pages and the small token views they use.

The pages are static shells: everything they show comes from the same REST and WebSocket APIs
any client uses. The /web/ views only move the refresh token between a login reply and an
HttpOnly cookie the page's JavaScript cannot read.
"""

from __future__ import annotations

import io
import json

import segno
from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST
from django.views.generic import TemplateView

from accounts import profiles
from social.selectors import provider_available

from . import services

REFRESH_COOKIE = "hotline_refresh"
REFRESH_COOKIE_PATH = "/web/"
QR_MAX_DATA = 512


def _set_refresh_cookie(response: HttpResponse, request: HttpRequest, refresh: str) -> None:
    response.set_cookie(
        REFRESH_COOKIE,
        refresh,
        max_age=settings.JWT_REFRESH_DAYS * 86400,
        path=REFRESH_COOKIE_PATH,
        secure=request.is_secure(),
        httponly=True,
        samesite="Strict",
    )


def _clear_refresh_cookie(response: HttpResponse) -> None:
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, samesite="Strict")


def _json_body(request: HttpRequest) -> dict:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nested past the parser's depth
            return {}
        return data if isinstance(data, dict) else {}
    try:
        return request.POST.dict()
    except (MultiPartParserError, BadRequest):  # a malformed multipart body: as good as none
        return {}


def _refused(message: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=401)
    _clear_refresh_cookie(response)
    return response


class PageView(TemplateView):
    """A page shell; it sets the CSRF cookie the page's JavaScript sends back to /web/."""

    page: str = ""

    @classmethod
    def as_view(cls, **initkwargs):
        return never_cache(ensure_csrf_cookie(super().as_view(**initkwargs)))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["page"] = self.page
        return context


def home(request: HttpRequest) -> HttpResponse:
    return redirect("pages:chat")


def safe_next(request: HttpRequest, default: str = "/chat/") -> str:
    target = request.GET.get("next", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


class LoginPageView(PageView):
    template_name = "pages/login.html"
    page = "login"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["login_config"] = {"next": safe_next(self.request)}
        context["weibo_login"] = provider_available("weibo")
        return context


class WeiboLoginPageView(PageView):
    """/login/weibo/ (WEIBO_REDIRECT_URI): finishes the Weibo callback; an unbound account binds a phone."""

    template_name = "pages/login_weibo.html"
    page = "login"

    def get(self, request, *args, **kwargs):
        if not provider_available("weibo"):
            raise Http404("Weibo login is not configured.")
        return super().get(request, *args, **kwargs)


@require_POST
@never_cache
def web_session_start(request: HttpRequest) -> HttpResponse:
    """POST /web/session/ {refresh}: take the refresh token of a login reply into the cookie.

    The token is rotated on the way in, so the one the page's JavaScript saw is dead at once;
    the reply carries only a fresh access token.
    """
    refresh = _json_body(request).get("refresh")
    if not isinstance(refresh, str) or not refresh:
        return HttpResponseBadRequest(
            json.dumps({"refresh": [_("This field is required.")]}), content_type="application/json"
        )
    try:
        tokens = services.web_session_rotate(refresh=refresh)
    except services.WebSessionInvalid:
        return _refused(_("This login is no longer valid. Please log in again."))
    response = JsonResponse({"access": tokens.access})
    _set_refresh_cookie(response, request, tokens.refresh)
    _adopt_account_language(request, response, tokens.access)
    return response


def _adopt_account_language(request: HttpRequest, response: HttpResponse, access: str) -> None:
    """A device logging in without a language of its own (no switcher cookie) takes the account's
    choice, so pages after the login are in it; a choice made on this device stays (docs/i18n.md)."""
    if settings.LANGUAGE_COOKIE_NAME in request.COOKIES:
        return
    language = services.web_session_language(access=access)
    if language:
        # The cookie Django's set_language writes, with the same settings.
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        )


@require_POST
@never_cache
def web_session_refresh(request: HttpRequest) -> HttpResponse:
    """POST /web/refresh/: rotate the cookie's refresh token; reply with a new access token."""
    try:
        tokens = services.web_session_rotate(refresh=request.COOKIES.get(REFRESH_COOKIE, ""))
    except services.WebSessionInvalid:
        return _refused(_("You are logged out."))
    response = JsonResponse({"access": tokens.access})
    _set_refresh_cookie(response, request, tokens.refresh)
    return response


@require_POST
@never_cache
def web_session_logout(request: HttpRequest) -> HttpResponse:
    """POST /web/logout/: end the cookie's login session (if still active) and drop the cookie."""
    services.web_session_end(refresh=request.COOKIES.get(REFRESH_COOKIE, ""))
    response = HttpResponse(status=204)
    _clear_refresh_cookie(response)
    return response


@require_GET
@cache_control(max_age=3600, private=True)
def qr_code_svg(request: HttpRequest) -> HttpResponse:
    """GET /login/qr.svg?data=...: a QR code drawn on the server, so the page needs no QR library or CDN."""
    data = request.GET.get("data", "")
    if not data or len(data) > QR_MAX_DATA:
        return HttpResponseBadRequest(_("Bad QR code data."), content_type="text/plain; charset=utf-8")
    buffer = io.BytesIO()
    segno.make(data, error="m", micro=False).save(
        buffer, kind="svg", scale=1, border=2, dark="#111", light="#fff", omitsize=True, xmldecl=False
    )
    response = HttpResponse(buffer.getvalue(), content_type="image/svg+xml")
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@require_GET
@never_cache
def email_verify(request: HttpRequest) -> HttpResponse:
    """GET /account/email/verify/?token=...: the link of a verification email (one use, 24 h)."""
    user = profiles.email_verify(token=request.GET.get("token", ""))
    return render(
        request,
        "pages/email_verified.html",
        {"page": "email", "verified": user is not None, "email": user.email if user else ""},
        status=200 if user is not None else 400,
    )
