"""SMS providers: one small module per provider behind one interface (sms.providers.base.Provider),
chosen by name like Django's mail backends. Adding a provider touches its module, this table and its test."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from .base import Outcome, OutgoingSMS, Provider, SendResult

PROVIDER_CLASSES = {
    "console": "sms.providers.console.ConsoleProvider",
    "locmem": "sms.providers.locmem.LocmemProvider",
    "kavenegar": "sms.providers.kavenegar.KavenegarProvider",
    "melipayamak": "sms.providers.melipayamak.MelipayamakProvider",
    "parsianwebco": "sms.providers.parsianwebco.ParsianwebcoProvider",
    "cloopen": "sms.providers.cloopen.CloopenProvider",
    "twilio": "sms.providers.twilio.TwilioProvider",
}


class UnknownProvider(LookupError):
    pass


def get_provider(name: str) -> Provider:
    """The configured provider called `name` (a key of PROVIDER_CLASSES, or a dotted class path)."""
    path = PROVIDER_CLASSES.get(name) or (name if "." in name else None)
    if path is None:
        raise UnknownProvider(name)
    cls = import_string(path)
    return cls(config=dict(settings.SMS_PROVIDERS.get(name, {})), timeout=settings.SMS_HTTP_TIMEOUT_SECONDS)


def provider_chain() -> list[str]:
    """SMS_PROVIDER then SMS_FALLBACK_PROVIDERS, without repeats."""
    chain: list[str] = []
    for name in [settings.SMS_PROVIDER, *settings.SMS_FALLBACK_PROVIDERS]:
        if name and name not in chain:
            chain.append(name)
    return chain


__all__ = ["Outcome", "OutgoingSMS", "Provider", "SendResult", "get_provider", "provider_chain", "UnknownProvider"]
