"""Django's auth signals from the accounts services: every login sends `user_logged_in` (and so sets
`last_login`, once); every way a session ends sends `user_logged_out`, once per session."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
import time_machine
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from accounts import services
from accounts.models import User
from tests.conftest import admin_login
from tests.receivers import receiving

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2030, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_login_complete_sends_user_logged_in_and_last_login_is_written_once(user_factory):
    user = user_factory()
    assert user.last_login is None
    with time_machine.travel(NOW, tick=False), receiving(user_logged_in) as logins:
        with CaptureQueriesContext(connection) as queries:
            result = services.login_complete(user=user, method="social", ip="203.0.113.9", user_agent="pytest")
    (call,) = logins
    assert call == {"sender": User, "request": None, "user": user, "login_session": result.session, "method": "social"}
    assert User.objects.get(pk=user.pk).last_login == NOW
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('UPDATE "accounts_user"')]
    assert len(writes) == 1 and '"last_login"' in writes[0]


def test_logout_sends_user_logged_out_with_the_request(user_factory, login):
    user = user_factory()
    result = login(user)
    with receiving(user_logged_out) as logouts:
        assert bearer(result.access).post("/api/logout/").status_code == 204
    (call,) = logouts
    assert call["sender"] is User and call["user"] == user
    assert call["request"].path == "/api/logout/"
    assert call["login_session_id"] == result.session.id and call["reason"] == "logout"


def test_ending_sessions_from_the_api_sends_one_user_logged_out_per_session(user_factory, login):
    user = user_factory()
    current, one, two, three = (login(user) for _ in range(4))
    with receiving(user_logged_out) as logouts:
        assert bearer(current.access).delete(f"/api/sessions/{one.session.id}/").status_code == 204
        assert bearer(current.access).post("/api/sessions/revoke-others/").json() == {"revoked": 2}
        # Already ended: nothing more is sent.
        assert bearer(current.access).delete(f"/api/sessions/{one.session.id}/").status_code == 404
    assert [(c["login_session_id"], c["reason"]) for c in logouts] == [
        (one.session.id, "user"),
        *sorted([(two.session.id, "revoke_others"), (three.session.id, "revoke_others")]),
    ]
    assert all(c["user"] == user and c["request"].path.startswith("/api/sessions/") for c in logouts)


def test_an_admin_revoke_sends_user_logged_out_with_the_admins_request(user_factory, login):
    staff = User.objects.create_superuser(mobile_number="+989000000001", password="admin-pass-123")
    admin = Client()
    admin_login(admin, staff, "admin-pass-123")
    user = user_factory()
    picked = login(user)
    with receiving(user_logged_out) as logouts:
        admin.post(
            reverse("admin:accounts_loginsession_changelist"),
            {"action": "revoke_selected", "_selected_action": [picked.session.id]},
        )
        admin.post(
            reverse("admin:accounts_user_changelist"),
            {"action": "revoke_all_sessions", "_selected_action": [user.pk]},
        )
    (call,) = logouts  # the second action found nothing left to end
    assert call["user"] == user and call["reason"] == "admin" and call["login_session_id"] == picked.session.id
    assert call["request"].user.mobile_number == "+989000000001"


def test_refresh_token_reuse_ends_the_session_with_user_logged_out(user_factory, login):
    user = user_factory()
    result = login(user)
    assert APIClient().post("/api/token/refresh/", {"refresh": result.refresh}, format="json").status_code == 200
    with receiving(user_logged_out) as logouts:
        reuse = APIClient().post("/api/token/refresh/", {"refresh": result.refresh}, format="json")
    assert reuse.status_code == 401
    (call,) = logouts
    assert call["reason"] == "refresh_reuse" and call["user"] == user and call["login_session_id"] == result.session.id
    assert call["request"].path == "/api/token/refresh/"


def test_deactivating_a_user_sends_user_logged_out_for_each_session_without_a_request(user_factory, login):
    user = user_factory()
    sessions = {login(user).session.id, login(user).session.id}
    with receiving(user_logged_out) as logouts:
        user.is_active = False
        user.save()
    assert {c["login_session_id"] for c in logouts} == sessions
    assert all(c["request"] is None and c["reason"] == "user_deactivated" and c["user"].pk == user.pk for c in logouts)


def test_without_receivers_ending_a_session_reads_no_users(user_factory, login):
    result = login(user_factory())
    assert not user_logged_out.has_listeners(User)  # Django connects none by itself
    with CaptureQueriesContext(connection) as queries:
        assert services.session_revoke(session=result.session)
    assert not [q for q in queries.captured_queries if 'FROM "accounts_user"' in q["sql"]]


def test_concurrent_endings_of_one_session_send_user_logged_out_once(user_factory, login):
    result = login(user_factory())
    threads = 8
    barrier = threading.Barrier(threads)

    def revoke(_):
        try:
            barrier.wait(timeout=10)
            return services.session_revoke(session=result.session, reason="user")
        finally:
            connection.close()  # this thread's own connection

    with receiving(user_logged_out) as logouts, ThreadPoolExecutor(max_workers=threads) as pool:
        ended = list(pool.map(revoke, range(threads)))
    assert ended.count(True) == 1
    assert len(logouts) == 1
