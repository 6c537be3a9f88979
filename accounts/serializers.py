from rest_framework import serializers

from .models import User


class UserSerializer(serializers.ModelSerializer):
    mobile_number = serializers.CharField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "mobile_number"]


class MeSerializer(serializers.ModelSerializer):
    mobile_number = serializers.CharField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "mobile_number", "date_joined"]


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
