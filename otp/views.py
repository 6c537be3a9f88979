"""OTP endpoints: parse, call one service, reply."""

from __future__ import annotations

from django.utils.translation import get_language
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import chelseru_body
from core.net import client_ip

from . import serializers
from .services import otp_authenticate, otp_code_send


class ChelseruCompatibleView(APIView):
    """The django-chelseru-compatible endpoints: anonymous, and their refusals (409 resend cooldown,
    401 wrong code, 403 disabled account, 429) in chelseru's shape (core.errors.chelseru_body)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    error_body = staticmethod(chelseru_body)


class SendCodeView(ChelseruCompatibleView):
    """Send a one-time login code by SMS to a mobile number."""

    @extend_schema(
        request=serializers.SendCodeInput,
        responses={
            200: serializers.SendCodeOutput,
            400: OpenApiResponse(description='{"mobile_number": ["..."]}'),
            409: OpenApiResponse(serializers.ResendCooldownOutput, description="resend cooldown; Retry-After"),
            429: OpenApiResponse(description="a send budget is spent; Retry-After"),
        },
    )
    def post(self, request):
        data = serializers.SendCodeInput(data=request.data)
        data.is_valid(raise_exception=True)
        sent = otp_code_send(
            mobile_number=data.validated_data["mobile_number"], ip=client_ip(request), language=get_language()
        )
        return Response(
            {"details": _("The code has been sent."), "expires_in": sent.expires_in, "resend_in": sent.resend_in}
        )


class AuthenticateView(ChelseruCompatibleView):
    """Exchange a code for a JWT pair; the user is created on first success."""

    @extend_schema(
        request=serializers.AuthenticateInput,
        responses={
            200: serializers.LoginOutput,
            400: OpenApiResponse(description="missing or malformed fields"),
            401: serializers.ErrorOutput,
            403: OpenApiResponse(serializers.ErrorOutput, description="the account is disabled; no session is created"),
            429: OpenApiResponse(description="the IP's or the code's failure budget is spent; Retry-After"),
        },
    )
    def post(self, request):
        data = serializers.AuthenticateInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = otp_authenticate(
            mobile_number=data.validated_data["mobile_number"],
            code=data.validated_data["code"],
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            request=request,
        )
        return Response(result.as_payload())
