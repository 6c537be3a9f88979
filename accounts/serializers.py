from django.conf import settings
from rest_framework import serializers

from .models import User
from .services import device_kind_and_model


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


class MeSerializer(serializers.Serializer):
    """The caller's own profile (accounts.profiles.me_payload); only here is their number shown."""

    id = serializers.IntegerField()
    mobile_number = serializers.CharField()
    date_joined = serializers.DateTimeField()
    display_name = serializers.CharField(help_text='1-64 characters; "" until set')
    avatar_url = serializers.CharField(allow_null=True)
    email = serializers.EmailField(allow_null=True)
    email_verified = serializers.BooleanField(help_text="true once the emailed link was opened")
    language = _language_field()


class MeUpdateSerializer(serializers.Serializer):
    display_name = serializers.CharField(required=False, max_length=64)
    email = serializers.EmailField(required=False, allow_blank=True, allow_null=True, help_text='"" or null removes it')
    language = _language_field(required=False)


class AvatarUploadSerializer(serializers.Serializer):
    avatar = serializers.ImageField(help_text="JPEG, PNG or WebP, up to 2 MB")


class PublicUserSerializer(serializers.Serializer):
    """Another user, wherever the API shows one: never their mobile number."""

    id = serializers.IntegerField()
    display_name = serializers.CharField()
    avatar_url = serializers.CharField(allow_null=True)


class ProfileErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()


class WsTicketSerializer(serializers.Serializer):
    ticket = serializers.CharField()
    expires_in = serializers.IntegerField()


class SessionSerializer(serializers.Serializer):
    """One login session as the owner sees it; `current` marks the caller's own."""

    id = serializers.CharField()
    login_method = serializers.CharField()
    ip = serializers.SerializerMethodField()
    device = serializers.CharField(help_text='As detected, in English: "Phone (Pixel 8)", "PC"; "" when unknown')
    device_kind = serializers.SerializerMethodField(
        help_text="`phone`, `tablet`, `pc`, `bot`, `other`, or \"\" when unknown: a code a client shows in its language"
    )
    device_model = serializers.SerializerMethodField(help_text='The model in `device` ("Pixel 8"), or ""')
    browser = serializers.CharField()
    os = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()
    current = serializers.SerializerMethodField()

    def get_ip(self, session) -> str:
        return session.ip or ""

    def get_device_kind(self, session) -> str:
        return device_kind_and_model(session.device)[0]

    def get_device_model(self, session) -> str:
        return device_kind_and_model(session.device)[1]

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
