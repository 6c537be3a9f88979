"""The language of a WebSocket connection, chosen the way LocaleMiddleware chooses a page's.

Django's LocaleMiddleware runs for HTTP requests only. A socket's handshake carries the same
language cookie and Accept-Language header, so its frames (error details) can be written in the
language the page around it is in.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.http.cookie import parse_cookie
from django.utils import translation

from core.net import scope_header


def language_from_scope(scope) -> str:
    """The language cookie (the header's switcher), then Accept-Language, then LANGUAGE_CODE."""
    request = HttpRequest()
    request.COOKIES = parse_cookie(scope_header(scope, b"cookie"))
    request.META["HTTP_ACCEPT_LANGUAGE"] = scope_header(scope, b"accept-language")
    return translation.get_language_from_request(request)
