"""WeChat mini-program login against a fake WeChat (`sns/jscode2session`) on 127.0.0.1."""

from __future__ import annotations

import logging

import pytest

from accounts.models import LoginSession
from devtools.social_simulator import SimReply
from social.models import SocialIdentity

from .conftest import NUMBER, bind

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("social_settings")]


def login(client, code: str, **extra):
    return client.post("/api/oauth/wechat_mp/login/", {"code": code, **extra}, format="json")


def test_an_unbound_openid_gets_a_bind_token_then_binds_and_keeps_the_unionid(client, wechat, sms, caplog):
    caplog.set_level(logging.DEBUG)
    code = wechat.simulator.wx_login("alice")
    pending = login(client, code, nickname="Alice", avatar_url="https://example.com/a.png")

    assert pending.status_code == 201
    body = pending.json()
    assert body["provider"] == "wechat_mp" and body["expires_in"] == 600
    assert body["profile"] == {"nickname": "Alice", "avatar_url": "https://example.com/a.png"}

    bound = bind(client, sms, body["bind_token"])
    assert bound.status_code == 200
    identity = SocialIdentity.objects.get()
    assert identity.provider == "wechat_mp"
    assert identity.uid == wechat.simulator.openid("alice")
    assert identity.unionid == wechat.simulator.unionid("alice")
    assert str(identity.user.mobile_number) == NUMBER
    assert LoginSession.objects.get(pk=bound.json()["session"]["id"]).login_method == "social"

    # The openid, unionid and session_key never reach the client, and session_key is never logged.
    for response in (pending, bound):
        text = response.content.decode()
        assert identity.uid not in text and identity.unionid not in text and "session_key" not in text
    assert "session_key" not in caplog.text and identity.uid not in caplog.text


def test_a_bound_openid_logs_in(client, wechat, user_factory):
    user = user_factory()
    SocialIdentity.objects.create(provider="wechat_mp", uid=wechat.simulator.openid("bob"), user=user, nickname="Bob")

    response = login(client, wechat.simulator.wx_login("bob"))

    assert response.status_code == 200
    body = response.json()
    assert body["user"]["id"] == user.pk
    assert LoginSession.objects.get(pk=body["session"]["id"]).login_method == "social"
    identity = SocialIdentity.objects.get()
    assert identity.nickname == "Bob"  # no nickname sent: the one we had stays
    assert identity.unionid == wechat.simulator.unionid("bob")  # learnt on this login


def test_a_disabled_user_is_403_inactive_and_gets_no_session(client, wechat, user_factory):
    user = user_factory(is_active=False)
    SocialIdentity.objects.create(provider="wechat_mp", uid=wechat.simulator.openid("bob"), user=user, nickname="Bob")

    response = login(client, wechat.simulator.wx_login("bob"))

    assert response.status_code == 403 and response.json()["code"] == "inactive"
    assert "access" not in response.json()
    assert not LoginSession.objects.filter(user=user).exists()


def test_a_social_login_sends_user_logged_in_with_its_request(client, wechat, user_factory):
    from django.contrib.auth.signals import user_logged_in

    from tests.receivers import receiving

    user = user_factory()
    SocialIdentity.objects.create(provider="wechat_mp", uid=wechat.simulator.openid("bob"), user=user, nickname="Bob")
    with receiving(user_logged_in) as logins:
        assert login(client, wechat.simulator.wx_login("bob")).status_code == 200
    (call,) = logins
    assert call["user"] == user and call["method"] == "social"
    assert call["request"].path == "/api/oauth/wechat_mp/login/"


@pytest.mark.parametrize(("make_code", "provider_code"), [
    (lambda sim: "never-issued", "40029"),
    (lambda sim: _used(sim), "40163"),
])
def test_a_code_wechat_rejects_is_400_invalid_code(client, wechat, make_code, provider_code):
    response = login(client, make_code(wechat.simulator))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_code" and body["provider"] == "wechat_mp" and body["provider_code"] == provider_code


def _used(simulator) -> str:
    code = simulator.wx_login("carol")
    simulator.jscode2session("GET", {"appid": simulator.appid, "secret": simulator.secret, "js_code": code})
    return code


@pytest.mark.parametrize(
    ("failure", "provider_code", "status"),
    [
        (SimReply(200, {"errcode": 40226, "errmsg": "code blocked, rid: 1"}, "text/plain"), "40226", 400),
        (SimReply(200, {"errcode": 45011, "errmsg": "api minute-quota reach limit mustslower retry next minute"}, "text/plain"), "45011", 502),
        (SimReply(200, {"errcode": -1, "errmsg": "system error"}, "text/plain"), "-1", 502),
        (SimReply(500, "<html>502 Bad Gateway</html>", "text/html"), "http_500", 502),
        (SimReply(200, {"errcode": 0, "session_key": "k"}), "bad_reply", 502),  # no openid
    ],
)
def test_wechat_failing_is_a_clear_error_with_its_code(client, wechat, failure, provider_code, status):
    wechat.simulator.failure = failure
    response = login(client, wechat.simulator.wx_login("dave"))
    assert response.status_code == status
    body = response.json()
    assert body["provider_code"] == provider_code
    assert body["code"] == ("invalid_code" if status == 400 else "provider_error")


def test_a_wrong_app_secret_is_a_provider_error_not_the_clients_fault(client, wechat, social_settings):
    social_settings.WECHAT_MP_SECRET = "wrong"
    response = login(client, wechat.simulator.wx_login("erin"))
    assert response.status_code == 502 and response.json()["provider_code"] == "40125"


def test_wechat_slower_than_the_timeout_is_502(client, wechat):
    wechat.simulator.delay = 3  # more than SOCIAL_HTTP_TIMEOUT_SECONDS (0.5 here, 5 in production)
    response = login(client, wechat.simulator.wx_login("frank"))
    assert response.status_code == 502 and response.json()["provider_code"] == "timeout"


def test_the_request_wechat_receives_is_exactly_jscode2session(client, wechat, social_settings, monkeypatch):
    seen = []
    real = wechat.simulator.jscode2session
    monkeypatch.setattr(wechat.simulator, "jscode2session", lambda method, params: seen.append((method, params)) or real(method, params))
    code = wechat.simulator.wx_login("gina")
    assert login(client, code).status_code == 201
    assert seen == [("GET", {"appid": social_settings.WECHAT_MP_APPID, "secret": social_settings.WECHAT_MP_SECRET,
                             "js_code": code, "grant_type": "authorization_code"})]


def test_bad_input_is_400_and_wechat_is_not_called(client, wechat):
    assert login(client, "").status_code == 400
    assert login(client, "x", avatar_url="javascript:alert(1)").status_code == 400
    assert login(client, "x", nickname="n" * 101).status_code == 400
    assert wechat.simulator.calls["sns/jscode2session"] == 0


def test_logins_are_limited_per_ip(client, wechat, social_settings):
    social_settings.SOCIAL_LOGINS_PER_IP_PER_HOUR = 1
    assert login(client, "never-issued").status_code == 400
    limited = login(client, "never-issued")
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert wechat.simulator.calls["sns/jscode2session"] == 1


def test_unconfigured_wechat_is_404(client, social_settings):
    social_settings.WECHAT_MP_APPID = ""
    assert login(client, "x").status_code == 404
