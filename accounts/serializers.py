from django.conf import settings
from rest_framework import serializers

from .models import User


class UserSerializer(serializers.ModelSerializer):
    mobile_number = serializers.CharField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "mobile_number"]


def _language_field(**kwargs) -> serializers.ChoiceField:
    """A language code of settings.LANGUAGES, or "" for "no choice" (docs/i18n.md)."""
    return serializers.ChoiceField(
        choices=[code for code, _name in settings.LANGUAGES],
        allow_blank=True,
        help_text='The chosen language (`en`, `fa`, `zh-hans`, `ru`), or "" for none: pages, SMS and emails '
        "then follow the browser and the number's country.",
        **kwargs,
    )


class MeSerializer(serializers.ModelSerializer):
    mobile_number = serializers.CharField(read_only=True)
    language = _language_field(read_only=True)

    class Meta:
        model = User
        fields = ["id", "mobile_number", "date_joined", "language"]


class MeUpdateSerializer(serializers.Serializer):
    """PATCH /api/me/: only the fields present change."""

    language = _language_field(required=False)


class WsTicketSerializer(serializers.Serializer):
    ticket = serializers.CharField()
    expires_in = serializers.IntegerField()


class SessionSerializer(serializers.Serializer):
    """One login session as the owner sees it; `current` marks the caller's own."""

    id = serializers.CharField()
    login_method = serializers.CharField()
    ip = serializers.SerializerMethodField()
    device = serializers.CharField()
    browser = serializers.CharField()
    os = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()
    current = serializers.SerializerMethodField()

    def get_ip(self, session) -> str:
        return session.ip or ""

    def get_current(self, session) -> bool:
        return session.id == self.context.get("current_session_id")


class RevokedCountSerializer(serializers.Serializer):
    revoked = serializers.IntegerField()


class TokenRefreshSerializer(serializers.Serializer):
    """Shape only; the rotation rules live in services.session_refresh."""

    refresh = serializers.CharField(max_length=4096, trim_whitespace=True)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
