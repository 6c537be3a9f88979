"""What SMS delivery counts: each provider's answers and each message's end, by provider."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from sms import services

pytestmark = pytest.mark.django_db


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_provider_results_and_finished_messages(sms_settings, task_queue, fake_provider, time_machine):
    time_machine.move_to("2030-01-01 12:00:00Z")
    fake, _ = fake_provider("kavenegar")
    sms_settings.SMS_PROVIDER = "kavenegar"
    sms_settings.SMS_FALLBACK_PROVIDERS = ["console"]
    sms_settings.SMS_MAX_ATTEMPTS_PER_PROVIDER = 2
    names = [("kavenegar", "retryable"), ("kavenegar", "permanent"), ("kavenegar", "sent"), ("console", "sent")]
    before = {key: value("hotline_sms_provider_results_total", provider=key[0], outcome=key[1]) for key in names}
    finished = {key: value("hotline_sms_messages_finished_total", provider=key[0], status=key[1])
                for key in [("kavenegar", "sent"), ("console", "sent"), ("kavenegar", "failed")]}

    fake.modes = ["retryable", "permanent"]  # a retry, then failover to the console provider
    services.message_send(to="+989121234567", text="first")
    task_queue.run_all(time_machine)
    services.message_send(to="+989121234568", text="second")  # sent at once
    task_queue.run_all(time_machine)
    sms_settings.SMS_FALLBACK_PROVIDERS = []
    fake.modes = ["permanent"]  # no fallback: the message fails for good
    services.message_send(to="+989121234569", text="third")
    task_queue.run_all(time_machine)

    assert {key: value("hotline_sms_provider_results_total", provider=key[0], outcome=key[1]) - before[key]
            for key in names} == {("kavenegar", "retryable"): 1, ("kavenegar", "permanent"): 2,
                                  ("kavenegar", "sent"): 1, ("console", "sent"): 1}
    assert {key: value("hotline_sms_messages_finished_total", provider=key[0], status=key[1]) - finished[key]
            for key in finished} == {("kavenegar", "sent"): 1, ("console", "sent"): 1, ("kavenegar", "failed"): 1}
