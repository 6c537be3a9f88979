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
