from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from .serializers import MeSerializer, WsTicketSerializer
from .ws import ws_ticket_issue


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class WsTicketView(APIView):
    """A one-time ticket for opening a WebSocket without putting a token in the URL."""

    @extend_schema(request=None, responses={201: WsTicketSerializer})
    def post(self, request):
        ticket = ws_ticket_issue(user_id=request.user.pk, session_id=request.auth["sid"])
        return Response({"ticket": ticket, "expires_in": settings.WS_TICKET_TTL_SECONDS}, status=status.HTTP_201_CREATED)
