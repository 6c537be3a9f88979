"""OTP endpoints: parse, call one service, reply."""

from __future__ import annotations

from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.net import client_ip

from . import serializers
from .services import AccountDisabled, InvalidCode, ResendCooldown, otp_authenticate, otp_code_send

# One message for wrong, expired, used, superseded and exhausted codes: the answer leaks nothing.
INVALID_CODE_MESSAGE = gettext_lazy("Invalid or expired code.")
ACCOUNT_DISABLED_MESSAGE = gettext_lazy("This account is disabled.")


class SendCodeView(APIView):
    """Send a one-time login code by SMS to a mobile number."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

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
        try:
            sent = otp_code_send(
                mobile_number=data.validated_data["mobile_number"], ip=client_ip(request), language=get_language()
            )
        except ResendCooldown as exc:
            response = Response(
                {"details": _("A code was sent recently. Wait before asking for another."), "retry_after": exc.retry_after},
                status=status.HTTP_409_CONFLICT,
            )
            response["Retry-After"] = str(exc.retry_after)
            return response
        return Response(
            {"details": _("The code has been sent."), "expires_in": sent.expires_in, "resend_in": sent.resend_in}
        )


class AuthenticateView(APIView):
    """Exchange a code for a JWT pair; the user is created on first success."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

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
        try:
            result = otp_authenticate(
                mobile_number=data.validated_data["mobile_number"],
                code=data.validated_data["code"],
                ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
                request=request,
            )
        except InvalidCode:
            return Response({"error": str(INVALID_CODE_MESSAGE)}, status=status.HTTP_401_UNAUTHORIZED)
        except AccountDisabled:
            return Response({"error": str(ACCOUNT_DISABLED_MESSAGE), "code": "inactive"}, status=status.HTTP_403_FORBIDDEN)
        return Response(result.as_payload())
