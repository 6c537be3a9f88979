"""SMS part counting (sms.encoding) and the startup checks of the code SMS texts (sms.checks)."""

from __future__ import annotations

import pytest

from sms.checks import check_otp_texts
from sms.encoding import GSM7, UCS2, sms_size


@pytest.mark.parametrize(
    "text, encoding, units, parts",
    [
        ("a" * 160, GSM7, 160, 1),
        ("a" * 161, GSM7, 161, 2),  # 153 septets per part once split
        ("a" * 306, GSM7, 306, 2),
        ("a" * 307, GSM7, 307, 3),
        ("€" * 80, GSM7, 160, 1),  # extension characters take two septets
        ("{" * 81, GSM7, 162, 2),
        ("é" + "a" * 159, GSM7, 160, 1),  # é is in the GSM alphabet
        ("ж" * 70, UCS2, 70, 1),
        ("ж" * 71, UCS2, 71, 2),  # 67 per part once split
        ("a" * 159 + "ж", UCS2, 160, 3),  # one character outside GSM-7 turns the whole text UCS-2
        ("۱" * 70, UCS2, 70, 1),
        ("验" * 134, UCS2, 134, 2),
        ("😀" * 35, UCS2, 70, 1),  # outside the BMP: two UTF-16 code units each
        ("", GSM7, 0, 0),
    ],
)
def test_sms_size(text, encoding, units, parts):
    size = sms_size(text)
    assert (size.encoding, size.units, size.parts) == (encoding, units, parts)


def test_the_shipped_texts_pass_the_checks():
    assert check_otp_texts(None) == []


def test_a_text_without_its_code_or_missing_for_a_language_stops_the_server(settings):
    settings.SMS_OTP_TEXTS = {**settings.SMS_OTP_TEXTS, "fa": "کد شما آماده است.", "ru": "Код {cod}"}
    del settings.SMS_OTP_TEXTS["zh-hans"]
    ids = sorted(problem.id for problem in check_otp_texts(None))
    assert ids == ["sms.E001", "sms.E002", "sms.E003"]


def test_a_text_longer_than_one_part_is_warned_about(settings):
    settings.SMS_OTP_TEXTS = {**settings.SMS_OTP_TEXTS, "ru": "Ваш код для входа в hotline: {code}. Действует {minutes} мин. Никому его не сообщайте."}
    [warning] = check_otp_texts(None)
    assert warning.id == "sms.W001" and "'ru'" in warning.msg and "2 parts" in warning.msg
