"""core.i18n: a socket's language from its handshake, and digits from other keyboards."""

from __future__ import annotations

import pytest

from core.i18n import ascii_digits, language_from_scope


def scope(**headers):
    return {"type": "websocket", "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]}


@pytest.mark.parametrize(
    "headers, language",
    [
        ({}, "en"),
        ({"accept_language": "fa-IR,fa;q=0.9"}, "fa"),
        ({"accept_language": "zh-CN,zh;q=0.9,en;q=0.5"}, "zh-hans"),
        ({"accept_language": "de"}, "en"),
        ({"accept_language": "fa", "cookie": "csrftoken=x; django_language=ru"}, "ru"),  # the switcher wins
        ({"cookie": "django_language=xx"}, "en"),
    ],
)
def test_language_from_scope_chooses_like_the_locale_middleware(headers, language):
    assert language_from_scope(scope(**headers)) == language


def test_ascii_digits_leaves_everything_else_alone():
    assert ascii_digits("+۹۸ ٩١٢ ９１２-abc ۰") == "+98 912 912-abc 0"
    assert ascii_digits("No digits: é 中") == "No digits: é 中"
