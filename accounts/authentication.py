"""Bearer JWT authentication bound to a live login session."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from core.logging import log_context_bind

from . import selectors, services


class SessionJWTAuthentication(JWTAuthentication):
    """simplejwt's authentication plus: the token's session (`sid`) must still be active,
    checked against shared state on every request, so a revoke works before the token expires.

    Failures are 401 with a stable `code`: `token_not_valid` (bad, expired or wrong-type token),
    `session_revoked` (its session has ended), `user_inactive` / `user_not_found`.
    """

    def get_validated_token(self, raw_token):
        token = super().get_validated_token(raw_token)
        if not selectors.session_is_active(token.get("sid")):
            raise AuthenticationFailed(_("Session has ended."), code="session_revoked")
        return token

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            user, token = result
            services.session_touch(session_id=token["sid"])
            log_context_bind(user_id=user.pk, session_id=token["sid"])
        return result
