"""A valid login with an absurd User-Agent (issue 21): the header is parsed only up to a cap."""

from __future__ import annotations

import pytest

from accounts.models import LoginSession

from .test_api import NUMBER, authenticate, send

pytestmark = pytest.mark.django_db

ANDROID_5000_DIGITS = "Mozilla/5.0 (Linux; Android " + "9" * 5000 + "; Pixel 8) AppleWebKit/537.36 Chrome/130.0 Mobile Safari/537.36"


def test_a_5000_digit_android_version_does_not_break_a_valid_login(client, sms):
    assert send(client).status_code == 200
    response = authenticate(client, sms.last_code(NUMBER), HTTP_USER_AGENT=ANDROID_5000_DIGITS)
    assert response.status_code == 200, response.content[:500]
    session = LoginSession.objects.get()
    assert session.user_agent == ANDROID_5000_DIGITS[:1000]
