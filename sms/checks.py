"""Startup checks of the SMS texts: a code SMS without its code, or one that no longer fits one part,
must not go unnoticed until people complain."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register

from .encoding import sms_size

# The longest values the templates can be filled with: OTP_LENGTH and OTP_TTL_SECONDS are bounded.
LONGEST_CODE = "9" * 10
LONGEST_MINUTES = 10


@register()
def check_otp_texts(app_configs, **kwargs):
    problems = []
    for language, _name in settings.LANGUAGES:
        template = settings.SMS_OTP_TEXTS.get(language)
        if not template:
            problems.append(Error(f"SMS_OTP_TEXTS has no text for {language!r}.", id="sms.E001"))
            continue
        try:
            text = template.format(code=LONGEST_CODE, minutes=LONGEST_MINUTES)
        except (KeyError, IndexError, ValueError) as exc:
            problems.append(Error(f"The {language!r} code SMS text does not format: {exc!r}.", id="sms.E002"))
            continue
        if "{code}" not in template:
            problems.append(Error(f"The {language!r} code SMS text has no {{code}}.", id="sms.E003"))
        size = sms_size(text)
        if size.parts > 1:
            problems.append(
                Warning(
                    f"The {language!r} code SMS takes {size.parts} parts ({size.units} {size.encoding} units "
                    "with a 10-digit code): every code is billed that many times.",
                    id="sms.W001",
                )
            )
    return problems
