import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import RequestFactory, override_settings

from core import ratelimit
from core.net import client_ip, scope_client_ip
from core.phone import mask_phone, parse_mobile_number


def test_parses_international_and_normalises():
    assert parse_mobile_number("+98 912 123 4567") == "+989121234567"
    assert parse_mobile_number("79991234567") == "+79991234567"


@override_settings(PHONE_DEFAULT_REGION="IR")
def test_national_format_uses_default_region():
    assert parse_mobile_number("09121234567") == "+989121234567"


@pytest.mark.parametrize("raw", ["", "abc", "+1", None, 12.5, "+9821" + "12345678", "9" * 40])
def test_rejects_bad_or_landline_numbers(raw):
    with pytest.raises(ValidationError):
        parse_mobile_number(raw)


@override_settings(PHONE_ALLOWED_REGIONS=["IR"])
def test_region_allowlist():
    assert parse_mobile_number("+989121234567")
    with pytest.raises(ValidationError) as info:
        parse_mobile_number("+79991234567")
    assert info.value.code == "region"


def test_mask_phone():
    assert mask_phone("+989121234567") == "+98912***4567"


def test_forwarded_for_ignored_unless_trusted():
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="6.6.6.6", REMOTE_ADDR="10.0.0.1")
    assert client_ip(request) == "10.0.0.1"
    with override_settings(TRUSTED_PROXY_COUNT=1):
        request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 1.2.3.4", REMOTE_ADDR="10.0.0.1")
        assert client_ip(request) == "1.2.3.4"
    scope = {"client": ("10.0.0.2", 1), "headers": [(b"x-forwarded-for", b"6.6.6.6")]}
    assert scope_client_ip(scope) == "10.0.0.2"


def test_fewer_forwarded_hops_than_trusted_proxies_means_the_peer():
    with override_settings(TRUSTED_PROXY_COUNT=2):
        full = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 1.2.3.4, 10.0.0.9", REMOTE_ADDR="10.0.0.1")
        assert client_ip(full) == "1.2.3.4"
        # One hop where two proxies would have appended two: the client wrote it (today: 6.6.6.6 was used).
        short = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="6.6.6.6", REMOTE_ADDR="10.0.0.1")
        assert client_ip(short) == "10.0.0.1"
        scope = {"client": ("10.0.0.2", 1), "headers": [(b"x-forwarded-for", b"6.6.6.6")]}
        assert scope_client_ip(scope) == "10.0.0.2"


def test_fixed_window_limit_and_retry_after():
    rate = ratelimit.Rate(limit=2, period=60)
    with time_machine.travel(1_800_000_000, tick=False):
        assert ratelimit.consume("t:a", rate).allowed
        assert ratelimit.consume("t:a", rate).allowed
        verdict = ratelimit.consume("t:a", rate)
        assert not verdict.allowed and verdict.retry_after == 60 - (1_800_000_000 % 60)
        assert ratelimit.consume("t:b", rate).allowed
    with time_machine.travel(1_800_000_000 + 61, tick=False):
        assert ratelimit.consume("t:a", rate).allowed


def test_a_trusted_hop_that_is_not_an_ip_is_unknown():
    with override_settings(TRUSTED_PROXY_COUNT=1):
        request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="not-an-ip", REMOTE_ADDR="10.0.0.1")
        assert client_ip(request) is None
        request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="2001:DB8::1", REMOTE_ADDR="10.0.0.1")
        assert client_ip(request) == "2001:db8::1"
    scope = {"client": ("testclient", 1), "headers": []}
    assert scope_client_ip(scope) is None
