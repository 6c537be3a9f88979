"""Mounted under /api/chat/ by config/urls.py."""

from django.urls import path

from . import views

# Ids are <dbid:...> (core.converters): one too large for the database is 404, never a query.
urlpatterns = [
    path("rooms/", views.RoomListView.as_view(), name="chat-rooms"),
    path("rooms/<dbid:room_id>/", views.RoomDetailView.as_view(), name="chat-room"),
    path("rooms/<dbid:room_id>/members/", views.RoomMembersView.as_view(), name="chat-room-members"),
    path("rooms/<dbid:room_id>/members/<dbid:user_id>/", views.RoomMemberView.as_view(), name="chat-room-member"),
    path("rooms/<dbid:room_id>/messages/", views.RoomMessagesView.as_view(), name="chat-room-messages"),
    path("rooms/<dbid:room_id>/messages/<dbid:message_id>/", views.RoomMessageView.as_view(), name="chat-room-message"),
    path("invitations/", views.InvitationListView.as_view(), name="chat-invitations"),
    path("invitations/<dbid:room_id>/accept/", views.InvitationAcceptView.as_view(), name="chat-invitation-accept"),
    path("invitations/<dbid:room_id>/decline/", views.InvitationDeclineView.as_view(), name="chat-invitation-decline"),
    path("blocks/", views.BlockListView.as_view(), name="chat-blocks"),
    path("blocks/<dbid:user_id>/", views.BlockView.as_view(), name="chat-block"),
]
