"""Django's auth signals for the SMS-code login: `user_logged_in` (and so `last_login`) on success,
`user_login_failed` with the number masked on a wrong code."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import time_machine
from django.contrib.auth.signals import user_logged_in, user_login_failed

from accounts.models import LoginSession, User
from tests.receivers import receiving

from .conftest import wrong_code

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("otp_settings")]

NUMBER = "+989121234567"
NOW = datetime(2030, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


def send(client):
    return client.post("/api/otp/send/", {"mobile_number": NUMBER}, format="json")


def authenticate(client, code):
    return client.post("/api/authenticate/", {"mobile_number": NUMBER, "code": code}, format="json")


def test_a_code_login_sends_user_logged_in_and_sets_last_login(client, sms):
    with time_machine.travel(NOW, tick=False):
        send(client)
        with receiving(user_logged_in) as logins, receiving(user_login_failed) as failures:
            response = authenticate(client, sms.last_code(NUMBER))
    assert response.status_code == 200
    user = User.objects.get(mobile_number=NUMBER)
    assert user.last_login == NOW
    (call,) = logins
    assert call["sender"] is User and call["user"] == user
    assert call["request"].path == "/api/authenticate/"
    assert call["method"] == "sms"
    assert call["login_session"] == LoginSession.objects.get(pk=response.json()["session"]["id"])
    assert failures == []


def test_a_wrong_code_sends_user_login_failed_with_the_number_masked(client, sms):
    send(client)
    with receiving(user_login_failed) as failures, receiving(user_logged_in) as logins:
        response = authenticate(client, wrong_code(sms.last_code(NUMBER)))
    assert response.status_code == 401
    (call,) = failures
    assert call["sender"] == "otp.services"
    assert call["credentials"] == {"mobile_number": "+98912***4567", "code": "********************"}
    assert call["request"].path == "/api/authenticate/" and call["request"].META["REMOTE_ADDR"] == "203.0.113.7"
    assert logins == []
    assert not User.objects.filter(mobile_number=NUMBER).exists()


def test_no_code_at_all_is_a_failed_login_too_but_a_refused_request_is_not(client, otp_settings):
    with receiving(user_login_failed) as failures:
        assert authenticate(client, "123456").status_code == 401  # nothing was ever sent
        assert authenticate(client, "12").status_code == 400  # malformed: no login was attempted
    assert [call["credentials"]["mobile_number"] for call in failures] == ["+98912***4567"]

    # The first 401 spent this IP's whole failure budget (a number's budget counts only against a
    # live code, and there is none here).
    otp_settings.OTP_FAILURES_PER_IP_PER_HOUR = 1
    with receiving(user_login_failed) as failures:
        assert authenticate(client, "123456").status_code == 429  # over budget: no code is compared
    assert failures == []
