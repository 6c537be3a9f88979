"""Mounted under /api/chat/ by config/urls.py."""

from django.urls import path

from . import views

urlpatterns = [
    path("rooms/", views.RoomListView.as_view(), name="chat-rooms"),
    path("rooms/<int:room_id>/members/", views.RoomMembersView.as_view(), name="chat-room-members"),
    path("rooms/<int:room_id>/members/<int:user_id>/", views.RoomMemberView.as_view(), name="chat-room-member"),
    path("rooms/<int:room_id>/messages/", views.RoomMessagesView.as_view(), name="chat-room-messages"),
]
