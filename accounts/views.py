"""Account and session endpoints: thin views that parse, call one service or selector, and reply."""

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from . import profiles, selectors, services
from .models import LoginSession
from .serializers import (
    AvatarUploadSerializer,
    MeSerializer,
    MeUpdateSerializer,
    ProfileErrorSerializer,
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


def _email_link_maker(request):
    """Links in verification emails point at the host this request came to (one of ALLOWED_HOSTS)."""
    base = request.build_absolute_uri(reverse("pages:email-verify"))
    return lambda token: f"{base}?token={token}"


class MeView(APIView):
    @extend_schema(responses=MeSerializer, summary="The logged-in user and their profile")
    def get(self, request):
        return Response(profiles.me_payload(request.user))

    @extend_schema(
        request=MeUpdateSerializer,
        responses={200: MeSerializer, 400: ProfileErrorSerializer},
        summary="Change the display name, the email (a new email gets a verification link) and/or the language",
    )
    def patch(self, request):
        data = request.data if isinstance(request.data, dict) else None
        if data is None:
            raise profiles.ProfileError("invalid", _("The body must be a JSON object."))
        changes = {key: data[key] for key in ("display_name", "email", "language") if key in data}
        user = profiles.profile_update(user=request.user, verify_url=_email_link_maker(request), **changes)
        return Response(profiles.me_payload(user))


class AvatarView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": AvatarUploadSerializer},
        responses={200: MeSerializer, 400: ProfileErrorSerializer},
        summary="Upload an avatar (JPEG, PNG or WebP up to 2 MB; stored re-encoded, 256 px square)",
    )
    def put(self, request):
        user = profiles.avatar_set(user=request.user, upload=request.FILES.get("avatar"))
        return Response(profiles.me_payload(user))

    @extend_schema(request=None, responses={204: None}, summary="Remove the avatar")
    def delete(self, request):
        profiles.avatar_delete(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@require_GET
def avatar_file(request, name: str):
    """An avatar from the file system storage, always as WebP (we encoded it), never sniffed."""
    stored = profiles.avatar_file_name(name)
    if stored is None or not default_storage.exists(stored):
        raise Http404
    response = FileResponse(default_storage.open(stored, "rb"), content_type=profiles.AVATAR_CONTENT_TYPE)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'"
    response["Content-Disposition"] = "inline"
    # A new avatar gets a new name, so a stored one never changes.
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


class WsTicketView(APIView):
    """A one-time ticket for opening a WebSocket without putting a token in the URL."""

    @extend_schema(
        request=None,
        responses={201: WsTicketSerializer, 429: OpenApiResponse(description="too many tickets this minute; Retry-After"),
                   503: OpenApiResponse(description="Redis is unavailable (restarting); Retry-After, code service_unavailable")},
    )
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
        result = services.session_refresh(refresh=body.validated_data["refresh"], request=request)
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
        if not services.session_revoke_own(user=request.user, session_id=session_id, reason=Reason.USER, request=request):
            # The same answer whether the session belongs to someone else, ended, or never existed.
            raise NotFound(_("No such session."))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionRevokeOthersView(APIView):
    @extend_schema(request=None, responses=RevokedCountSerializer, summary="End every session but this one")
    def post(self, request):
        revoked = services.sessions_revoke_for_user(
            user=request.user,
            by=request.user,
            reason=Reason.REVOKE_OTHERS,
            keep=_current_session_id(request),
            request=request,
        )
        return Response({"revoked": revoked})


class LogoutView(APIView):
    @extend_schema(request=None, responses={204: None}, summary="End the session of this access token")
    def post(self, request):
        services.session_revoke_own(
            user=request.user, session_id=_current_session_id(request), reason=Reason.LOGOUT, request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
