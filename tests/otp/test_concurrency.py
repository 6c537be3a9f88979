"""Races: the right code posted N times at once logs in exactly once, and parallel guesses
never get more comparisons than the attempt cap. Real threads, each with its own database
connection, against the configured database (PostgreSQL in CI)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import connection

from accounts.models import LoginSession
from otp import services
from otp.models import Challenge
from tests.receivers import receiving

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("otp_settings")]

NUMBER = "+989121234567"


def _post_all_at_once(bodies: list[dict]) -> list[int]:
    from rest_framework.test import APIClient

    barrier = threading.Barrier(len(bodies))

    def post(body):
        try:
            client = APIClient(REMOTE_ADDR="203.0.113.7")
            barrier.wait(timeout=10)
            return client.post("/api/authenticate/", body, format="json").status_code
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_right_code_posted_in_parallel_logs_in_exactly_once(otp_settings, sms):
    threads = 12
    otp_settings.OTP_MAX_ATTEMPTS = threads  # every request gets past the attempt claim and races to consume
    services.otp_code_send(mobile_number=NUMBER, ip="203.0.113.7")
    code = sms.last_code(NUMBER)
    with receiving(user_logged_in) as logins, receiving(user_login_failed) as failures:
        statuses = _post_all_at_once([{"mobile_number": NUMBER, "code": code}] * threads)
    assert sorted(statuses) == [200] + [401] * (threads - 1)
    assert LoginSession.objects.count() == 1
    # Django's auth signals agree: one login, and every request that lost the race failed.
    assert len(logins) == 1 and len(failures) == threads - 1
    assert Challenge.objects.get().consumed_at is not None


def test_the_consuming_update_has_exactly_one_winner(otp_settings, sms):
    """The last step alone, with every thread past the code check at once."""
    services.otp_code_send(mobile_number=NUMBER, ip="203.0.113.7")
    challenge = Challenge.objects.get()
    threads = 12
    barrier = threading.Barrier(threads)

    def consume(_):
        try:
            barrier.wait(timeout=10)
            return services._consume(challenge.pk)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        won = list(pool.map(consume, range(threads)))
    assert won.count(True) == 1


def test_parallel_guesses_get_no_more_comparisons_than_the_cap(otp_settings, sms, monkeypatch):
    otp_settings.OTP_MAX_ATTEMPTS = 5
    services.otp_code_send(mobile_number=NUMBER, ip="203.0.113.7")
    code = sms.last_code(NUMBER)
    compared = []
    real_digest = services.code_digest
    monkeypatch.setattr(services, "code_digest", lambda **kw: compared.append(1) or real_digest(**kw))
    guesses = [f"{(int(code) + i) % 10**6:06d}" for i in range(1, 17)]  # 16 distinct wrong codes
    statuses = _post_all_at_once([{"mobile_number": NUMBER, "code": g} for g in guesses])
    assert statuses == [401] * 16
    assert len(compared) == 5
    assert Challenge.objects.get().attempts == 5
    # and the code is dead now, right or not
    assert _post_all_at_once([{"mobile_number": NUMBER, "code": code}]) == [401]
