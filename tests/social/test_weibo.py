"""Weibo login against a fake Weibo on 127.0.0.1: start, the browser-bound state, the callback,
bound and unbound identities, and every way the provider can fail."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.utils import timezone

from accounts.models import LoginSession
from devtools.social_simulator import FAKE_WEIBO_USERS, SimReply
from social.models import SocialIdentity

from .conftest import WEIBO_CLIENT_ID, WEIBO_REDIRECT_URI, bind, weibo_login

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("social_settings")]

ZAKU = FAKE_WEIBO_USERS[0]["uid"]
XIAOMING = FAKE_WEIBO_USERS[1]["uid"]


def start(client) -> dict:
    response = client.post("/api/oauth/weibo/start/")
    assert response.status_code == 200
    return response.json()


def callback(client, code: str = "any-code", state: str | None = None):
    body = {"code": code} if state is None else {"code": code, "state": state}
    return client.post("/api/oauth/weibo/callback/", body, format="json")


def bind_existing(user, uid: str = ZAKU, nickname: str = "old name") -> SocialIdentity:
    return SocialIdentity.objects.create(provider="weibo", uid=uid, user=user, nickname=nickname)


# --- start --------------------------------------------------------------------------------------


def test_start_binds_a_random_state_to_this_browser_and_uses_the_configured_redirect(client, social_settings, weibo):
    body = start(client)
    assert set(body) == {"authorize_url", "state"}
    url = urlsplit(body["authorize_url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{weibo.url}/oauth2/authorize"
    assert {k: v[0] for k, v in parse_qs(url.query).items()} == {
        "client_id": WEIBO_CLIENT_ID,
        "redirect_uri": WEIBO_REDIRECT_URI,
        "response_type": "code",
        "state": body["state"],
    }
    assert len(body["state"]) >= 43  # 256 random bits
    cookie = client.cookies["hotline_oauth"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/api/oauth/"
    assert cookie.value not in str(body)  # the browser key is only in the cookie

    # A redirect_uri in the request is ignored: it comes from settings only.
    hostile = client.post("/api/oauth/weibo/start/?redirect_uri=https://evil.example/", {"redirect_uri": "https://evil.example/"})
    assert "evil" not in hostile.json()["authorize_url"]
    # Two starts in one browser: two different states, one browser key.
    assert hostile.json()["state"] != body["state"]
    assert client.cookies["hotline_oauth"].value == cookie.value


# --- bound and unbound --------------------------------------------------------------------------


def test_an_unbound_weibo_account_gets_a_bind_token_and_no_provider_secret(client, weibo):
    response = weibo_login(client, ZAKU)

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"bind_token", "provider", "expires_in", "profile"}
    assert body["provider"] == "weibo" and body["expires_in"] == 600
    assert body["profile"] == {"nickname": "zaku", "avatar_url": weibo.simulator.avatar_url(ZAKU)}
    assert ZAKU not in response.content.decode()
    assert SocialIdentity.objects.count() == 0 and LoginSession.objects.count() == 0
    assert weibo.simulator.calls == {"oauth2/access_token": 1, "2/users/show.json": 1}


def test_a_bound_weibo_account_logs_in_with_a_social_session(client, weibo, user_factory):
    user = user_factory()
    identity = bind_existing(user)

    response = weibo_login(client, ZAKU)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "user", "session"}
    assert body["user"] == {"id": user.pk, "mobile_number": str(user.mobile_number)}
    session = LoginSession.objects.get(pk=body["session"]["id"])
    assert session.user == user and session.login_method == "social"
    assert ZAKU not in response.content.decode()
    identity.refresh_from_db()
    assert identity.nickname == "zaku"  # the provider's current profile is kept
    assert identity.last_login_at is not None

    # The same JWT pair as every login: it works, and its refresh token rotates.
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert client.get("/api/sessions/").json()[0]["login_method"] == "social"
    client.credentials()
    rotated = client.post("/api/token/refresh/", {"refresh": body["refresh"]}, format="json")
    assert rotated.status_code == 200 and rotated.json()["refresh"] != body["refresh"]
    reused = client.post("/api/token/refresh/", {"refresh": body["refresh"]}, format="json")
    assert reused.status_code == 401  # reuse ends the session, as for every login
    assert LoginSession.objects.get(pk=session.pk).revoke_reason == "refresh_reuse"


def test_the_identity_is_keyed_by_the_token_replys_uid_not_its_access_token(client, weibo, sms):
    """One write-up swapped `uid` and `access_token`: the bound uid must be the Weibo account's."""
    pending = weibo_login(client, XIAOMING).json()
    assert bind(client, sms, pending["bind_token"]).status_code == 200
    identity = SocialIdentity.objects.get()
    assert identity.uid == XIAOMING and identity.nickname == "小明"
    assert [field.name for field in SocialIdentity._meta.fields if "token" in field.name] == []


# --- state ----------------------------------------------------------------------------------------


def _code_for(weibo, uid: str = ZAKU) -> str:
    return weibo.simulator.issue_code(uid, redirect_uri=WEIBO_REDIRECT_URI)


@pytest.mark.parametrize("state", [None, "", "x" * 43, "not a token!"])
def test_a_missing_or_unknown_state_is_refused_and_weibo_is_not_called(client, weibo, state):
    start(client)
    response = callback(client, _code_for(weibo), state)
    assert response.status_code == 400 and response.json()["code"] == "invalid_state"
    assert weibo.simulator.calls["oauth2/access_token"] == 0


def test_a_reused_state_is_refused(client, weibo, user_factory):
    bind_existing(user_factory())
    state = start(client)["state"]
    assert callback(client, _code_for(weibo), state).status_code == 200
    again = callback(client, _code_for(weibo), state)
    assert again.status_code == 400 and again.json()["code"] == "invalid_state"
    assert weibo.simulator.calls["oauth2/access_token"] == 1


def test_an_expired_state_is_refused(client, weibo):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        state = start(client)["state"]
        traveller.shift(timedelta(seconds=601))
        response = callback(client, _code_for(weibo), state)
    assert response.status_code == 400 and response.json()["code"] == "invalid_state"
    assert weibo.simulator.calls["oauth2/access_token"] == 0


def test_a_state_works_until_its_tenth_minute(client, weibo):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        state = start(client)["state"]
        traveller.shift(timedelta(seconds=590))
        assert callback(client, _code_for(weibo), state).status_code == 201


def test_a_state_from_another_browser_is_refused_and_stays_usable_by_its_own(client, weibo):
    from rest_framework.test import APIClient

    state = start(client)["state"]
    code = _code_for(weibo)
    attacker = APIClient(REMOTE_ADDR="198.51.100.1")
    start(attacker)  # a browser key of its own
    for other in (APIClient(REMOTE_ADDR="198.51.100.2"), attacker):
        refused = callback(other, code, state)
        assert refused.status_code == 400 and refused.json()["code"] == "invalid_state"
    assert weibo.simulator.calls["oauth2/access_token"] == 0
    assert callback(client, code, state).status_code == 201


def test_weibo_denied_on_its_page_sends_the_browser_back_with_an_error(client, weibo):
    import httpx

    authorize_url = start(client)["authorize_url"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    with httpx.Client() as http:
        decided = http.post(authorize_url.split("?")[0], data={**query, "deny": "1"})
    returned = parse_qs(urlsplit(decided.headers["location"]).query)
    assert returned["error"] == ["access_denied"] and returned["error_code"] == ["21330"]
    assert returned["state"] == [query["state"]]


# --- provider failures -----------------------------------------------------------------------


def test_a_code_weibo_rejects_is_400_invalid_code_with_weibos_error_code(client, weibo):
    response = callback(client, "never-issued", start(client)["state"])
    assert response.status_code == 400
    assert response.json() | {"error": "", "detail": ""} == {
        "error": "", "detail": "", "code": "invalid_code", "provider": "weibo", "provider_code": "21325"
    }


def test_a_used_code_is_rejected(client, weibo, user_factory):
    bind_existing(user_factory())
    code = _code_for(weibo)
    assert callback(client, code, start(client)["state"]).status_code == 200
    again = callback(client, code, start(client)["state"])
    assert again.status_code == 400 and again.json()["provider_code"] == "21325"


@pytest.mark.parametrize(
    ("failure", "provider_code"),
    [
        (SimReply(500, "<html>Internal Server Error</html>", "text/html"), "http_500"),
        (SimReply(503, {"error": "temporarily_unavailable", "error_code": 21331}), "21331"),
        (SimReply(400, {"error": "invalid_client", "error_code": 21324, "request": "/oauth2/access_token"}), "21324"),
        (SimReply(200, {"request": "/oauth2/access_token", "error_code": "10014", "error": "insufficient app permissions"}), "10014"),
        (SimReply(200, "<html>maintenance</html>", "text/html"), "bad_reply"),
        (SimReply(200, {"expires_in": 1}), "bad_reply"),  # no access_token, no uid
    ],
)
def test_weibo_failing_is_502_provider_error_with_its_code(client, weibo, caplog, failure, provider_code):
    weibo.simulator.failure = failure
    response = callback(client, _code_for(weibo), start(client)["state"])
    assert response.status_code == 502
    body = response.json()
    assert body["code"] == "provider_error" and body["provider"] == "weibo" and body["provider_code"] == provider_code
    assert f"provider code {provider_code}" in caplog.text


def test_a_failing_profile_call_is_502_too(client, weibo, monkeypatch):
    expired = SimReply(400, {"request": "/2/users/show.json", "error_code": "21327", "error": "expired_token"})
    monkeypatch.setattr(weibo.simulator, "users_show", lambda params: expired)
    response = callback(client, _code_for(weibo), start(client)["state"])
    assert response.status_code == 502 and response.json()["provider_code"] == "21327"


def test_a_profile_for_another_account_is_refused(client, weibo, monkeypatch):
    real = weibo.simulator.users_show
    monkeypatch.setattr(weibo.simulator, "users_show", lambda params: real({**params, "uid": XIAOMING}))
    response = callback(client, _code_for(weibo), start(client)["state"])
    assert response.status_code == 502 and response.json()["provider_code"] == "bad_reply"


def test_weibo_slower_than_the_timeout_is_502_and_no_hang(client, weibo, social_settings):
    weibo.simulator.delay = 3  # more than SOCIAL_HTTP_TIMEOUT_SECONDS (0.5 here, 5 in production)
    response = callback(client, _code_for(weibo), start(client)["state"])
    assert response.status_code == 502 and response.json()["provider_code"] == "timeout"


def test_weibo_unreachable_is_502(client, social_settings):
    from tests.servers import free_port

    social_settings.WEIBO_API_URL = f"http://127.0.0.1:{free_port()}"
    response = callback(client, "code", start(client)["state"])
    assert response.status_code == 502 and response.json()["provider_code"] == "network"


# --- limits and configuration --------------------------------------------------------------------


def test_callbacks_are_limited_per_ip(client, weibo, social_settings):
    social_settings.SOCIAL_CALLBACKS_PER_IP_PER_HOUR = 2
    for _ in range(2):
        assert callback(client, "code", "x" * 43).status_code == 400
    limited = callback(client, "code", "x" * 43)
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert limited.json()["retry_after"] == int(limited["Retry-After"])


def test_starts_are_limited_per_ip(client, social_settings):
    social_settings.SOCIAL_STARTS_PER_IP_PER_HOUR = 1
    start(client)
    assert client.post("/api/oauth/weibo/start/").status_code == 429


def test_unconfigured_weibo_answers_404_everywhere_and_is_not_listed(client, social_settings):
    assert client.get("/api/oauth/providers/").json() == [
        {"provider": "weibo", "kind": "redirect"},
        {"provider": "wechat_mp", "kind": "code"},
    ]
    social_settings.WEIBO_CLIENT_ID = ""
    assert client.get("/api/oauth/providers/").json() == [{"provider": "wechat_mp", "kind": "code"}]
    assert client.post("/api/oauth/weibo/start/").status_code == 404
    assert callback(client, "code", "x" * 43).status_code == 404
    social_settings.WECHAT_MP_SECRET = ""
    assert client.get("/api/oauth/providers/").json() == []
