"""What the OTP flow counts: codes sent, refusals by reason, code checks by outcome."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from accounts.models import User

from .conftest import wrong_code

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("otp_settings")]

NUMBER = "+989121234567"


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def refusals(reason: str) -> float:
    return value("hotline_otp_send_refusals_total", reason=reason)


def send(client, number=NUMBER, **extra):
    return client.post("/api/otp/send/", {"mobile_number": number}, format="json", **extra)


def test_sends_and_each_refusal_reason(client, sms, otp_settings):
    reasons = ("cooldown", "ip", "number", "global", "region")
    before = {reason: refusals(reason) for reason in reasons}
    sent = value("hotline_otp_codes_sent_total")

    assert send(client).status_code == 200
    assert send(client).status_code == 409  # cooldown
    otp_settings.OTP_RESEND_SECONDS = 0
    otp_settings.OTP_SENDS_PER_NUMBER_PER_HOUR = 2
    assert send(client).status_code == 200
    assert send(client).status_code == 429  # the number's budget
    otp_settings.OTP_SENDS_PER_IP_PER_HOUR = 3
    assert send(client, "+989121234568").status_code == 429  # the IP's (3 spent before this one)
    otp_settings.OTP_SENDS_PER_IP_PER_HOUR = 100
    otp_settings.OTP_GLOBAL_SENDS_PER_HOUR = 2  # the two codes sent so far
    assert send(client, "+989121234569").status_code == 429  # the whole service's
    otp_settings.PHONE_ALLOWED_REGIONS = ["IR"]
    assert send(client, "+79991234567").status_code == 400  # a Russian number where only IR is taken
    assert client.post("/api/authenticate/", {"mobile_number": "+79991234567", "code": "123456"},
                       format="json").status_code == 400  # not a code request: not counted

    assert {reason: refusals(reason) - before[reason] for reason in reasons} == dict.fromkeys(reasons, 1)
    assert value("hotline_otp_codes_sent_total") == sent + 2


def test_code_checks_by_outcome(client, sms, otp_settings):
    def outcome(name: str) -> float:
        return value("hotline_authentications_total", method="sms", outcome=name)

    before = {name: outcome(name) for name in ("success", "invalid_code", "rate_limited", "disabled")}
    assert send(client).status_code == 200
    code = sms.last_code(NUMBER)
    auth = {"mobile_number": NUMBER}
    assert client.post("/api/authenticate/", {**auth, "code": wrong_code(code)}, format="json").status_code == 401
    User.objects.create_user(mobile_number=NUMBER, is_active=False)
    assert client.post("/api/authenticate/", {**auth, "code": code}, format="json").status_code == 403
    User.objects.filter(mobile_number=NUMBER).update(is_active=True)
    assert client.post("/api/authenticate/", {**auth, "code": code}, format="json").status_code == 200
    otp_settings.OTP_FAILURES_PER_IP_PER_HOUR = 1
    assert client.post("/api/authenticate/", {**auth, "code": code}, format="json").status_code == 429

    assert {name: outcome(name) - before[name] for name in before} == {
        "success": 1, "invalid_code": 1, "rate_limited": 1, "disabled": 1}
