"""Races on binding one identity: exactly one bind wins. Real threads, each with its own database
connection, against the configured database (PostgreSQL in CI)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from accounts.models import LoginSession
from devtools.social_simulator import FAKE_WEIBO_USERS
from otp.services import otp_code_send
from social.models import SocialIdentity

from .conftest import weibo_login

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("social_settings")]

ZAKU = FAKE_WEIBO_USERS[0]["uid"]


def _bind_all_at_once(bodies: list[dict]) -> list[int]:
    from rest_framework.test import APIClient

    barrier = threading.Barrier(len(bodies))

    def post(body):
        try:
            client = APIClient(REMOTE_ADDR="203.0.113.9")
            barrier.wait(timeout=10)
            return client.post("/api/oauth/bind/", body, format="json").status_code
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, bodies))


def _numbers_with_codes(sms, count: int) -> list[tuple[str, str]]:
    numbers = [f"+98912555{i:04d}" for i in range(count)]
    for number in numbers:
        otp_code_send(mobile_number=number, ip="203.0.113.9")
    return [(number, sms.last_code(number)) for number in numbers]


def test_two_devices_binding_one_weibo_account_to_two_numbers_exactly_one_wins(client, sms):
    from rest_framework.test import APIClient

    tokens = [weibo_login(device, ZAKU).json()["bind_token"] for device in (client, APIClient(REMOTE_ADDR="203.0.113.10"))]
    (first, first_code), (second, second_code) = _numbers_with_codes(sms, 2)

    statuses = _bind_all_at_once([
        {"bind_token": tokens[0], "mobile_number": first, "code": first_code},
        {"bind_token": tokens[1], "mobile_number": second, "code": second_code},
    ])

    assert sorted(statuses) == [200, 409]
    identity = SocialIdentity.objects.get()
    assert identity.uid == ZAKU
    assert LoginSession.objects.count() == 1
    assert LoginSession.objects.get().user == identity.user


def test_one_bind_token_posted_with_many_numbers_at_once_binds_once(client, sms):
    token = weibo_login(client, ZAKU).json()["bind_token"]
    pairs = _numbers_with_codes(sms, 8)

    statuses = _bind_all_at_once([{"bind_token": token, "mobile_number": n, "code": c} for n, c in pairs])

    assert statuses.count(200) == 1
    assert set(statuses) <= {200, 400, 409}  # 400 when the winner already spent the token
    assert SocialIdentity.objects.count() == 1 and LoginSession.objects.count() == 1
