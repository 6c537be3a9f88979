"""REST API of the chat app (Bearer JWT): rooms, members and history. Each view parses, calls one
service or selector and replies; a refusal (core.errors.ServiceError: ChatError, RateLimited) becomes
its HTTP status with `{"detail", "code"[, "retry_after"]}` (DRF's exception handler, core.errors)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from . import serializers as shapes
from .errors import invalid


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


_ERRORS_400_403_404 = {400: shapes.ChatErrorSerializer, 403: shapes.ChatErrorSerializer, 404: shapes.ChatErrorSerializer}


class RoomListView(APIView):
    @extend_schema(responses=shapes.RoomSerializer(many=True), summary="My rooms, most recent activity first")
    def get(self, request):
        return Response(selectors.rooms_for_user(user=request.user))

    @extend_schema(
        request=shapes.RoomCreateSerializer,
        responses={429: None, 201: shapes.RoomSerializer, 200: shapes.RoomSerializer, **{400: shapes.ChatErrorSerializer, 404: shapes.ChatErrorSerializer}},
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


class RoomDetailView(APIView):
    @extend_schema(responses={200: shapes.RoomSerializer, 404: shapes.ChatErrorSerializer}, summary="One of my rooms")
    def get(self, request, room_id: int):
        return Response(selectors.room_for_member(user=request.user, room_id=room_id))

    @extend_schema(
        request=shapes.RoomUpdateSerializer,
        responses={429: None, 200: shapes.RoomSerializer, **_ERRORS_400_403_404},
        summary="The owner renames the group and/or hands it over to another member",
    )
    def patch(self, request, room_id: int):
        data = _body(request)
        services.room_update(actor=request.user, room_id=room_id, title=data.get("title"), owner_id=data.get("owner"))
        return Response(selectors.room_for_member(user=request.user, room_id=room_id))


class RoomMembersView(APIView):
    @extend_schema(
        request=shapes.MemberAddSerializer,
        responses={201: shapes.RoomSerializer, 200: shapes.RoomSerializer, 202: shapes.ChatErrorSerializer,
                   429: None, **_ERRORS_400_403_404},
        summary="The owner adds someone who shares a room with them (201), or invites anyone else (202)",
    )
    def post(self, request, room_id: int):
        data = _body(request)
        room, outcome = services.room_member_add(
            actor=request.user, room_id=room_id, user_id=data.get("user_id"), mobile_number=data.get("mobile_number")
        )
        if outcome == "invited":
            return Response({"detail": _("Invitation sent."), "code": "invited"}, status=status.HTTP_202_ACCEPTED)
        payload = selectors.room_for_member(user=request.user, room_id=room.pk)
        return Response(payload, status=status.HTTP_201_CREATED if outcome == "added" else status.HTTP_200_OK)


class RoomMemberView(APIView):
    @extend_schema(responses={429: None, 204: None, **_ERRORS_400_403_404},
                   summary="Remove a member (owner), or leave (my own id)")
    def delete(self, request, room_id: int, user_id: int):
        services.room_member_remove(actor=request.user, room_id=room_id, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoomMessagesView(APIView):
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


class RoomMessageView(APIView):
    @extend_schema(
        request=shapes.MessageEditSerializer,
        responses={200: shapes.MessageSerializer, **_ERRORS_400_403_404},
        summary="Edit my message (within 48 h); subscribers get message.updated",
    )
    def patch(self, request, room_id: int, message_id: int):
        data = _body(request)
        return Response(services.message_edit(user=request.user, room_id=room_id, message_id=message_id,
                                              text=data.get("text")))

    @extend_schema(responses={204: None, **_ERRORS_400_403_404},
                   summary="Delete my message (or any, as the group's owner); it stays as a tombstone")
    def delete(self, request, room_id: int, message_id: int):
        services.message_delete(user=request.user, room_id=room_id, message_id=message_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationListView(APIView):
    @extend_schema(responses=shapes.InvitationSerializer(many=True), summary="My pending group invitations")
    def get(self, request):
        return Response(selectors.invitations_for_user(user=request.user))


class InvitationAcceptView(APIView):
    @extend_schema(request=None, responses={200: shapes.RoomSerializer, 404: shapes.ChatErrorSerializer},
                   summary="Accept an invitation: join the group")
    def post(self, request, room_id: int):
        room = services.invitation_accept(user=request.user, room_id=room_id)
        return Response(selectors.room_for_member(user=request.user, room_id=room.pk))


class InvitationDeclineView(APIView):
    @extend_schema(request=None, responses={204: None, 404: shapes.ChatErrorSerializer},
                   summary="Decline an invitation (the inviter is not told)")
    def post(self, request, room_id: int):
        services.invitation_decline(user=request.user, room_id=room_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BlockListView(APIView):
    @extend_schema(responses=shapes.ChatUserSerializer(many=True), summary="The people I blocked")
    def get(self, request):
        return Response(selectors.blocks_for_user(user=request.user))

    @extend_schema(request=shapes.BlockSerializer,
                   responses={201: shapes.ChatUserSerializer, 200: shapes.ChatUserSerializer, **_ERRORS_400_403_404},
                   summary="Block someone who shares a room with me or invited me (silent to them)")
    def post(self, request):
        data = _body(request)
        user, created = services.block_add(user=request.user, user_id=data.get("user_id"))
        return Response(user, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class BlockView(APIView):
    @extend_schema(responses={204: None, 404: shapes.ChatErrorSerializer}, summary="Unblock")
    def delete(self, request, user_id: int):
        services.block_remove(user=request.user, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
