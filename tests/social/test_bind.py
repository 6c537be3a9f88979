"""The bind step: a pending identity bound to a phone proven by an SMS code from /api/otp/send/."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import LoginSession, User
from devtools.social_simulator import FAKE_WEIBO_USERS
from otp.models import Challenge
from social.models import SocialIdentity

from .conftest import NUMBER, bind, weibo_login

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("social_settings")]

ZAKU = FAKE_WEIBO_USERS[0]["uid"]
OTHER_NUMBER = "+989121234568"


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def pending_token(client, uid: str = ZAKU) -> str:
    response = weibo_login(client, uid)
    assert response.status_code == 201, response.content
    return response.json()["bind_token"]


def post_bind(client, token: str, code: str, number: str = NUMBER):
    return client.post("/api/oauth/bind/", {"bind_token": token, "mobile_number": number, "code": code}, format="json")


def test_the_right_code_binds_a_new_user_and_logs_in(client, sms):
    token = pending_token(client)
    response = bind(client, sms, token)

    assert response.status_code == 200
    body = response.json()
    user = User.objects.get(mobile_number=NUMBER)
    assert body["user"] == {"id": user.pk, "mobile_number": NUMBER}
    assert LoginSession.objects.get(pk=body["session"]["id"]).login_method == "social"
    identity = SocialIdentity.objects.get()
    assert (identity.user, identity.provider, identity.uid, identity.nickname) == (user, "weibo", ZAKU, "zaku")
    assert ZAKU not in response.content.decode()
    assert Challenge.objects.get().consumed_at is not None

    # From now on the Weibo account logs straight in, as that user.
    again = weibo_login(client, ZAKU)
    assert again.status_code == 200 and again.json()["user"]["id"] == user.pk


def test_an_existing_phone_user_gets_the_identity(client, sms, user_factory):
    existing = user_factory(NUMBER)
    assert bind(client, sms, pending_token(client)).json()["user"]["id"] == existing.pk
    assert SocialIdentity.objects.get().user == existing


def test_a_wrong_code_spends_a_try_and_binds_nothing(client, sms):
    token = pending_token(client)
    client.post("/api/otp/send/", {"mobile_number": NUMBER}, format="json")
    code = sms.last_code(NUMBER)

    refused = post_bind(client, token, wrong(code))

    assert refused.status_code == 401 and refused.json()["code"] == "invalid_sms_code"
    assert Challenge.objects.get().attempts == 1
    assert SocialIdentity.objects.count() == 0 and LoginSession.objects.count() == 0
    # The bind token survives a wrong code; the right one still works.
    assert post_bind(client, token, code).status_code == 200


def test_the_attempt_cap_of_otp_login_holds_for_binds(client, sms, social_settings):
    social_settings.OTP_MAX_ATTEMPTS = 3
    token = pending_token(client)
    client.post("/api/otp/send/", {"mobile_number": NUMBER}, format="json")
    code = sms.last_code(NUMBER)
    for _ in range(2):
        assert post_bind(client, token, wrong(code)).status_code == 401
    # One wrong try through /api/authenticate/ counts against the same code.
    assert client.post("/api/authenticate/", {"mobile_number": NUMBER, "code": wrong(code)}, format="json").status_code == 401
    assert post_bind(client, token, code).status_code == 401  # the code is exhausted
    assert SocialIdentity.objects.count() == 0


def test_the_numbers_failure_budget_of_otp_login_holds_for_binds(client, sms, social_settings):
    social_settings.OTP_FAILURES_PER_NUMBER_PER_HOUR = 2
    token = pending_token(client)
    client.post("/api/otp/send/", {"mobile_number": NUMBER}, format="json")
    code = sms.last_code(NUMBER)
    assert [post_bind(client, token, wrong(code)).status_code for _ in range(2)] == [401, 401]
    limited = post_bind(client, token, code)
    assert limited.status_code == 429 and "Retry-After" in limited


def test_a_code_sent_for_a_bind_also_logs_in_by_sms_when_the_bind_is_refused(client, sms, user_factory):
    """409 rolls back the transaction that used the code: nothing is lost."""
    user = user_factory(NUMBER)
    SocialIdentity.objects.create(provider="weibo", uid="someone-else", user=user)
    token = pending_token(client)
    client.post("/api/otp/send/", {"mobile_number": NUMBER}, format="json")
    code = sms.last_code(NUMBER)

    refused = post_bind(client, token, code)

    assert refused.status_code == 409 and refused.json()["code"] == "already_bound"
    assert SocialIdentity.objects.get().uid == "someone-else"
    assert Challenge.objects.get().consumed_at is None
    assert client.post("/api/authenticate/", {"mobile_number": NUMBER, "code": code}, format="json").status_code == 200


def test_an_identity_bound_elsewhere_meanwhile_is_409(client, sms, user_factory):
    token = pending_token(client)
    SocialIdentity.objects.create(provider="weibo", uid=ZAKU, user=user_factory())  # another device won
    refused = bind(client, sms, token)
    assert refused.status_code == 409 and refused.json()["code"] == "already_bound"
    assert not User.objects.filter(mobile_number=NUMBER, social_identities__isnull=False).exists()


def test_a_bind_token_is_single_use(client, sms):
    token = pending_token(client)
    assert bind(client, sms, token).status_code == 200
    again = bind(client, sms, token, number=OTHER_NUMBER)
    assert again.status_code == 400 and again.json()["code"] == "invalid_bind_token"


def test_a_bind_token_expires_after_ten_minutes(client, sms):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        token = pending_token(client)
        traveller.shift(timedelta(seconds=601))
        refused = bind(client, sms, token)
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_bind_token"


@pytest.mark.parametrize("token", ["", "forged-token-forged-token-forged-token-xx", "a" * 43])
def test_an_unknown_bind_token_is_refused_before_any_try_is_spent(client, sms, token):
    client.post("/api/otp/send/", {"mobile_number": NUMBER}, format="json")
    refused = post_bind(client, token, sms.last_code(NUMBER))
    assert refused.status_code == 400
    assert Challenge.objects.get().attempts == 0


def test_binds_are_limited_per_ip(client, social_settings):
    social_settings.SOCIAL_BINDS_PER_IP_PER_HOUR = 1
    assert post_bind(client, "a" * 43, "123456").status_code == 400
    limited = post_bind(client, "a" * 43, "123456")
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0


def test_malformed_fields_are_400(client):
    assert client.post("/api/oauth/bind/", {"bind_token": "a" * 43, "mobile_number": "nope", "code": "12"}, format="json").json().keys() >= {"mobile_number", "code"}
    assert client.post("/api/oauth/bind/", {}, format="json").status_code == 400


def test_a_bind_token_of_a_provider_switched_off_meanwhile_is_404(client, sms, social_settings):
    token = pending_token(client)
    social_settings.WEIBO_CLIENT_SECRET = ""
    client.post("/api/otp/send/", {"mobile_number": NUMBER}, format="json")
    assert post_bind(client, token, sms.last_code(NUMBER)).status_code == 404
    assert Challenge.objects.get().attempts == 0
