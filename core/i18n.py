"""Helpers of the project's languages (docs/i18n.md) that Django does not have.

`language_from_scope`: Django's LocaleMiddleware runs for HTTP requests only. A socket's handshake
carries the same language cookie and Accept-Language header, so its frames (error details) can be
written in the language the page around it is in.
"""

from __future__ import annotations

import unicodedata

from django.http import HttpRequest
from django.http.cookie import parse_cookie
from django.utils import translation

from core.net import scope_header


def ascii_digits(text: str) -> str:
    """`text` with every Unicode decimal digit as its ASCII digit: Persian (۱۲۳), Arabic-Indic (١٢٣) and
    full-width (１２３, from Chinese input methods) digits are typed into phone and code fields."""
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() and not ch.isascii() else ch for ch in text)


def language_from_scope(scope) -> str:
    """The language cookie (the header's switcher), then Accept-Language, then LANGUAGE_CODE."""
    request = HttpRequest()
    request.COOKIES = parse_cookie(scope_header(scope, b"cookie"))
    request.META["HTTP_ACCEPT_LANGUAGE"] = scope_header(scope, b"accept-language")
    return translation.get_language_from_request(request)
