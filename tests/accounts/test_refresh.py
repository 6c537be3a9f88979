"""Refresh rotation with reuse detection, and what ends sessions besides the API."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import LoginSession, SessionRefreshToken

pytestmark = pytest.mark.django_db(transaction=True)


def refresh(raw: str):
    return APIClient().post("/api/token/refresh/", {"refresh": raw}, format="json")


def me(access: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/me/")


def test_refresh_rotates_within_the_same_session(user_factory, login):
    result = login(user_factory())

    response = refresh(result.refresh)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh"}
    assert body["refresh"] != result.refresh
    new_refresh = RefreshToken(body["refresh"])
    assert new_refresh["sid"] == result.session.id
    assert AccessToken(body["access"])["sid"] == result.session.id
    assert me(body["access"]).status_code == 200
    records = {r.jti: r for r in SessionRefreshToken.objects.filter(session=result.session)}
    old_jti = RefreshToken(result.refresh, verify=False)["jti"]
    assert records[old_jti].rotated_at is not None
    assert records[new_refresh["jti"]].rotated_at is None
    assert BlacklistedToken.objects.filter(token__jti=old_jti).exists()
    session = LoginSession.objects.get(pk=result.session.pk)
    assert session.expires_at >= result.session.expires_at
    # And the new one rotates again.
    assert refresh(body["refresh"]).status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_the_whole_session(user_factory, login):
    user = user_factory()
    result, bystander = login(user), login(user)
    rotated = refresh(result.refresh).json()  # the legitimate client rotates

    reuse = refresh(result.refresh)  # a stolen copy of the old token is presented

    assert reuse.status_code == 401
    assert reuse.json()["code"] == "token_reused"
    session = LoginSession.objects.get(pk=result.session.pk)
    assert session.revoked_at is not None and session.revoke_reason == "refresh_reuse"
    # Everything of that session is dead: the newest refresh token and its access token.
    assert refresh(rotated["refresh"]).status_code == 401
    assert me(rotated["access"]).status_code == 401
    assert me(result.access).status_code == 401
    # Other sessions of the user are untouched.
    assert me(bystander.access).status_code == 200
    assert refresh(bystander.refresh).status_code == 200


@pytest.mark.parametrize(
    "raw",
    ["", "not-a-token", "a.b.c"],
)
def test_garbage_refresh_tokens_are_400_or_401(raw):
    response = refresh(raw)
    assert response.status_code in (400, 401)
    assert response.status_code != 500


def test_refresh_token_without_session_is_refused(user_factory):
    user = user_factory()
    foreign = RefreshToken.for_user(user)  # a valid simplejwt token that belongs to no login session
    response = refresh(str(foreign))
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_access_token_is_not_a_refresh_token(user_factory, login):
    result = login(user_factory())
    assert refresh(result.access).status_code == 401


def test_refresh_of_deactivated_user_is_refused(user_factory, login):
    user = user_factory()
    result = login(user)
    # A bulk update skips the signals, so the session stays; the user rule still refuses.
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    response = refresh(result.refresh)
    assert response.status_code == 401
    assert response.json()["code"] == "no_active_account"


def test_deactivating_a_user_ends_all_their_sessions(user_factory, login):
    user, other = user_factory(), user_factory()
    first, second, unrelated = login(user), login(user), login(other)

    user.is_active = False
    user.save()

    ended = LoginSession.objects.filter(user=user)
    assert all(s.revoked_at is not None and s.revoke_reason == "user_deactivated" for s in ended)
    for result in (first, second):
        assert me(result.access).status_code == 401
        assert refresh(result.refresh).status_code == 401
    assert me(unrelated.access).status_code == 200
    # Saving the inactive user again ends nothing more; reactivating does not revive sessions.
    user.save()
    user.is_active = True
    user.save()
    assert me(first.access).status_code == 401


def test_deleting_a_user_ends_their_sessions_in_the_shared_state(user_factory, login):
    from accounts import selectors

    user = user_factory()
    result = login(user)
    assert selectors.session_is_active(result.session.id)  # "active" now cached
    user.delete()
    assert not selectors.session_is_active(result.session.id)
    assert me(result.access).status_code == 401


def test_flushexpiredsessions_deletes_only_what_can_no_longer_matter(user_factory, login, capsys):
    user = user_factory()
    live, revoked_recently, revoked_long_ago, expired_long_ago = (login(user) for _ in range(4))
    now = timezone.now()
    LoginSession.objects.filter(pk=revoked_recently.session.pk).update(revoked_at=now - timedelta(days=1))
    LoginSession.objects.filter(pk=revoked_long_ago.session.pk).update(revoked_at=now - timedelta(days=31))
    LoginSession.objects.filter(pk=expired_long_ago.session.pk).update(expires_at=now - timedelta(days=31))
    expired_jti = RefreshToken(live.refresh, verify=False)["jti"]
    SessionRefreshToken.objects.filter(pk=expired_jti).update(expires_at=now - timedelta(seconds=1))
    OutstandingToken.objects.filter(jti=expired_jti).update(expires_at=now - timedelta(seconds=1))

    call_command("flushexpiredsessions", "--keep-days", "30")

    assert "deleted 2 ended session(s)" in capsys.readouterr().out
    assert set(LoginSession.objects.values_list("pk", flat=True)) == {live.session.pk, revoked_recently.session.pk}
    assert not SessionRefreshToken.objects.filter(pk=expired_jti).exists()
    assert not OutstandingToken.objects.filter(jti=expired_jti).exists()
    assert SessionRefreshToken.objects.filter(session=revoked_recently.session).exists()


def test_concurrent_refreshes_with_one_token_never_both_rotate(user_factory, login):
    """Requests racing with the same refresh token: one atomic claim, so exactly one rotation;
    the loser counts as reuse and ends the session (clients must not refresh concurrently)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    result = login(user_factory())

    def attempt(_):
        try:
            return refresh(result.refresh).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(attempt, range(4)))

    assert sorted(codes) == [200, 401, 401, 401], codes
    session = LoginSession.objects.get(pk=result.session.pk)
    assert session.revoke_reason == "refresh_reuse"
    assert SessionRefreshToken.objects.filter(session=session).count() == 2  # the login's and one rotation's
