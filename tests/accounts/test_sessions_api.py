"""The sessions API: list, revoke one, revoke others, logout, /api/me/, and refused tokens."""

from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import LoginSession

# transaction=True: revocation takes effect after commit (cache state, events), as in production.
pytestmark = pytest.mark.django_db(transaction=True)

CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_list_shows_active_sessions_newest_first_with_current_flag(user_factory, login):
    user = user_factory()
    older = login(user, method="sms", ip="203.0.113.7", user_agent=CHROME_ANDROID)
    LoginSession.objects.filter(pk=older.session.pk).update(created_at=timezone.now() - timedelta(hours=2))
    newer = login(user, method="auth4app", ip="2001:db8::1", user_agent=FIREFOX_LINUX)
    ended = login(user)
    assert bearer(newer.access).delete(f"/api/sessions/{ended.session.id}/").status_code == 204

    response = bearer(older.access).get("/api/sessions/")

    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list)
    assert [s["id"] for s in body] == [newer.session.id, older.session.id]
    assert [s["current"] for s in body] == [False, True]
    first, second = body
    assert set(first) == {
        "id", "login_method", "ip", "device", "device_kind", "device_model", "browser", "os", "created_at",
        "last_seen_at", "current",
    }
    assert first["login_method"] == "auth4app" and first["ip"] == "2001:db8::1"
    assert first["browser"].startswith("Firefox 128") and first["os"] == "Linux" and first["device"] == "PC"
    assert second["login_method"] == "sms" and second["ip"] == "203.0.113.7"
    assert second["browser"].startswith("Chrome Mobile") and second["os"].startswith("Android 14")
    assert second["device"].startswith("Phone")
    # The kind as a code pages translate (docs/i18n.md), and the model apart.
    assert (first["device_kind"], first["device_model"]) == ("pc", "")
    assert second["device_kind"] == "phone" and second["device"] == f"Phone ({second['device_model']})"
    for session in body:
        datetime.fromisoformat(session["created_at"].replace("Z", "+00:00"))
        datetime.fromisoformat(session["last_seen_at"].replace("Z", "+00:00"))


def test_list_never_shows_another_users_sessions(user_factory, login):
    mine = login(user_factory())
    login(user_factory())
    body = bearer(mine.access).get("/api/sessions/").json()
    assert [s["id"] for s in body] == [mine.session.id]


def test_session_without_ip_or_user_agent_lists_empty_strings(user_factory, login):
    result = login(user_factory(), ip=None, user_agent="")
    (session,) = bearer(result.access).get("/api/sessions/").json()
    assert (session["ip"], session["device"], session["browser"], session["os"]) == ("", "", "", "")
    assert (session["device_kind"], session["device_model"]) == ("", "")


def test_revoke_own_session_ends_it_and_its_access_token_at_once(user_factory, login):
    user = user_factory()
    keeper, victim = login(user), login(user)
    victim_client = bearer(victim.access)
    assert victim_client.get("/api/me/").status_code == 200  # caches "active" for the session

    response = bearer(keeper.access).delete(f"/api/sessions/{victim.session.id}/")

    assert response.status_code == 204
    refused = victim_client.get("/api/me/")
    assert refused.status_code == 401
    assert refused.json()["code"] == "session_revoked"
    victim.session.refresh_from_db()
    assert victim.session.revoke_reason == "user" and victim.session.revoked_by_id == user.pk
    assert bearer(keeper.access).get("/api/me/").status_code == 200
    # Revoking it again: it is no longer an active session of theirs.
    assert bearer(keeper.access).delete(f"/api/sessions/{victim.session.id}/").status_code == 404


def test_cannot_revoke_another_users_session(user_factory, login):
    mine, theirs = login(user_factory()), login(user_factory())
    response = bearer(mine.access).delete(f"/api/sessions/{theirs.session.id}/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such session.", "code": "not_found"}
    # The same answer as for a session that never existed: nothing tells the two apart.
    assert bearer(mine.access).delete("/api/sessions/0123456789abcdef0123456789abcdef/").json() == response.json()
    theirs.session.refresh_from_db()
    assert theirs.session.revoked_at is None
    assert bearer(theirs.access).get("/api/me/").status_code == 200


def test_revoke_others_keeps_only_the_current_session(user_factory, login):
    user = user_factory()
    current, *others = [login(user) for _ in range(3)]
    stranger = login(user_factory())

    response = bearer(current.access).post("/api/sessions/revoke-others/")

    assert response.status_code == 200
    assert response.json() == {"revoked": 2}
    for other in others:
        assert bearer(other.access).get("/api/me/").status_code == 401
    assert [s["id"] for s in bearer(current.access).get("/api/sessions/").json()] == [current.session.id]
    assert bearer(stranger.access).get("/api/me/").status_code == 200
    assert bearer(current.access).post("/api/sessions/revoke-others/").json() == {"revoked": 0}


def test_logout_ends_the_session_of_the_token_used(user_factory, login):
    user = user_factory()
    leaving, staying = login(user), login(user)
    client = bearer(leaving.access)

    response = client.post("/api/logout/")

    assert response.status_code == 204
    assert response.content == b""
    assert client.get("/api/me/").status_code == 401
    assert client.post("/api/logout/").status_code == 401
    leaving.session.refresh_from_db()
    assert leaving.session.revoke_reason == "logout"
    assert bearer(staying.access).get("/api/me/").status_code == 200
    refresh = APIClient().post("/api/token/refresh/", {"refresh": leaving.refresh}, format="json")
    assert refresh.status_code == 401


def test_me_returns_the_user(user_factory, login):
    user = user_factory("+989121234567")
    response = bearer(login(user).access).get("/api/me/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "mobile_number", "date_joined", "display_name", "avatar_url", "email", "email_verified", "language"}
    assert body["id"] == user.pk and body["mobile_number"] == "+989121234567"
    datetime.fromisoformat(body["date_joined"].replace("Z", "+00:00"))


@pytest.mark.parametrize(
    "method, path",
    [("get", "/api/sessions/"), ("post", "/api/sessions/revoke-others/"), ("post", "/api/logout/"),
     ("get", "/api/me/"), ("delete", "/api/sessions/abc/")],
)
def test_endpoints_need_a_bearer_token(method, path):
    response = getattr(APIClient(), method)(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_refresh_token_is_not_accepted_as_access_token(user_factory, login):
    result = login(user_factory())
    response = bearer(result.refresh).get("/api/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_access_token_of_an_unknown_session_is_refused(user_factory, login):
    result = login(user_factory())
    LoginSession.objects.filter(pk=result.session.pk).delete()
    assert bearer(result.access).get("/api/me/").status_code == 401


def test_last_seen_is_written_at_most_once_a_minute(user_factory, login):
    result = login(user_factory())
    client = bearer(result.access)
    start = timezone.now() + timedelta(seconds=5)
    with time_machine.travel(start, tick=False):
        client.get("/api/me/")
    result.session.refresh_from_db()
    assert result.session.last_seen_at == start

    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        client.get("/api/me/")
    result.session.refresh_from_db()
    assert result.session.last_seen_at == start  # not on every request

    # The once-a-minute marker is a cache key with a 60 s TTL; time-machine does not age Redis keys,
    # so drop it as its expiry would.
    from django.core.cache import cache

    cache.delete(f"session:seen:{result.session.id}")
    later = start + timedelta(seconds=61)
    with time_machine.travel(later, tick=False):
        client.get("/api/me/")
    result.session.refresh_from_db()
    assert result.session.last_seen_at == later


def test_expired_sessions_are_not_listed(user_factory, login):
    user = user_factory()
    current, stale = login(user), login(user)
    LoginSession.objects.filter(pk=stale.session.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert [s["id"] for s in bearer(current.access).get("/api/sessions/").json()] == [current.session.id]


@pytest.mark.parametrize(
    "device, expected",
    [
        ("Phone (Pixel 8)", ("phone", "Pixel 8")),
        ("Tablet (iPad (10th generation))", ("tablet", "iPad (10th generation)")),
        ("PC", ("pc", "")),
        ("Bot", ("bot", "")),
        ("", ("", "")),
        ("Toaster (X1)", ("", "")),  # not a kind we write: nothing to translate
    ],
)
def test_the_device_kind_and_model_of_a_stored_device(device, expected):
    from accounts.services import device_kind_and_model

    assert device_kind_and_model(device) == expected
