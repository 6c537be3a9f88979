"""How many SQL statements each OTP request may run: the figures behind docs/otp.md's performance
notes, so a change that adds a round trip to the hot path shows up here."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from otp import services
from sms.models import Message

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("otp_settings")]

NUMBER = "+989121234567"


@pytest.fixture
def known_code(monkeypatch):
    monkeypatch.setattr(services, "code_generate", lambda: "482913")
    return "482913"


def _statements(run) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = run()
    assert response.status_code == 200, response.content
    sql = [q["sql"] for q in captured.captured_queries]
    # The test runs inside a transaction, so the request's own outermost transaction shows up as
    # one savepoint around everything (in production it is BEGIN ... COMMIT): leave it out.
    if sql and sql[-1].startswith("RELEASE SAVEPOINT"):
        name = sql[-1].split()[-1]
        sql = [s for s in sql[:-1] if s != f"SAVEPOINT {name}"]
    return sql


def test_send_is_four_statements_and_queues_the_sms(client, known_code):
    sql = _statements(lambda: client.post("/api/otp/send/", {"mobile_number": NUMBER}, format="json"))
    # the number's user's language (for the SMS), supersede older codes, insert the challenge, insert the
    # outbox row; no savepoints
    assert len(sql) == 4, sql
    assert not any("SAVEPOINT" in s.upper() for s in sql)
    assert Message.objects.filter(to=NUMBER, purpose=Message.Purpose.OTP).count() == 1


def test_authenticate_statements_for_a_new_and_a_returning_user(client, known_code, otp_settings):
    otp_settings.OTP_RESEND_SECONDS = 0
    client.post("/api/otp/send/", {"mobile_number": NUMBER}, format="json")
    body = {"mobile_number": NUMBER, "code": known_code}
    first = _statements(lambda: client.post("/api/authenticate/", body, format="json"))
    # claim (UPDATE ... RETURNING), consume, the user (SELECT, then SAVEPOINT/INSERT/RELEASE for a new
    # one), the session, simplejwt's outstanding token, the session's refresh token record, and
    # last_login (django.contrib.auth's receiver of user_logged_in)
    assert len(first) == 10, first
    assert "RETURNING" in first[0].upper()
    assert _last_login_writes(first) == 1
    client.post("/api/otp/send/", {"mobile_number": NUMBER}, format="json")
    again = _statements(lambda: client.post("/api/authenticate/", body, format="json"))
    assert len(again) == 7, again
    assert _last_login_writes(again) == 1


def _last_login_writes(sql: list[str]) -> int:
    return sum(1 for s in sql if s.startswith('UPDATE "accounts_user" SET "last_login"'))
