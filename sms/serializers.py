from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from core.phone import parse_mobile_number


class MessageSendInput(serializers.Serializer):
    """django-chelseru's contract: mobile_number, message_text, optional template_id."""

    mobile_number = serializers.CharField(max_length=32)
    message_text = serializers.CharField(max_length=settings.SMS_MAX_TEXT_LENGTH, trim_whitespace=True)
    template_id = serializers.CharField(max_length=64, required=False, allow_blank=True, allow_null=True)

    def validate_mobile_number(self, value: str) -> str:
        try:
            return parse_mobile_number(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages[0], code=exc.code) from exc


class MessageStatusOutput(serializers.Serializer):
    id = serializers.IntegerField()
    mobile_number = serializers.CharField()
    purpose = serializers.CharField()
    status = serializers.ChoiceField(choices=["queued", "sending", "sent", "failed"])
    provider = serializers.CharField(allow_null=True)
    provider_message_id = serializers.CharField(allow_null=True)
    attempts = serializers.IntegerField()
    error_code = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)


class MessageQueuedOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    status_url = serializers.CharField()
