"""How many SQL statements a social login may run, so a change that adds a round trip shows up here."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devtools.social_simulator import FAKE_WEIBO_USERS
from social.models import SocialIdentity

from .conftest import authorize

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("social_settings")]

ZAKU = FAKE_WEIBO_USERS[0]["uid"]


def _statements(run) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = run()
    sql = [q["sql"] for q in captured.captured_queries]
    # The test's own transaction makes the request's outermost atomic block a savepoint: leave it out.
    if sql and sql[-1].startswith("RELEASE SAVEPOINT"):
        name = sql[-1].split()[-1]
        sql = [s for s in sql[:-1] if s != f"SAVEPOINT {name}"]
    return response, sql


def _callback(client, weibo):
    returned = authorize(client.post("/api/oauth/weibo/start/").json()["authorize_url"], ZAKU)
    return lambda: client.post("/api/oauth/weibo/callback/", returned, format="json")


def test_a_bound_login_is_six_statements(client, weibo, user_factory):
    SocialIdentity.objects.create(provider="weibo", uid=ZAKU, user=user_factory())
    response, sql = _statements(_callback(client, weibo))
    assert response.status_code == 200
    # the identity with its user (one SELECT ... JOIN), its last login (UPDATE), the session,
    # simplejwt's outstanding token, the session's refresh token record, the user's last_login
    # (Django's user_logged_in receiver)
    assert len(sql) == 6, sql


def test_an_unbound_login_is_one_statement_and_the_bind_eleven(client, weibo, sms):
    response, sql = _statements(_callback(client, weibo))
    assert response.status_code == 201 and len(sql) == 1, sql  # the identity lookup
    token = response.json()["bind_token"]
    client.post("/api/otp/send/", {"mobile_number": "+989121234567"}, format="json")
    body = {"bind_token": token, "mobile_number": "+989121234567", "code": sms.last_code("+989121234567")}
    response, sql = _statements(lambda: client.post("/api/oauth/bind/", body, format="json"))
    assert response.status_code == 200
    # the OTP claim and consume, the user (SELECT, then SAVEPOINT/INSERT/RELEASE for a new one), the
    # identity, the session, the outstanding token, the refresh token record, the user's last_login
    assert len(sql) == 11, sql
