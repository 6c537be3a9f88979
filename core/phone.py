"""Phone number parsing shared by every flow that takes a number from a person."""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from phonenumbers import PhoneNumberType

from core.i18n import ascii_digits

_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


def parse_mobile_number(raw: object) -> str:
    """Return `raw` as an E.164 string, or raise ValidationError with a message for the person.

    National formats (e.g. 09121234567) are read in PHONE_DEFAULT_REGION when it is set.
    Only mobile numbers are accepted, and only from PHONE_ALLOWED_REGIONS when that is set.
    """
    if not isinstance(raw, (str, int)) or isinstance(raw, bool):
        raise ValidationError(_("Enter a phone number."), code="invalid")
    text = ascii_digits(str(raw).strip())
    if not text:
        raise ValidationError(_("Enter a phone number."), code="required")
    if len(text) > 32:
        raise ValidationError(_("Enter a valid phone number."), code="invalid")
    if text.isdigit() and not text.startswith("0") and settings.PHONE_DEFAULT_REGION is None:
        # auth4app and many clients send international numbers without "+" (e.g. 79991234567).
        text = "+" + text
    try:
        number = phonenumbers.parse(text, settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            _("Enter a valid phone number in international format, e.g. +989121234567."), code="invalid"
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(_("Enter a valid phone number."), code="invalid")
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise ValidationError(_("Enter a mobile phone number."), code="not_mobile")
    region = phonenumbers.region_code_for_number(number)
    if settings.PHONE_ALLOWED_REGIONS and region not in settings.PHONE_ALLOWED_REGIONS:
        raise ValidationError(_("Phone numbers from this country are not accepted."), code="region")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def region_of(e164: str) -> str | None:
    """The ISO 3166-1 region of an E.164 number (`+989121234567` -> `IR`), or None when unknown."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None


def mask_phone(e164: str) -> str:
    """+989121234567 -> +98912***4567, for logs."""
    if len(e164) < 8:
        return "***"
    return e164[:6] + "***" + e164[-4:]
