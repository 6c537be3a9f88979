"""Social login endpoints under /api/oauth/ and the identities of the logged-in user: parse, call
one service, reply."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import LoginResult
from core.errors import social_body
from core.net import client_ip

from . import selectors, serializers, services

_ERROR = serializers.SocialErrorOutput
_RATE_LIMITED = OpenApiResponse(description="the IP's hourly budget is spent; Retry-After")
_NOT_CONFIGURED = OpenApiResponse(description="the provider is not configured")


def _login_responses(provider: str, refusals: str) -> dict:
    """The answers of a provider's login endpoint (the callback, the mini-program login)."""
    return {
        200: OpenApiResponse(serializers.LoginOutput, description="bound: logged in (session method `social`)"),
        201: OpenApiResponse(serializers.BindPendingOutput, description="not bound yet: bind with a phone"),
        400: OpenApiResponse(_ERROR, description=refusals),
        404: _NOT_CONFIGURED,
        429: _RATE_LIMITED,
        502: OpenApiResponse(_ERROR, description=f"provider_error: {provider} failed, timed out or answered an error"),
    }


def _outcome(outcome: services.SocialOutcome) -> Response:
    if isinstance(outcome, LoginResult):
        return Response(outcome.as_payload())
    return Response(outcome.as_payload(), status=status.HTTP_201_CREATED)


class SocialView(APIView):
    """Anonymous endpoints whose refusals (SocialError, otp's InvalidCode) are `{"error", "detail",
    "code"}` with a stable code (core.errors.social_body)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    error_body = staticmethod(social_body)

    def meta(self) -> dict:
        return {
            "ip": client_ip(self.request),
            "user_agent": self.request.META.get("HTTP_USER_AGENT", ""),
            "request": self.request,  # for Django's auth signals
        }


class ProvidersView(SocialView):
    """The configured social providers (unconfigured ones are absent and answer 404 everywhere)."""

    @extend_schema(responses={200: serializers.ProviderOutput(many=True)})
    def get(self, request):
        return Response(selectors.providers_available())


class WeiboStartView(SocialView):
    """Start a Weibo login: a `state` bound to this browser (HttpOnly cookie `hotline_oauth`) and the
    authorize URL to send the browser to."""

    @extend_schema(request=None, responses={200: serializers.WeiboStartOutput, 404: _NOT_CONFIGURED, 429: _RATE_LIMITED})
    def post(self, request):
        started = services.weibo_start(ip=client_ip(request), browser_key=request.COOKIES.get(services.BROWSER_COOKIE))
        response = Response({"authorize_url": started.authorize_url, "state": started.state})
        response.set_cookie(
            services.BROWSER_COOKIE,
            started.browser_key,
            max_age=settings.SOCIAL_STATE_TTL_SECONDS,
            path=services.BROWSER_COOKIE_PATH,
            httponly=True,
            # Lax: never sent on another site's POST; the callback is posted by our own page.
            samesite="Lax",
            secure=request.is_secure(),
        )
        return response


class WeiboCallbackView(SocialView):
    """Finish a Weibo login with the `code` and `state` Weibo returned to WEIBO_REDIRECT_URI."""

    @extend_schema(
        request=serializers.WeiboCallbackInput,
        responses=_login_responses("Weibo", "invalid_state (Weibo not called), invalid_code (Weibo refused it: 21325)"),
    )
    def post(self, request):
        data = serializers.WeiboCallbackInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _outcome(
            services.weibo_callback(
                code=data.validated_data["code"],
                state=data.validated_data["state"],
                browser_key=request.COOKIES.get(services.BROWSER_COOKIE),
                **self.meta(),
            )
        )


class WechatMiniProgramLoginView(SocialView):
    """Log in from a WeChat mini-program with the code of `wx.login()`."""

    @extend_schema(
        request=serializers.WechatLoginInput,
        responses=_login_responses("WeChat", "invalid_code: WeChat refused the code (40029, 40163, 40226)"),
    )
    def post(self, request):
        data = serializers.WechatLoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _outcome(services.wechat_mp_login(**data.validated_data, **self.meta()))


class BindView(SocialView):
    """Bind a pending social identity to a phone number proven by an SMS code from /api/otp/send/."""

    @extend_schema(
        request=serializers.BindInput,
        responses={
            200: OpenApiResponse(serializers.LoginOutput, description="bound and logged in"),
            400: OpenApiResponse(_ERROR, description="invalid_bind_token, or malformed fields"),
            401: OpenApiResponse(_ERROR, description="invalid_sms_code: wrong, expired or used SMS code (a try is spent)"),
            404: _NOT_CONFIGURED,
            409: OpenApiResponse(_ERROR, description="already_bound"),
            429: _RATE_LIMITED,
        },
    )
    def post(self, request):
        data = serializers.BindInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(services.social_bind(**data.validated_data, **self.meta()).as_payload())


class IdentityListView(APIView):
    """My bound social identities."""

    @extend_schema(responses={200: serializers.IdentityOutput(many=True)})
    def get(self, request):
        return Response(serializers.IdentityOutput(selectors.identities_of(request.user), many=True).data)


class IdentityDetailView(APIView):
    @extend_schema(responses={204: None, 404: OpenApiResponse(description="no identity of mine with this id")})
    def delete(self, request, identity_id: int):
        """Unbind one of my identities."""
        if not services.identity_unbind(user=request.user, identity_id=identity_id):
            return Response({"detail": _("Not found."), "code": "not_found"}, status=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)
