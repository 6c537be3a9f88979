"""Mounted under /api/chat/ by config/urls.py."""

from django.urls import path, register_converter

from . import views


class IdConverter:
    """A database id: digits that fit a 64-bit signed integer. A larger number matches no route
    (404), instead of reaching the database, which refuses it with an error (a 500)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 0 < number < 2**63:
            raise ValueError("not an id")
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

urlpatterns = [
    path("rooms/", views.RoomListView.as_view(), name="chat-rooms"),
    path("rooms/<id:room_id>/", views.RoomDetailView.as_view(), name="chat-room"),
    path("rooms/<id:room_id>/members/", views.RoomMembersView.as_view(), name="chat-room-members"),
    path("rooms/<id:room_id>/members/<id:user_id>/", views.RoomMemberView.as_view(), name="chat-room-member"),
    path("rooms/<id:room_id>/messages/", views.RoomMessagesView.as_view(), name="chat-room-messages"),
    path("rooms/<id:room_id>/messages/<id:message_id>/", views.RoomMessageView.as_view(), name="chat-room-message"),
    path("invitations/", views.InvitationListView.as_view(), name="chat-invitations"),
    path("invitations/<id:room_id>/accept/", views.InvitationAcceptView.as_view(), name="chat-invitation-accept"),
    path("invitations/<id:room_id>/decline/", views.InvitationDeclineView.as_view(), name="chat-invitation-decline"),
    path("blocks/", views.BlockListView.as_view(), name="chat-blocks"),
    path("blocks/<id:user_id>/", views.BlockView.as_view(), name="chat-block"),
]
