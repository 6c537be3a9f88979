"""Account and session endpoints: thin views that parse, call one service or selector, and reply."""

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .models import LoginSession
from .serializers import (
    MeSerializer,
    MeUpdateSerializer,
    RevokedCountSerializer,
    SessionSerializer,
    TokenPairSerializer,
    TokenRefreshSerializer,
    WsTicketSerializer,
)
from .ws import ws_ticket_issue

Reason = LoginSession.RevokeReason


def _current_session_id(request) -> str:
    return request.auth["sid"]


class MeView(APIView):
    @extend_schema(responses=MeSerializer, summary="The logged-in user")
    def get(self, request):
        return Response(MeSerializer(request.user).data)

    @extend_schema(request=MeUpdateSerializer, responses=MeSerializer, summary="Change the logged-in user's settings")
    def patch(self, request):
        body = MeUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        if "language" in body.validated_data:
            services.set_user_language(request.user, body.validated_data["language"])
        return Response(MeSerializer(request.user).data)


class WsTicketView(APIView):
    """A one-time ticket for opening a WebSocket without putting a token in the URL."""

    @extend_schema(request=None, responses={201: WsTicketSerializer})
    def post(self, request):
        ticket = ws_ticket_issue(user_id=request.user.pk, session_id=_current_session_id(request))
        return Response({"ticket": ticket, "expires_in": settings.WS_TICKET_TTL_SECONDS}, status=status.HTTP_201_CREATED)


class TokenRefreshView(APIView):
    """Rotate a refresh token. Presenting one that was already rotated ends its whole session."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    def get_authenticate_header(self, request):
        # A 401 (not 403) for a bad refresh token, as simplejwt's own view answers.
        return 'Bearer realm="api"'

    @extend_schema(
        request=TokenRefreshSerializer,
        responses={200: TokenPairSerializer, 401: OpenApiResponse(description="token_not_valid, token_reused, session_revoked")},
        summary="Rotate the refresh token",
    )
    def post(self, request):
        body = TokenRefreshSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = services.session_refresh(refresh=body.validated_data["refresh"])
        return Response({"access": result.access, "refresh": result.refresh})


class SessionListView(APIView):
    @extend_schema(responses=SessionSerializer(many=True), summary="My active sessions, newest first")
    def get(self, request):
        sessions = selectors.sessions_active_for_user(user=request.user)
        context = {"current_session_id": _current_session_id(request)}
        return Response(SessionSerializer(sessions, many=True, context=context).data)


class SessionDetailView(APIView):
    @extend_schema(request=None, responses={204: None, 404: OpenApiResponse(description="no such session of yours")},
                   summary="End one of my sessions")
    def delete(self, request, session_id: str):
        if not services.session_revoke_own(user=request.user, session_id=session_id, reason=Reason.USER):
            # The same answer whether the session belongs to someone else, ended, or never existed.
            raise NotFound(_("No such session."))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionRevokeOthersView(APIView):
    @extend_schema(request=None, responses=RevokedCountSerializer, summary="End every session but this one")
    def post(self, request):
        revoked = services.sessions_revoke_for_user(
            user=request.user, by=request.user, reason=Reason.REVOKE_OTHERS, keep=_current_session_id(request)
        )
        return Response({"revoked": revoked})


class LogoutView(APIView):
    @extend_schema(request=None, responses={204: None}, summary="End the session of this access token")
    def post(self, request):
        services.session_revoke_own(user=request.user, session_id=_current_session_id(request), reason=Reason.LOGOUT)
        return Response(status=status.HTTP_204_NO_CONTENT)
