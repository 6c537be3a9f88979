"""Shapes of the OTP endpoints (django-chelseru's field names). Rules live in `otp.services`."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from rest_framework import serializers

from core import metrics
from core.phone import parse_mobile_number

from .services import code_is_well_formed, code_normalize


class MobileNumberField(serializers.CharField):
    """A mobile number in any accepted format, returned as E.164. With `counts_refusals`, a number
    refused for its region (PHONE_ALLOWED_REGIONS) counts as a code request refused for `region`."""

    def __init__(self, *, counts_refusals: bool = False, **kwargs):
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)
        self.counts_refusals = counts_refusals

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            return parse_mobile_number(text)
        except DjangoValidationError as exc:
            if self.counts_refusals and exc.code == "region":
                metrics.OTP_SEND_REFUSALS.labels("region").inc()
            raise serializers.ValidationError(exc.messages) from exc


class SendCodeInput(serializers.Serializer):
    mobile_number = MobileNumberField(counts_refusals=True)


class SendCodeOutput(serializers.Serializer):
    details = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="seconds the code stays valid")
    resend_in = serializers.IntegerField(help_text="seconds before another code can be sent")


class ResendCooldownOutput(serializers.Serializer):
    details = serializers.CharField()
    retry_after = serializers.IntegerField()


class AuthenticateInput(serializers.Serializer):
    mobile_number = MobileNumberField()
    code = serializers.CharField(max_length=32, trim_whitespace=True)

    def validate_code(self, value: str) -> str:
        code = code_normalize(value)
        if not code_is_well_formed(code):
            raise serializers.ValidationError(_("Enter the %(length)d-digit code.") % {"length": settings.OTP_LENGTH})
        return code


class ErrorOutput(serializers.Serializer):
    error = serializers.CharField()


class LoginUserOutput(serializers.Serializer):
    id = serializers.IntegerField()
    mobile_number = serializers.CharField(help_text="E.164")


class LoginSessionOutput(serializers.Serializer):
    id = serializers.CharField()


class LoginOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    user = LoginUserOutput()
    session = LoginSessionOutput()
