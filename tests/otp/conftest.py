from __future__ import annotations

import pytest


@pytest.fixture
def otp_settings(settings):
    """Known OTP settings for every test; tests change single values on the returned object."""
    settings.OTP_LENGTH = 6
    settings.OTP_TTL_SECONDS = 300
    settings.OTP_MAX_ATTEMPTS = 5
    settings.OTP_RESEND_SECONDS = 60
    settings.OTP_SENDS_PER_NUMBER_PER_HOUR = 5
    settings.OTP_SENDS_PER_IP_PER_HOUR = 20
    settings.OTP_FAILURES_PER_NUMBER_PER_HOUR = 20
    settings.OTP_FAILURES_PER_IP_PER_HOUR = 30
    settings.OTP_GLOBAL_SENDS_PER_HOUR = 1000
    settings.TRUSTED_PROXY_COUNT = 0
    settings.PHONE_DEFAULT_REGION = None
    settings.PHONE_ALLOWED_REGIONS = []
    return settings


class SmsSpy:
    """Stands in for the SMS gateway: remembers each code handed to it, by number."""

    def __init__(self):
        self.sent: list[dict] = []

    def __call__(self, *, to: str, code: str, ttl_seconds: int, language: str) -> None:
        self.sent.append({"to": to, "code": code, "ttl_seconds": ttl_seconds, "language": language})

    def last_code(self, to: str) -> str:
        codes = [item["code"] for item in self.sent if item["to"] == to]
        assert codes, f"no code was sent to {to}"
        return codes[-1]


@pytest.fixture
def sms(monkeypatch):
    spy = SmsSpy()
    monkeypatch.setattr("otp.services.sms_otp_send", spy)
    return spy


@pytest.fixture
def client():
    from rest_framework.test import APIClient

    return APIClient(REMOTE_ADDR="203.0.113.7")


def wrong_code(code: str) -> str:
    """A well-formed code that is not `code`."""
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"
