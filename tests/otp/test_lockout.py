"""Denial of login for someone else (issue 15): one host guessing at a victim's number must not lock
the victim out, every limit check stops at its first refusal, and failure budgets are counted
atomically. Also: a send that failed spends no limit (issue 21), a disabled account gets 403."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
import time_machine
from django.db import OperationalError, connection
from rest_framework.test import APIClient

from accounts.models import LoginSession
from otp import services
from otp.models import Challenge

from .conftest import wrong_code

pytestmark = pytest.mark.usefixtures("otp_settings")

VICTIM = "+989121234567"
ATTACKER_IP = "198.51.100.66"
VICTIM_IP = "203.0.113.7"
HOUR_START = 1_899_997_200


def send(client, number=VICTIM):
    return client.post("/api/otp/send/", {"mobile_number": number}, format="json")


def authenticate(client, code, number=VICTIM):
    return client.post("/api/authenticate/", {"mobile_number": number, "code": code}, format="json")


@pytest.mark.django_db
def test_wrong_tries_for_a_number_nobody_sent_a_code_to_do_not_lock_its_owner_out(sms):
    attacker = APIClient(REMOTE_ADDR=ATTACKER_IP)
    with time_machine.travel(HOUR_START + 10, tick=False):
        # Today's attack: 20 wrong tries from one IP for a number with no code sent.
        assert [authenticate(attacker, f"{i:06d}").status_code for i in range(20)] == [401] * 20
        owner = APIClient(REMOTE_ADDR=VICTIM_IP)
        assert send(owner).status_code == 200
        response = authenticate(owner, sms.last_code(VICTIM))
    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_failures_are_budgeted_per_ip_and_a_refused_try_spends_nothing_after(sms, otp_settings):
    otp_settings.OTP_FAILURES_PER_IP_PER_HOUR = 30
    otp_settings.OTP_MAX_ATTEMPTS = 100
    owner = APIClient(REMOTE_ADDR=VICTIM_IP)
    attacker = APIClient(REMOTE_ADDR=ATTACKER_IP)
    with time_machine.travel(HOUR_START + 100, tick=False):
        assert send(owner).status_code == 200
        code = sms.last_code(VICTIM)
        for i in range(30):
            assert authenticate(attacker, f"{i:06d}", number=f"+98912000{i:04d}").status_code == 401
        refused = authenticate(attacker, wrong_code(code))
        assert refused.status_code == 429 and refused["Retry-After"] == "3500"
        # The refused try claimed nothing on the victim's live code.
        assert Challenge.objects.get(mobile_number=VICTIM).attempts == 0
        assert authenticate(attacker, code).status_code == 429  # not even the right code, from that IP
        assert authenticate(owner, code).status_code == 200  # another IP is not affected


@pytest.mark.django_db
def test_a_right_code_is_not_a_failure(sms, otp_settings):
    otp_settings.OTP_FAILURES_PER_IP_PER_HOUR = 2
    otp_settings.OTP_RESEND_SECONDS = 0
    client = APIClient(REMOTE_ADDR=VICTIM_IP)
    with time_machine.travel(HOUR_START + 100, tick=False) as traveller:
        for _ in range(4):
            traveller.shift(1)
            send(client)
            assert authenticate(client, sms.last_code(VICTIM)).status_code == 200


@pytest.mark.django_db
def test_a_disabled_account_gets_403_and_no_session(sms, user_factory):
    user = user_factory(VICTIM, is_active=False)
    client = APIClient(REMOTE_ADDR=VICTIM_IP)
    send(client)
    response = authenticate(client, sms.last_code(VICTIM))
    assert response.status_code == 403
    assert response.json() == {"error": "This account is disabled.", "code": "inactive"}
    assert not LoginSession.objects.filter(user=user).exists()


def _post_all_at_once(bodies: list[dict], ip=lambda i: ATTACKER_IP) -> list[int]:
    barrier = threading.Barrier(len(bodies))

    def post(item):
        index, body = item
        try:
            client = APIClient(REMOTE_ADDR=ip(index))
            barrier.wait(timeout=10)
            return client.post("/api/authenticate/", body, format="json").status_code
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, enumerate(bodies)))


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_tries_from_one_ip_count_at_most_its_budget(sms, otp_settings):
    otp_settings.OTP_FAILURES_PER_IP_PER_HOUR = 20
    # Inside one hour's window: run across an hour boundary, the budget would start again mid-test.
    with time_machine.travel(HOUR_START + 10, tick=True):
        statuses = _post_all_at_once([{"mobile_number": VICTIM, "code": f"{i:06d}"} for i in range(40)])
    assert statuses.count(401) == 20 and statuses.count(429) == 20, statuses


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_tries_on_one_code_compare_at_most_its_failure_budget(sms, otp_settings, monkeypatch):
    otp_settings.OTP_FAILURES_PER_NUMBER_PER_HOUR = 20
    otp_settings.OTP_MAX_ATTEMPTS = 100
    # Inside one hour's window: run across an hour boundary, the budget would start again mid-test.
    with time_machine.travel(HOUR_START + 10, tick=True):
        services.otp_code_send(mobile_number=VICTIM, ip=VICTIM_IP)
        code = sms.last_code(VICTIM)
        compared = []
        real_digest = services.code_digest
        monkeypatch.setattr(services, "code_digest", lambda **kw: compared.append(1) or real_digest(**kw))
        guesses = [{"mobile_number": VICTIM, "code": wrong_code(f"{(int(code) + i) % 10**6:06d}")} for i in range(40)]
        # 40 different IPs, so only the number's budget can refuse.
        statuses = _post_all_at_once(guesses, ip=lambda i: f"198.51.100.{i + 1}")
    assert len(compared) == 20  # today: all 40 compared
    # The 21st reservation blocks the code (429); tries that come later find no live code (401).
    assert statuses.count(429) >= 1 and statuses.count(401) + statuses.count(429) == 40, statuses
    assert Challenge.objects.get().status == "exhausted"  # the spent budget blocked the code


@pytest.mark.django_db(transaction=True)
def test_a_send_that_failed_spends_no_limit(sms):
    """Issue 21: the database was unavailable (JSON 503); the retry after Retry-After gets its code."""
    client = APIClient(REMOTE_ADDR=VICTIM_IP)

    def refused(*args, **kwargs):
        raise connection.Database.OperationalError("sorry, too many clients already")

    connection.close()
    with mock.patch.object(connection, "get_new_connection", refused):
        failed = send(client)
    assert failed.status_code == 503
    assert not sms.sent
    retry = send(client)
    assert retry.status_code == 200, retry.content
    assert sms.last_code(VICTIM)
    assert send(client).status_code == 409  # a code that was sent does start the cooldown


def _limits_spent(number: str, ip: str) -> dict[str, int]:
    """What a send has spent of each limit: the cooldown (seconds left) and the three budgets."""
    from core import ratelimit

    spent = {"cooldown": ratelimit.cooldown_remaining(services._cooldown_key(number))}
    for key, rate in services._send_budgets(number, ip):
        spent[key.split(":")[2]] = ratelimit.peek(key, rate).count
    return spent


@pytest.mark.parametrize("failing", ["connection", "insert"])
@pytest.mark.django_db(transaction=True)
def test_a_send_answered_503_spends_no_limit_at_all(sms, failing, settings):
    """Issue 21: the cooldown, the number's, the IP's and the global budget all stay as they were when
    the database fails, whether it refuses the connection or fails inside the send's transaction."""
    settings.OTP_SENDS_PER_NUMBER_PER_HOUR = 2
    client = APIClient(REMOTE_ADDR=VICTIM_IP)
    nothing = {"cooldown": 0, "ip": 0, "number": 0, "global": 0}
    assert _limits_spent(VICTIM, VICTIM_IP) == nothing

    def refused(*args, **kwargs):
        raise connection.Database.OperationalError("server closed the connection unexpectedly")

    with time_machine.travel(HOUR_START + 60, tick=False):
        if failing == "connection":
            connection.close()
            with mock.patch.object(connection, "get_new_connection", refused):
                failed = send(client)
        else:
            def lost(*args, **kwargs):  # what Django raises when the connection dies mid-transaction
                raise OperationalError("server closed the connection unexpectedly")

            with mock.patch.object(Challenge, "save", lost):
                failed = send(client)
        assert failed.status_code == 503, failed.content
        assert failed.json()["code"] == "database_unavailable" and failed["Retry-After"]
        assert not sms.sent
        assert _limits_spent(VICTIM, VICTIM_IP) == nothing
        assert send(client).status_code == 200  # the retry after Retry-After gets its code
        assert _limits_spent(VICTIM, VICTIM_IP) == {"cooldown": 60, "ip": 1, "number": 1, "global": 1}
