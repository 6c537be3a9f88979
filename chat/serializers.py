"""Shapes of the chat REST API, for the OpenAPI schema (/api/docs/). Validation and rules live in
chat.services; these only describe what goes in and out."""

from rest_framework import serializers


class ChatUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    mobile_number = serializers.CharField()


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Increases with time.")
    room = serializers.IntegerField()
    sender = ChatUserSerializer()
    text = serializers.CharField()
    created_at = serializers.DateTimeField()
    client_id = serializers.CharField(allow_null=True)


class RoomSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["direct", "group"])
    title = serializers.CharField()
    members = ChatUserSerializer(many=True)
    last_message = MessageSerializer(allow_null=True)
    unread_count = serializers.IntegerField()


class RoomCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["direct", "group"])
    user_id = serializers.IntegerField(required=False, help_text="direct: the other user")
    mobile_number = serializers.CharField(required=False, help_text="direct: the other user")
    title = serializers.CharField(required=False, help_text="group")
    members = serializers.ListField(required=False, help_text="group: user ids or mobile numbers")


class MemberAddSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(required=False)
    mobile_number = serializers.CharField(required=False)


class MessageCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4000)
    client_id = serializers.CharField(required=False, max_length=64, help_text="A retry with the same id returns the same message")


class ChatErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
