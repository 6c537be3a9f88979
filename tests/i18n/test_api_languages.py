"""API errors keep their stable `code`; only the words (`detail`, `error`) follow Accept-Language.
And digits typed on Persian, Arabic and Chinese keyboards are read as digits, in numbers and codes."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from otp.services import code_normalize
from tests.otp.conftest import SmsSpy

pytestmark = pytest.mark.django_db

DETAILS = {
    "en": 'kind must be "direct" or "group".',
    "fa": "مقدار kind باید «direct» یا «group» باشد.",
    "zh-hans": "kind 必须是“direct”或“group”。",
    "ru": "kind должен быть «direct» или «group».",
}


@pytest.mark.parametrize("language", DETAILS)
def test_a_chat_error_keeps_its_code_and_translates_its_detail(auth_client, language):
    client, _ = auth_client()
    response = client.post("/api/chat/rooms/", {"kind": "channel"}, format="json", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 400
    assert response.json() == {"code": "invalid", "detail": DETAILS[language]}
    assert response["Content-Language"] == language


RATE_LIMITED = {
    "fa": "درخواست‌ها بیش از حد مجاز است. کمی بعد دوباره امتحان کنید.",
    "zh-hans": "请求过于频繁，请稍后再试。",
    "ru": "Слишком много запросов. Попробуйте позже.",
}


@pytest.mark.parametrize("language", RATE_LIMITED)
def test_a_rate_limited_reply_translates_its_detail_and_keeps_retry_after(settings, monkeypatch, language):
    settings.OTP_SENDS_PER_IP_PER_HOUR = 1
    settings.OTP_RESEND_SECONDS = 0
    monkeypatch.setattr("otp.services.sms_otp_send", SmsSpy())
    client = APIClient(REMOTE_ADDR="203.0.113.9", HTTP_ACCEPT_LANGUAGE=language)
    assert client.post("/api/otp/send/", {"mobile_number": "+989121234567"}, format="json").status_code == 200
    refused = client.post("/api/otp/send/", {"mobile_number": "+989121234568"}, format="json")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert refused.json()["detail"] == RATE_LIMITED[language]


INVALID_CODE = {
    "fa": "کد نادرست است یا منقضی شده است.",
    "zh-hans": "验证码错误或已过期。",
    "ru": "Неверный или просроченный код.",
}


@pytest.mark.parametrize("language", INVALID_CODE)
def test_a_wrong_code_is_refused_in_the_requests_language(language):
    client = APIClient(HTTP_ACCEPT_LANGUAGE=language)
    response = client.post("/api/authenticate/", {"mobile_number": "+989121234567", "code": "123456"}, format="json")
    assert response.status_code == 401 and response.json() == {"error": INVALID_CODE[language]}


def test_field_errors_are_translated_too():
    client = APIClient(HTTP_ACCEPT_LANGUAGE="ru")
    response = client.post("/api/otp/send/", {"mobile_number": "12"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"mobile_number": ["Введите правильный номер в международном формате, например +989121234567."]}


@pytest.mark.parametrize(
    "typed",
    ["+۹۸۹۱۲۱۲۳۴۵۶۷", "+٩٨٩١٢١٢٣٤٥٦٧", "+９８９１２１２３４５６７", "۹۸۹۱۲۱۲۳۴۵۶۷", "+98 ۹۱۲ ۱۲۳ ۴۵۶۷"],
)
def test_numbers_typed_with_persian_arabic_or_full_width_digits_are_accepted(monkeypatch, typed):
    spy = SmsSpy()
    monkeypatch.setattr("otp.services.sms_otp_send", spy)
    response = APIClient().post("/api/otp/send/", {"mobile_number": typed}, format="json")
    assert response.status_code == 200, response.content
    assert [sent["to"] for sent in spy.sent] == ["+989121234567"]


@pytest.mark.parametrize("digits", ["۰۱۲۳۴۵۶۷۸۹", "٠١٢٣٤٥٦٧٨٩", "０１２３４５６７８９"])
def test_codes_typed_with_other_digits_are_normalised(digits):
    assert code_normalize(f" {digits} ") == "0123456789"


@pytest.mark.parametrize("to_digits", [str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"), str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")])
def test_a_code_typed_in_persian_or_arabic_digits_logs_in(monkeypatch, settings, to_digits):
    settings.OTP_LENGTH = 6
    spy = SmsSpy()
    monkeypatch.setattr("otp.services.sms_otp_send", spy)
    client = APIClient()
    assert client.post("/api/otp/send/", {"mobile_number": "+989121234567"}, format="json").status_code == 200
    code = spy.last_code("+989121234567")
    typed = code.translate(to_digits)
    assert typed != code
    response = client.post("/api/authenticate/", {"mobile_number": "+۹۸۹۱۲۱۲۳۴۵۶۷", "code": typed}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["user"]["mobile_number"] == "+989121234567"
