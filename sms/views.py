"""The SMS API: queue a message (202) and read its status. Only for holders of `sms.send_message`."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy, pgettext
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .serializers import MessageQueuedOutput, MessageSendInput, MessageStatusOutput


class CanSendMessages(BasePermission):
    message = gettext_lazy("You do not have permission to send SMS messages.")

    def has_permission(self, request, view) -> bool:
        return request.user.has_perm("sms.send_message")


class MessageSendView(APIView):
    permission_classes = [IsAuthenticated, CanSendMessages]

    @extend_schema(request=MessageSendInput, responses={202: MessageQueuedOutput}, summary="Queue one SMS")
    def post(self, request):
        data = MessageSendInput(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_send(
            to=data.validated_data["mobile_number"],
            text=data.validated_data["message_text"],
            template_id=data.validated_data.get("template_id") or None,
            requested_by=request.user,
        )
        status_url = request.build_absolute_uri(reverse("sms-message-status", args=[message.pk]))
        return Response(
            {"id": message.pk, "status": message.status, "status_url": status_url},
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": status_url},
        )


class MessageStatusView(APIView):
    permission_classes = [IsAuthenticated, CanSendMessages]

    @extend_schema(responses={200: MessageStatusOutput}, summary="Status of one SMS the caller queued")
    def get(self, request, message_id: int):
        # Only the caller's own messages: the same 404 for someone else's, a code SMS and no message.
        message = selectors.message_get_sent_by(message_id=message_id, user=request.user)
        if message is None:
            # "Message" is an SMS here, a chat message elsewhere: the context keeps the two apart.
            raise NotFound(pgettext("SMS", "No such message."))
        return Response(selectors.message_status_payload(message))
