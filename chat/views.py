"""REST API of the chat app (Bearer JWT): rooms, members and history. Each view parses, calls one
service or selector and replies; ChatError becomes its HTTP status with `detail` and `code`."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import RateLimited

from . import selectors, services
from . import serializers as shapes
from .errors import ChatError, invalid


def _int_param(request, name: str, *, minimum: int = 0) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise invalid(_("%(name)s must be an integer.") % {"name": name}) from None
    if value < minimum:
        raise invalid(_("%(name)s must be at least %(minimum)d.") % {"name": name, "minimum": minimum})
    return value


def _body(request) -> dict:
    if not isinstance(request.data, dict):
        raise invalid(_("The body must be a JSON object."))
    return request.data


class ChatAPIView(APIView):
    def handle_exception(self, exc):
        if isinstance(exc, ChatError):
            if exc.code == "rate_limited":
                exc = RateLimited(exc.retry_after or 1, exc.detail)
            else:
                return Response({"detail": exc.detail, "code": exc.code}, status=exc.status)
        return super().handle_exception(exc)


class RoomListView(ChatAPIView):
    @extend_schema(responses=shapes.RoomSerializer(many=True), summary="My rooms, most recent activity first")
    def get(self, request):
        return Response(selectors.rooms_for_user(user=request.user))

    @extend_schema(
        request=shapes.RoomCreateSerializer,
        responses={201: shapes.RoomSerializer, 200: shapes.RoomSerializer, **{400: shapes.ChatErrorSerializer, 404: shapes.ChatErrorSerializer}},
        summary="Open the direct room of a pair (201 new, 200 existing) or create a group",
    )
    def post(self, request):
        data = _body(request)
        kind = data.get("kind")
        if kind == "direct":
            room, created = services.room_direct_open(
                user=request.user, user_id=data.get("user_id"), mobile_number=data.get("mobile_number")
            )
        elif kind == "group":
            members = data.get("members", [])
            room, created = services.room_group_create(owner=request.user, title=data.get("title"), members=members), True
        else:
            raise invalid(_('kind must be "direct" or "group".'))
        payload = selectors.room_for_member(user=request.user, room_id=room.pk)
        return Response(payload, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class RoomMembersView(ChatAPIView):
    @extend_schema(
        request=shapes.MemberAddSerializer,
        responses={201: shapes.RoomSerializer, 200: shapes.RoomSerializer, 403: shapes.ChatErrorSerializer, **{400: shapes.ChatErrorSerializer, 404: shapes.ChatErrorSerializer}},
        summary="The owner adds a member",
    )
    def post(self, request, room_id: int):
        data = _body(request)
        room, added = services.room_member_add(
            actor=request.user, room_id=room_id, user_id=data.get("user_id"), mobile_number=data.get("mobile_number")
        )
        payload = selectors.room_for_member(user=request.user, room_id=room.pk)
        return Response(payload, status=status.HTTP_201_CREATED if added else status.HTTP_200_OK)


class RoomMemberView(ChatAPIView):
    @extend_schema(responses={204: None, 403: shapes.ChatErrorSerializer, **{400: shapes.ChatErrorSerializer, 404: shapes.ChatErrorSerializer}}, summary="Remove a member (owner) or leave")
    def delete(self, request, room_id: int, user_id: int):
        services.room_member_remove(actor=request.user, room_id=room_id, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoomMessagesView(ChatAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("before", int, description="the messages just before this id"),
            OpenApiParameter("after", int, description="the messages just after this id"),
            OpenApiParameter("limit", int, description="default 50, max 200"),
        ],
        responses={200: shapes.MessageSerializer(many=True), **{400: shapes.ChatErrorSerializer, 404: shapes.ChatErrorSerializer}},
        summary="History, ascending by id",
    )
    def get(self, request, room_id: int):
        before = _int_param(request, "before", minimum=1)
        after = _int_param(request, "after", minimum=0)
        if before is not None and after is not None:
            raise invalid(_("Give before or after, not both."))
        limit = _int_param(request, "limit", minimum=1)
        limit = selectors.HISTORY_DEFAULT_LIMIT if limit is None else min(limit, selectors.HISTORY_MAX_LIMIT)
        return Response(
            selectors.messages_page(user=request.user, room_id=room_id, before=before, after=after, limit=limit)
        )

    @extend_schema(
        request=shapes.MessageCreateSerializer,
        responses={201: shapes.MessageSerializer, 200: shapes.MessageSerializer, 429: None, **{400: shapes.ChatErrorSerializer, 404: shapes.ChatErrorSerializer}},
        summary="Send a message (delivered live like a socket message); a retry of a client_id returns 200",
    )
    def post(self, request, room_id: int):
        data = _body(request)
        message, created = services.message_send(
            user=request.user, room_id=room_id, text=data.get("text"), client_id=data.get("client_id")
        )
        return Response(message, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
