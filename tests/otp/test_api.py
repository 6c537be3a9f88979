"""The OTP endpoints' contract: every status, the code's lifecycle and every limit."""

from __future__ import annotations

import pytest
import time_machine
from django.core.management import call_command

from accounts.models import LoginSession, User
from otp.models import Challenge
from otp.services import code_digest

from .conftest import wrong_code

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("otp_settings")]

NUMBER = "+989121234567"
OTHER = "+989121234568"
SEND = "/api/otp/send/"
AUTH = "/api/authenticate/"
INVALID = {"error": "Invalid or expired code."}
HOUR_START = 1_899_997_200  # a timestamp on an hour boundary, where the hourly limit windows start
assert HOUR_START % 3600 == 0


def send(client, number=NUMBER, **extra):
    return client.post(SEND, {"mobile_number": number}, format="json", **extra)


def authenticate(client, code, number=NUMBER, **extra):
    return client.post(AUTH, {"mobile_number": number, "code": code}, format="json", **extra)


# --- send ------------------------------------------------------------------------------------


def test_send_queues_a_fresh_code_and_says_when_it_expires(client, sms):
    response = send(client, "+98 912 123 4567")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"details", "expires_in", "resend_in"}
    assert (body["expires_in"], body["resend_in"]) == (300, 60)
    assert len(sms.sent) == 1 and sms.sent[0]["to"] == NUMBER and sms.sent[0]["ttl_seconds"] == 300
    code = sms.sent[0]["code"]
    assert len(code) == 6 and code.isascii() and code.isdigit()
    assert code not in response.content.decode()


def test_send_accepts_form_bodies_and_national_format(client, sms, otp_settings):
    otp_settings.PHONE_DEFAULT_REGION = "IR"
    response = client.post(SEND, {"mobile_number": "09121234567"})  # multipart form
    assert response.status_code == 200
    assert sms.sent[0]["to"] == NUMBER


@pytest.mark.parametrize("body", [{}, {"mobile_number": ""}, {"mobile_number": "not a number"},
                                  {"mobile_number": "+982112345678"},  # Tehran landline
                                  {"mobile_number": ["+989121234567"]}])
def test_send_rejects_bad_numbers_with_400(client, sms, body):
    response = client.post(SEND, body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["mobile_number"] and response.json()["mobile_number"][0]
    assert sms.sent == []


def test_send_rejects_numbers_outside_allowed_regions(client, sms, otp_settings):
    otp_settings.PHONE_ALLOWED_REGIONS = ["IR"]
    response = send(client, "+79991234567")
    assert response.status_code == 400 and "mobile_number" in response.json()
    assert send(client, NUMBER).status_code == 200


def test_resend_cooldown_is_409_with_retry_after_until_it_runs_out(client, sms):
    with time_machine.travel(1_900_000_000, tick=False) as traveller:
        assert send(client).status_code == 200
        traveller.shift(20)
        response = send(client)
        assert response.status_code == 409
        assert response["Retry-After"] == "40"
        assert response.json()["retry_after"] == 40 and response.json()["details"]
        assert send(client, OTHER).status_code == 200  # per number
        traveller.shift(40)
        assert send(client).status_code == 200
    assert len(sms.sent) == 3


def test_cooldown_does_not_spend_the_numbers_budget(client, sms, otp_settings):
    otp_settings.OTP_SENDS_PER_NUMBER_PER_HOUR = 2
    with time_machine.travel(1_900_000_000, tick=False) as traveller:
        assert send(client).status_code == 200
        for _ in range(5):
            assert send(client).status_code == 409
        traveller.shift(60)
        assert send(client).status_code == 200
        traveller.shift(60)
        assert send(client).status_code == 429


def _assert_rate_limited(response):
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert response.json()["retry_after"] == int(response["Retry-After"])
    return response.json()


def test_send_budgets_per_number_per_ip_and_global_answer_alike(sms, otp_settings):
    from rest_framework.test import APIClient

    otp_settings.OTP_RESEND_SECONDS = 0
    otp_settings.OTP_SENDS_PER_NUMBER_PER_HOUR = 2
    otp_settings.OTP_SENDS_PER_IP_PER_HOUR = 3
    otp_settings.OTP_GLOBAL_SENDS_PER_HOUR = 5
    with time_machine.travel(HOUR_START + 600, tick=False):  # 3000 s left in the hour window
        a, b, c = (APIClient(REMOTE_ADDR=f"198.51.100.{i}") for i in (1, 2, 3))
        # per number: two sends to NUMBER from different IPs, the third is refused
        assert send(a).status_code == 200 and send(b).status_code == 200
        by_number = _assert_rate_limited(send(c))
        assert by_number["retry_after"] == 3000
        # per IP: a has spent 1 of 3; two more numbers, then refused
        assert send(a, "+989121000001").status_code == 200
        assert send(a, "+989121000002").status_code == 200
        by_ip = _assert_rate_limited(send(a, "+989121000003"))
        # global: 4 sent so far; one more, then everything is refused
        assert send(c, "+989121000004").status_code == 200
        globally = _assert_rate_limited(send(APIClient(REMOTE_ADDR="198.51.100.9"), "+989121000005"))
    assert by_number == by_ip == globally  # the body does not say which limit fired
    assert len(sms.sent) == 5


def test_an_ip_over_its_budget_cannot_spend_a_victims_budget(sms, otp_settings):
    from rest_framework.test import APIClient

    otp_settings.OTP_RESEND_SECONDS = 0
    otp_settings.OTP_SENDS_PER_IP_PER_HOUR = 1
    otp_settings.OTP_SENDS_PER_NUMBER_PER_HOUR = 2
    attacker = APIClient(REMOTE_ADDR="198.51.100.66")
    assert send(attacker, OTHER).status_code == 200
    for _ in range(5):
        assert send(attacker).status_code == 429
    victim = APIClient(REMOTE_ADDR="198.51.100.1")
    assert send(victim).status_code == 200


def test_untrusted_forwarded_for_cannot_dodge_the_ip_budget(sms, otp_settings):
    from rest_framework.test import APIClient

    otp_settings.OTP_RESEND_SECONDS = 0
    otp_settings.OTP_SENDS_PER_IP_PER_HOUR = 2
    client = APIClient(REMOTE_ADDR="198.51.100.7")
    statuses = [send(client, f"+98912100000{i}", HTTP_X_FORWARDED_FOR=f"10.9.9.{i}").status_code for i in range(4)]
    assert statuses == [200, 200, 429, 429]
    assert {c.requested_ip for c in Challenge.objects.all()} == {"198.51.100.7"}


def test_with_one_trusted_proxy_only_the_hop_it_appended_counts(sms, otp_settings):
    from rest_framework.test import APIClient

    otp_settings.OTP_RESEND_SECONDS = 0
    otp_settings.OTP_SENDS_PER_IP_PER_HOUR = 2
    otp_settings.TRUSTED_PROXY_COUNT = 1
    proxy = APIClient(REMOTE_ADDR="10.0.0.2")
    # The client forges a first entry; our proxy appends the real address last.
    statuses = [
        send(proxy, f"+98912100000{i}", HTTP_X_FORWARDED_FOR=f"1.1.1.{i}, 198.51.100.8").status_code for i in range(3)
    ]
    assert statuses == [200, 200, 429]
    other_client = send(proxy, "+989121000009", HTTP_X_FORWARDED_FOR="198.51.100.9")
    assert other_client.status_code == 200


def test_send_answers_the_same_for_known_and_unknown_numbers(client, sms, user_factory, django_assert_num_queries):
    user_factory(NUMBER)
    with django_assert_num_queries(5) as known_queries:
        known = send(client, NUMBER)
    with django_assert_num_queries(5) as unknown_queries:
        unknown = send(client, OTHER)
    assert known.status_code == unknown.status_code == 200
    assert known.json() == unknown.json()
    assert sorted(known.headers) == sorted(unknown.headers)
    # Same statements; the user table is read once either way, only for the SMS's language.
    for queries in (known_queries, unknown_queries):
        [user_read] = [q["sql"] for q in queries.captured_queries if "accounts_user" in q["sql"]]
        assert user_read.startswith("SELECT") and '"language"' in user_read
    assert not User.objects.filter(mobile_number=OTHER).exists()


# --- the stored code -----------------------------------------------------------------------------


def test_only_an_hmac_bound_to_the_challenge_is_stored(client, sms):
    send(client)
    code = sms.last_code(NUMBER)
    challenge = Challenge.objects.get()
    assert code not in challenge.code_hmac and len(challenge.code_hmac) == 64
    assert challenge.code_hmac == code_digest(challenge_id=challenge.id, mobile_number=NUMBER, code=code)
    # The same code on another challenge or number has another digest: digests cannot be moved.
    assert challenge.code_hmac != code_digest(challenge_id="another", mobile_number=NUMBER, code=code)
    assert challenge.code_hmac != code_digest(challenge_id=challenge.id, mobile_number=OTHER, code=code)


def test_codes_are_uniform_digits_of_the_configured_length(otp_settings):
    from otp.services import code_generate

    otp_settings.OTP_LENGTH = 4
    codes = [code_generate() for _ in range(4000)]
    assert all(len(c) == 4 and c.isdigit() for c in codes)
    assert any(c.startswith("0") for c in codes)  # leading zeros are kept
    assert len(set(codes)) > 3000  # ~3300 distinct expected from 10^4 values


# --- authenticate ------------------------------------------------------------------------------


def test_right_code_logs_in_and_creates_the_user(client, sms):
    send(client)
    response = authenticate(client, sms.last_code(NUMBER), HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "user", "session"}
    user = User.objects.get(mobile_number=NUMBER)
    assert body["user"] == {"id": user.id, "mobile_number": NUMBER}
    session = LoginSession.objects.get(pk=body["session"]["id"])
    assert session.user == user and session.login_method == "sms" and session.ip == "203.0.113.7"
    assert sms.last_code(NUMBER) not in response.content.decode()
    # The pair works: the access token authenticates and the refresh token refreshes.
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert client.get("/api/me/").json()["mobile_number"] == NUMBER
    client.credentials()
    refreshed = client.post("/api/token/refresh/", {"refresh": body["refresh"]}, format="json")
    assert refreshed.status_code == 200 and refreshed.json()["access"]


def test_existing_user_logs_in_as_themselves(client, sms, user_factory):
    user = user_factory(NUMBER)
    send(client)
    response = authenticate(client, sms.last_code(NUMBER))
    assert response.json()["user"]["id"] == user.id
    assert User.objects.count() == 1


def test_code_is_used_once(client, sms):
    send(client)
    code = sms.last_code(NUMBER)
    assert authenticate(client, code).status_code == 200
    again = authenticate(client, code)
    assert again.status_code == 401 and again.json() == INVALID


def test_wrong_code_is_401_and_the_right_one_still_works(client, sms):
    send(client)
    code = sms.last_code(NUMBER)
    response = authenticate(client, wrong_code(code))
    assert response.status_code == 401 and response.json() == INVALID
    assert authenticate(client, code).status_code == 200


def test_no_code_sent_is_401(client, sms):
    response = authenticate(client, "123456")
    assert response.status_code == 401 and response.json() == INVALID


def test_code_expires_after_its_ttl(client, sms):
    with time_machine.travel(1_900_000_000, tick=False) as traveller:
        send(client)
        code = sms.last_code(NUMBER)
        traveller.shift(300)
        response = authenticate(client, code)
        assert response.status_code == 401 and response.json() == INVALID
        traveller.shift(-1)  # one second before the end it was still good
        assert authenticate(client, code).status_code == 200


def test_attempt_cap_kills_the_code_even_for_the_right_guess(client, sms):
    send(client)
    code = sms.last_code(NUMBER)
    for _ in range(5):
        assert authenticate(client, wrong_code(code)).status_code == 401
    response = authenticate(client, code)
    assert response.status_code == 401 and response.json() == INVALID
    assert Challenge.objects.get().attempts == 5


def test_four_wrong_tries_leave_the_fifth_for_the_right_code(client, sms):
    send(client)
    code = sms.last_code(NUMBER)
    for _ in range(4):
        authenticate(client, wrong_code(code))
    assert authenticate(client, code).status_code == 200


def test_only_the_newest_code_is_valid(client, sms, otp_settings):
    otp_settings.OTP_RESEND_SECONDS = 0
    send(client)
    first = sms.last_code(NUMBER)
    send(client)
    second = sms.last_code(NUMBER)
    if first == second:  # one in a million: the test would prove nothing
        pytest.skip("the two random codes collided")
    response = authenticate(client, first)
    assert response.status_code == 401 and response.json() == INVALID
    assert authenticate(client, second).status_code == 200
    assert [c.status for c in Challenge.objects.order_by("created_at")] == ["superseded", "used"]


@pytest.mark.parametrize("body", [
    {},
    {"mobile_number": NUMBER},
    {"code": "123456"},
    {"mobile_number": NUMBER, "code": ""},
    {"mobile_number": NUMBER, "code": "12345"},
    {"mobile_number": NUMBER, "code": "1234567"},
    {"mobile_number": NUMBER, "code": "12a456"},
    {"mobile_number": NUMBER, "code": "-12345"},
    {"mobile_number": NUMBER, "code": ["123456"]},
    {"mobile_number": "not a number", "code": "123456"},
])
def test_malformed_authenticate_bodies_are_400(client, sms, body):
    response = client.post(AUTH, body, format="json")
    assert response.status_code == 400
    assert set(response.json()) <= {"mobile_number", "code"} and response.json()
    assert not Challenge.objects.filter(attempts__gt=0).exists()


def test_persian_digits_are_read_as_digits(client, sms):
    send(client)
    persian = sms.last_code(NUMBER).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    assert authenticate(client, persian).status_code == 200


def test_a_spent_failure_budget_blocks_that_code_and_not_the_next_one(client, sms, otp_settings):
    otp_settings.OTP_FAILURES_PER_NUMBER_PER_HOUR = 7
    otp_settings.OTP_MAX_ATTEMPTS = 10  # so the budget, not the per-code cap, is what fires
    otp_settings.OTP_RESEND_SECONDS = 0
    with time_machine.travel(HOUR_START + 100, tick=False) as traveller:
        send(client)
        code = sms.last_code(NUMBER)
        for _ in range(7):
            assert authenticate(client, wrong_code(code)).status_code == 401
        response = authenticate(client, code)  # the budget is spent: no comparison, even for the right code
        assert _assert_rate_limited(response)["retry_after"] == 3500
        assert "error" not in response.json()
        assert authenticate(client, code).status_code == 401  # that code is blocked for good
        assert Challenge.objects.get().status == "exhausted"
        # The owner asks for another code: it works (the budget blocked a code, not the number).
        traveller.shift(1)
        send(client)
        assert authenticate(client, sms.last_code(NUMBER)).status_code == 200


def test_purge_command_deletes_only_long_expired_challenges(client, sms, otp_settings):
    otp_settings.OTP_RESEND_SECONDS = 0
    with time_machine.travel(1_900_000_000, tick=False) as traveller:
        send(client)
        traveller.shift(3600)
        send(client, OTHER)
        traveller.shift(3600)
        call_command("otp_purge_expired", "--older-than", "3600")
        assert list(Challenge.objects.values_list("mobile_number", flat=True)) == [OTHER]
        call_command("otp_purge_expired", "--older-than", "0")
        assert not Challenge.objects.exists()


def test_a_trusted_hop_that_is_not_an_address_is_not_a_500(sms, otp_settings):
    from rest_framework.test import APIClient

    otp_settings.TRUSTED_PROXY_COUNT = 1
    client = APIClient(REMOTE_ADDR="10.0.0.2")
    assert send(client, HTTP_X_FORWARDED_FOR="not-an-address").status_code == 200
    response = authenticate(client, sms.last_code(NUMBER), HTTP_X_FORWARDED_FOR="not-an-address")
    assert response.status_code == 200
    assert Challenge.objects.get().requested_ip is None
    assert LoginSession.objects.get().ip is None


def test_admin_lists_challenges_read_only_without_their_hmac(client, sms, admin_client):
    send(client)
    challenge = Challenge.objects.get()
    browser = admin_client
    listing = browser.get("/admin/otp/challenge/")
    assert listing.status_code == 200 and "+989121234567" in listing.content.decode()
    detail = browser.get(f"/admin/otp/challenge/{challenge.pk}/change/")
    assert detail.status_code == 200
    assert challenge.code_hmac not in detail.content.decode() + listing.content.decode()
    assert browser.get("/admin/otp/challenge/add/").status_code == 403
