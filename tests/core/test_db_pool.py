"""A PostgreSQL restart breaks every idle pooled connection at once; the first database error sweeps
the pool (core.db.discard_broken_connections) so that later requests get fresh connections at once
instead of drawing the dead ones one by one through psycopg_pool's check backoff (1 s, 2 s, ...)."""

from __future__ import annotations

import json

import psycopg
import pytest
from django.db import OperationalError, connection
from django.test import RequestFactory

from core import db as core_db
from core.errors import json_or_html_500

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the pool is PostgreSQL's")


def _idle_pooled_connections(pool, count: int) -> list[int]:
    """Put `count` connections idle in the pool and return their backend pids."""
    taken = [pool.getconn() for _ in range(count)]
    pids = [conn.info.backend_pid for conn in taken]
    for conn in taken:
        pool.putconn(conn)
    return pids


def _kill_backends(pids: list[int]) -> None:
    # As a restart does to them: the server side of each connection goes away, the client side
    # does not know until it is used.
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [pids])


@pytest.fixture
def pool(monkeypatch):
    monkeypatch.setattr(core_db, "_last_pool_sweep", 0.0)
    connection.ensure_connection()
    return connection.pool


@pytest.mark.django_db(transaction=True)
def test_a_database_error_answer_replaces_the_broken_idle_connections(pool):
    pids = _idle_pooled_connections(pool, 3)
    _kill_backends(pids)
    lost_before = pool.get_stats().get("connections_lost", 0)

    request = RequestFactory().post("/api/otp/send/")
    try:  # Django calls its 500 handler inside the `except` of the failed request
        raise OperationalError("terminating connection due to administrator command")
    except OperationalError:
        response = json_or_html_500(request)
    assert response.status_code == 503
    assert json.loads(response.content)["code"] == "database_unavailable"

    assert pool.get_stats().get("connections_lost", 0) - lost_before >= 3
    # What is left idle in the pool works: no request draws a dead connection.
    for _ in range(3):
        conn = pool.getconn(timeout=5)
        try:
            assert conn.info.backend_pid not in pids
            conn.execute("SELECT 1")
        finally:
            pool.putconn(conn)


@pytest.mark.django_db(transaction=True)
def test_sweeps_are_throttled(pool, monkeypatch):
    checks = []
    monkeypatch.setattr(type(pool), "check", lambda self: checks.append(self))
    core_db.discard_broken_connections()
    core_db.discard_broken_connections()
    assert len(checks) == 1
