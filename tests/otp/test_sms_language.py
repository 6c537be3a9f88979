"""A code SMS is written in its reader's language: the user's choice, else the number's country when it
is one of ours, else the language of the request that asked for it, else English (docs/i18n.md). Each
goes through the real outbox and delivery (the locmem provider keeps what the provider was given) and
fits one SMS part."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from core import background
from sms.encoding import UCS2, sms_size
from sms.models import Message
from sms.providers import locmem

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("otp_settings")]

IRAN, CHINA, RUSSIA = "+989121234567", "+8613800138000", "+79161234567"
USA, UK = "+12015550123", "+447400123456"

# What the reader sees, with the code in place of {code}; the texts themselves are settings.
EXPECTED_START = {
    "fa": "کد ورود شما به hotline: ",
    "zh-hans": "【hotline】您的登录验证码是",
    "ru": "Код для входа в hotline: ",
    "en": "Your hotline code is ",
}


@pytest.fixture
def delivered(monkeypatch, settings):
    """Runs each SMS task at once (after commit, in this thread) through the locmem provider."""
    settings.SMS_PROVIDER = "locmem"
    settings.SMS_FALLBACK_PROVIDERS = []
    queued: list = []
    monkeypatch.setattr(background, "enqueue", lambda task, *args, **kwargs: queued.append((task, args)))
    locmem.outbox.clear()

    def run() -> list:
        while queued:
            task, args = queued.pop(0)
            task.apply(args=args, throw=True)
        return list(locmem.outbox)

    yield run
    locmem.outbox.clear()


def send(client, number: str, **headers):
    response = client.post("/api/otp/send/", {"mobile_number": number}, format="json", **headers)
    assert response.status_code == 200, response.content
    return response


def the_sms(delivered, number: str):
    [sms] = [sms for sms in delivered() if sms.to == number]
    return sms


@pytest.mark.parametrize(
    "number, language",
    [(IRAN, "fa"), (CHINA, "zh-hans"), (RUSSIA, "ru"), (USA, "en")],
)
def test_the_code_sms_speaks_the_language_of_the_numbers_country_in_one_part(client, delivered, number, language):
    send(client, number)
    sms = the_sms(delivered, number)
    code = re.search(r"\d{6}", sms.text).group(0)
    assert sms.text == settings.SMS_OTP_TEXTS[language].format(code=code, minutes=5)
    assert sms.text.startswith(EXPECTED_START[language])
    size = sms_size(sms.text)
    assert size.parts == 1, size
    if language != "en":
        assert size.encoding == UCS2  # the 70-character limit is the one that applies
    # The outbox row keeps the language and the text with the code masked.
    row = Message.objects.get(to=number)
    assert row.language == language and code not in row.text and "******" in row.text


def test_a_users_own_language_wins_over_the_country(client, delivered, user_factory):
    user_factory(IRAN, language="ru")
    send(client, IRAN, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert the_sms(delivered, IRAN).text.startswith(EXPECTED_START["ru"])


def test_a_user_without_a_choice_gets_the_countrys_language(client, delivered, user_factory):
    user_factory(CHINA)
    send(client, CHINA, HTTP_ACCEPT_LANGUAGE="ru")
    assert the_sms(delivered, CHINA).text.startswith(EXPECTED_START["zh-hans"])


def test_a_number_from_elsewhere_gets_the_requests_language_then_english(client, delivered):
    send(client, UK, HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9,en;q=0.5")
    assert the_sms(delivered, UK).text.startswith(EXPECTED_START["ru"])
    send(client, USA, HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")  # not one of ours
    assert the_sms(delivered, USA).text.startswith(EXPECTED_START["en"])


@pytest.mark.parametrize("language", ["fa", "zh-hans", "ru", "en"])
def test_every_code_text_fits_one_part_with_the_longest_code_and_ttl(language):
    text = settings.SMS_OTP_TEXTS[language].format(code="9" * 10, minutes=10)  # OTP_LENGTH <= 10, TTL <= 10 min
    size = sms_size(text)
    assert size.parts == 1, (language, size)
    assert size.units <= (160 if language == "en" else 70)
