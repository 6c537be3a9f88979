"""A database that refuses connections (or a full connection pool) answers API clients with a JSON
503 and Retry-After, never a 500."""

from __future__ import annotations

import json
import sys
from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.test import RequestFactory
from rest_framework.test import APIClient

from core.errors import json_or_html_500


def _refused(*args, **kwargs):
    # What the driver raises when PostgreSQL says "too many clients already" or the pool times out
    # (psycopg_pool.PoolTimeout is a psycopg OperationalError); Django wraps it as its own.
    raise connection.Database.OperationalError("sorry, too many clients already")


def _assert_503(response):
    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/json")
    assert int(response["Retry-After"]) >= 1
    body = json.loads(response.content)
    assert body["code"] == "database_unavailable"
    assert body["retry_after"] == int(response["Retry-After"])


@pytest.mark.django_db(transaction=True)
def test_send_code_when_the_database_refuses_connections_is_503():
    client = APIClient(REMOTE_ADDR="203.0.113.9")
    connection.close()  # the request must open a new connection, which is refused
    with mock.patch.object(connection, "get_new_connection", _refused):
        response = client.post("/api/otp/send/", {"mobile_number": "+989121234567"}, format="json")
    _assert_503(response)


@pytest.mark.django_db(transaction=True)
def test_authenticate_when_the_pool_times_out_is_503():
    if connection.vendor != "postgresql":
        pytest.skip("the connection pool is PostgreSQL's")
    from psycopg_pool import PoolTimeout

    def timed_out(*args, **kwargs):
        raise PoolTimeout("couldn't get a connection after 10.00 sec")

    client = APIClient(REMOTE_ADDR="203.0.113.9")
    connection.close()
    with mock.patch.object(connection, "get_new_connection", timed_out):
        response = client.post(
            "/api/authenticate/", {"mobile_number": "+989121234567", "code": "123456"}, format="json"
        )
    _assert_503(response)


@pytest.mark.django_db
def test_other_errors_are_still_500(monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("otp.views.otp_code_send", broken)
    client = APIClient(REMOTE_ADDR="203.0.113.9", raise_request_exception=False)
    response = client.post("/api/otp/send/", {"mobile_number": "+989121234567"}, format="json")
    assert response.status_code == 500
    assert "Retry-After" not in response


def test_handler500_turns_a_database_error_outside_drf_into_503():
    request = RequestFactory().get("/proxy/auth/result")
    try:
        raise OperationalError("connection refused")
    except OperationalError:
        response = json_or_html_500(request)
    _assert_503(response)
    assert sys.exc_info() == (None, None, None)
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        assert json_or_html_500(request).status_code == 500
