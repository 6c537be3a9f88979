"""Shapes of the chat REST API, for the OpenAPI schema (/api/docs/). Validation and rules live in
chat.services; these only describe what goes in and out."""

from rest_framework import serializers


class ChatUserSerializer(serializers.Serializer):
    """Another user: never their mobile number (but see RoomMemberSerializer)."""

    id = serializers.IntegerField()
    display_name = serializers.CharField(help_text='"" until the user sets one')
    avatar_url = serializers.CharField(allow_null=True)


class RoomMemberSerializer(ChatUserSerializer):
    mobile_number = serializers.CharField(
        required=False,
        help_text="Only in a direct room I opened by typing the other member's number, for that member.",
    )


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Increases with time.")
    room = serializers.IntegerField()
    sender = ChatUserSerializer(required=False)
    text = serializers.CharField(required=False)
    created_at = serializers.DateTimeField(required=False)
    client_id = serializers.CharField(allow_null=True, required=False)
    edited_at = serializers.DateTimeField(allow_null=True, required=False)
    deleted = serializers.BooleanField(
        required=False, help_text='A deleted message is only {"id", "room", "deleted": true} (a tombstone).'
    )


class RoomSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["direct", "group"])
    title = serializers.CharField()
    owner = serializers.IntegerField(allow_null=True, help_text="groups: the owner's user id")
    members = RoomMemberSerializer(many=True)
    last_message = MessageSerializer(allow_null=True)
    unread_count = serializers.IntegerField()


class RoomUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(required=False, max_length=100)
    owner = serializers.IntegerField(required=False, help_text="a member's user id: hand the group over")


class MessageEditSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4000)


class InvitationRoomSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    title = serializers.CharField()


class InvitationSerializer(serializers.Serializer):
    room = InvitationRoomSerializer()
    invited_by = ChatUserSerializer()
    created_at = serializers.DateTimeField()


class BlockSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()


class RoomCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["direct", "group"])
    mobile_number = serializers.CharField(required=False, help_text="direct: the other user's number (a limited look-up)")
    user_id = serializers.IntegerField(required=False, help_text="direct: only someone who already shares a room with me")
    title = serializers.CharField(required=False, help_text="group")
    members = serializers.ListField(
        required=False,
        help_text="group: user ids (people who share a room with me: added) or mobile numbers (added if they "
                  "share a room with me, else invited)",
    )


class MemberAddSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(required=False, help_text="someone who shares a room with me")
    mobile_number = serializers.CharField(required=False, help_text="a limited look-up")


class MessageCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4000)
    client_id = serializers.CharField(required=False, max_length=64, help_text="A retry with the same id returns the same message")


class ChatErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
