"""OpenAPI description of `/proxy/auth/code`, `/proxy/auth/result` and `/proxy/auth/complete`.

The three endpoints are plain async Django views (auth4app/views.py: DRF views are sync, and the
upstream call is an async aiohttp request), and drf-spectacular only describes DRF views: it finds
endpoints by walking the URL conf for `APIView` subclasses, and its maintainers do not plan to read
plain Django views. So each endpoint is described here by an `APIView` subclass that only carries
`@extend_schema` (request bodies by media type, every status with its body and headers, as
serializers), and `add_proxy_endpoints`, a drf-spectacular preprocessing hook
(SPECTACULAR_SETTINGS["PREPROCESSING_HOOKS"]), adds them to the endpoints at the paths the URL conf
serves the real views at. No URL routes a request to the describing classes (their handler, which
drf-spectacular looks up, refuses), and tests/auth4app/test_schema.py checks the real views' answers
against this description.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from .services import BROWSER_COOKIE
from .store import STATUSES
from .upstream import CODE_ID_RE

# The stable `code` of every refusal, as auth4app/services.py and selectors.py raise them.
ERROR_CODES = (
    "invalid",
    "invalid_phone",
    "upstream_unavailable",
    "forbidden",
    "not_found",
    "inactive",
    "not_confirmed",
    "already_completed",
    "expired",
    "failed",
)
TAG = "auth4app (seed-compatible proxy)"
FORM, JSON = "application/x-www-form-urlencoded", "application/json"


# --- bodies ------------------------------------------------------------------------------------


class Auth4appCodeInput(serializers.Serializer):
    phone = serializers.CharField(
        help_text="Mobile number, international (+79991234567, or digits alone: 79991234567) or national "
        "in PHONE_DEFAULT_REGION. auth4app gets its digits."
    )


class Auth4appBoundLoginInput(serializers.Serializer):
    code_id = serializers.RegexField(CODE_ID_RE.pattern, help_text="From /proxy/auth/code.")
    login_token = serializers.CharField(
        required=False,
        help_text=f"From /proxy/auth/code; needed by a client that does not send the `{BROWSER_COOKIE}` cookie.",
    )


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}]})
class UpstreamCodeField(serializers.Field):
    """auth4app's `code`: a number in its documentation, passed through as it was given."""


class Auth4appCodeOutput(serializers.Serializer):
    code_id = serializers.CharField()
    code = UpstreamCodeField(help_text="What the person sends to the auth4app bot.")
    links = inline_serializer(
        "Auth4appLink",
        fields={
            "title": serializers.CharField(required=False, help_text="WhatsApp, Telegram, Viber..."),
            "link": serializers.CharField(required=False, help_text="Opens the chat with the bot."),
            "image": serializers.CharField(required=False, help_text="The messenger's icon (URL)."),
            "color": serializers.CharField(required=False, help_text="The messenger's colour."),
        },
        many=True,
        help_text="Messenger links as auth4app gave them: its fields are passed through, known or not.",
    )
    qrLink = serializers.CharField(help_text="auth4app's QR login page (\"\" when it gave none).")
    expires_in = serializers.IntegerField(help_text="Seconds until the code expires (AUTH4APP_CODE_TTL).")
    ws_url = serializers.CharField(help_text="The socket that pushes the outcome: /ws/auth/<code_id>/.")
    login_token = serializers.CharField(help_text="Binds result, complete and the socket to this client.")


class Auth4appResultOutput(serializers.Serializer):
    auth = serializers.BooleanField(help_text="True once confirmed (also after completion).")
    # Not an enum: drf-spectacular names enum components after the field ("StatusEnum"), and a second
    # `status` enum would make it rename the sms app's StatusEnum, which clients were generated from.
    status = serializers.CharField(help_text="One of: " + ", ".join(f"`{status}`" for status in STATUSES) + ".")
    phone = serializers.CharField(required=False, help_text="The confirmed number (E.164); only when `auth`.")
    expires_in = serializers.IntegerField(required=False, help_text="Only while `pending`.")
    detail = serializers.CharField(required=False, help_text="Only on `error`: why.")


class Auth4appCompleteOutput(serializers.Serializer):
    token = serializers.CharField(help_text="The access token again, for seed-000 clients.")
    access = serializers.CharField()
    refresh = serializers.CharField()
    user = inline_serializer(
        "Auth4appUser",
        fields={
            "id": serializers.IntegerField(),
            "mobile_number": serializers.CharField(),
            "phone": serializers.CharField(help_text="`mobile_number` again, for seed-000 clients."),
        },
    )
    session = inline_serializer("Auth4appSession", fields={"id": serializers.CharField()})


class Auth4appError(serializers.Serializer):
    error = serializers.CharField(help_text="A message for the person.")
    detail = serializers.CharField(help_text="The same message.")
    code = serializers.ChoiceField(choices=ERROR_CODES, help_text="Stable, for programs.")


class Auth4appRateLimited(serializers.Serializer):
    error = serializers.CharField()
    detail = serializers.CharField()
    retry_after = serializers.IntegerField(help_text="Seconds, as in the Retry-After header.")


class DatabaseUnavailable(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(help_text="`database_unavailable`")
    retry_after = serializers.IntegerField()


def _error(description: str, *codes: str) -> OpenApiResponse:
    assert set(codes) <= set(ERROR_CODES), codes
    listed = ", ".join(f"`{code}`" for code in codes)
    return OpenApiResponse(Auth4appError, description=f"{description} (`code`: {listed})")


_COOKIE = OpenApiParameter(
    BROWSER_COOKIE,
    OpenApiTypes.STR,
    OpenApiParameter.COOKIE,
    description="Set by /proxy/auth/code (HttpOnly, SameSite=Lax): binds the login to this browser. "
    "Without it, send `login_token`.",
)
_BAD_BODY = "A JSON body that is not valid JSON or not an object"


def _bodies(serializer) -> dict:
    """Form-encoded, as seed 000's clients post, or JSON: the same fields."""
    return {FORM: serializer, JSON: serializer}


# --- the endpoints -----------------------------------------------------------------------------


class _Described(APIView):
    """Carries a schema only; the endpoint is served by the async view in auth4app/views.py."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    def post(self, request, *args, **kwargs):
        # drf-spectacular looks the handler up on the view; no URL routes a request here.
        raise ImproperlyConfigured(f"{type(self).__name__} only describes an endpoint of auth4app.views")


@extend_schema_view(post=extend_schema(
    operation_id="proxy_auth_code",
    tags=[TAG],
    summary="Start a messenger login",
    description="Asks auth4app for a code the person sends to its bot, sets the binding cookie and "
    "returns the login's `code_id`, `login_token` and socket URL. Limits count before the upstream call.",
    request=_bodies(Auth4appCodeInput),
    parameters=[
        OpenApiParameter("Set-Cookie", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200],
                         description=f"`{BROWSER_COOKIE}=<browser key>; HttpOnly; SameSite=Lax; Path=/`"),
        OpenApiParameter("Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[429],
                         description="Seconds until a code may be asked for again."),
    ],
    responses={
        200: Auth4appCodeOutput,
        400: _error(f"A missing or unusable number; {_BAD_BODY}", "invalid_phone", "invalid"),
        429: OpenApiResponse(Auth4appRateLimited, description="Too many codes for this IP or number in the hour"),
        502: _error("auth4app did not answer usably", "upstream_unavailable"),
    },
    auth=[],
))
class CodeDescription(_Described):
    pass


@extend_schema_view(post=extend_schema(
    operation_id="proxy_auth_result",
    tags=[TAG],
    summary="The login's status",
    description="Answered from the server's own state, never by asking auth4app; asking keeps the "
    "login watched. Clients with the socket open need not poll.",
    request=_bodies(Auth4appBoundLoginInput),
    parameters=[_COOKIE],
    responses={
        200: Auth4appResultOutput,
        400: _error(f"`code_id` missing or malformed; {_BAD_BODY}", "invalid"),
        403: _error("Neither the cookie nor `login_token` of the client that started it", "forbidden"),
        404: _error("Unknown `code_id`, or forgotten 10 minutes after it expired", "not_found"),
    },
    auth=[],
))
class ResultDescription(_Described):
    pass


@extend_schema_view(post=extend_schema(
    operation_id="proxy_auth_complete",
    tags=[TAG],
    summary="Log in with a confirmed login (once)",
    description="Finds or creates the user of the confirmed number, records a login session "
    "(method `auth4app`) and returns its JWT pair. Usable once, until the code expires or 120 s "
    "after the confirmation, whichever is later.",
    request=_bodies(Auth4appBoundLoginInput),
    parameters=[
        _COOKIE,
        OpenApiParameter("Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[503],
                         description="Seconds to wait before trying again."),
    ],
    responses={
        200: Auth4appCompleteOutput,
        400: _error(
            f"Not confirmed yet, already completed, expired or failed; `code_id` missing or malformed; {_BAD_BODY}",
            "not_confirmed", "already_completed", "expired", "failed", "invalid",
        ),
        403: _error("Not the client that started it, or the account is disabled", "forbidden", "inactive"),
        404: _error("Unknown `code_id`", "not_found"),
        503: OpenApiResponse(
            DatabaseUnavailable, description="The database is unavailable: try again (`code`: `database_unavailable`)"
        ),
    },
    auth=[],
))
class CompleteDescription(_Described):
    pass


# URL name of each real view (auth4app/urls.py) -> its description.
DESCRIPTIONS = {
    "auth4app-code": CodeDescription,
    "auth4app-result": ResultDescription,
    "auth4app-complete": CompleteDescription,
}


def add_proxy_endpoints(endpoints: list) -> list:
    """drf-spectacular preprocessing hook: the proxy endpoints, at the paths their views are served at."""
    described = []
    for url_name, description in DESCRIPTIONS.items():
        path = reverse(url_name)
        described.append((path, path.lstrip("/"), "POST", description.as_view()))
    return [*endpoints, *described]
