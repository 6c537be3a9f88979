"""Every adapter against a fake of its provider on 127.0.0.1, through the real httpx client code."""

from __future__ import annotations

import pytest

from sms.providers import Outcome, OutgoingSMS, get_provider
from tests.sms.fakes import FAKES

# Expected (code, detail fragment) per provider for the fakes' retryable and permanent answers.
EXPECTED = {
    "kavenegar": {"retryable": ("409", "busy"), "permanent": ("418", "credit")},
    "melipayamak": {"retryable": ("http_500", "unexpected error"), "permanent": ("9", "InvalidNumber")},
    "parsianwebco": {"retryable": ("http_503", "Unavailable"), "permanent": ("401", "not authenticated")},
    "cloopen": {"retryable": ("160000", "system error"), "permanent": ("160042", "number format")},
    "twilio": {"retryable": ("20429", "Too Many"), "permanent": ("21610", "unsubscribed")},
}
TEMPLATE_ONLY = {"parsianwebco", "cloopen"}


def outgoing(name: str, **extra) -> OutgoingSMS:
    if name in TEMPLATE_ONLY:
        extra.setdefault("template_id", "55")
        extra.setdefault("params", ("Ali", "42"))
    return OutgoingSMS(to="+989121234567", text="hello from hotline", **extra)


@pytest.mark.parametrize("name", sorted(FAKES))
def test_success_returns_provider_message_id(name, fake_provider):
    fake, server = fake_provider(name)
    result = get_provider(name).send(outgoing(name))
    assert result.outcome == Outcome.SENT, result
    if name != "parsianwebco":  # its documented reply carries only a status
        assert result.message_id
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", ["retryable", "permanent"])
@pytest.mark.parametrize("name", sorted(FAKES))
def test_errors_keep_provider_code_and_message(name, mode, fake_provider):
    fake, server = fake_provider(name)
    fake.mode = mode
    result = get_provider(name).send(outgoing(name))
    code, detail = EXPECTED[name][mode]
    assert (result.outcome, result.code) == (Outcome(mode), code)
    assert detail in result.detail


@pytest.mark.parametrize("name", sorted(FAKES))
def test_timeout_is_retryable(name, fake_provider):
    fake, server = fake_provider(name)
    fake.mode = "timeout"
    result = get_provider(name).send(outgoing(name))
    assert (result.outcome, result.code) == (Outcome.RETRYABLE, "timeout")


@pytest.mark.parametrize("name", sorted(FAKES))
def test_bad_credentials_are_permanent(name, fake_provider, settings):
    fake, server = fake_provider(name)
    config = settings.SMS_PROVIDERS[name]
    for key in ("API_KEY", "PASSWORD", "TOKEN", "AUTH_TOKEN"):
        if key in config:
            config[key] = "wrong"
    result = get_provider(name).send(outgoing(name))
    assert result.outcome == Outcome.PERMANENT
    assert "wrong" not in result.detail


@pytest.mark.parametrize("name", sorted(FAKES))
def test_missing_configuration_is_permanent_without_a_call(name, fake_provider, settings):
    fake, server = fake_provider(name)
    settings.SMS_PROVIDERS[name] = {"API_URL": server.url}
    result = get_provider(name).send(outgoing(name))
    assert (result.outcome, result.code) == (Outcome.PERMANENT, "not_configured")
    assert server.requests == []


def test_unreachable_provider_is_retryable(settings):
    from tests.servers import free_port

    settings.SMS_PROVIDERS = {"twilio": {**FAKES["twilio"].config, "API_URL": f"http://127.0.0.1:{free_port()}"}}
    result = get_provider("twilio").send(outgoing("twilio"))
    assert (result.outcome, result.code) == (Outcome.RETRYABLE, "network")


def test_template_only_providers_refuse_plain_text(fake_provider):
    for name in TEMPLATE_ONLY:
        fake, server = fake_provider(name)
        result = get_provider(name).send(OutgoingSMS(to="+989121234567", text="plain"))
        assert (result.outcome, result.code) == (Outcome.PERMANENT, "template_required")
        assert server.requests == []


def test_wire_details(fake_provider):
    """Spot checks of fields the fakes accept loosely."""
    _, kave = fake_provider("kavenegar")
    get_provider("kavenegar").send(OutgoingSMS(to="+989121234567", text="hi"))
    assert kave.requests[0].path.endswith("/sms/send.json")
    assert kave.requests[0].form() == {"receptor": "09121234567", "message": "hi", "sender": "10004346"}

    _, twilio = fake_provider("twilio")
    get_provider("twilio").send(OutgoingSMS(to="+14155550123", text="hi"))
    assert twilio.requests[0].form() == {"To": "+14155550123", "Body": "hi", "From": "+15005550006"}

    _, cloopen = fake_provider("cloopen")
    get_provider("cloopen").send(OutgoingSMS(to="+8613800000000", text="x", code="6532", ttl_seconds=300))
    assert cloopen.requests[0].json() == {"to": "13800000000", "appId": "app-1", "templateId": "1",
                                          "datas": ["6532", "5"]}

    _, meli = fake_provider("melipayamak")
    get_provider("melipayamak").send(OutgoingSMS(to="+989121234567", text="x", code="4321"))
    assert meli.requests[0].path == "/api/SendSMS/BaseServiceNumber"
    assert meli.requests[0].form() == {"username": "meli-user", "password": "meli-pass", "text": "4321",
                                       "to": "09121234567", "bodyId": "12345"}

    _, parsian = fake_provider("parsianwebco")
    get_provider("parsianwebco").send(OutgoingSMS(to="+989121234567", text="x", code="4321"))
    assert parsian.requests[0].form() == {"token": "parsian-token", "TemplateID": "77", "MessageVars": "4321",
                                          "Receiver": "09121234567", "delay": "1"}
