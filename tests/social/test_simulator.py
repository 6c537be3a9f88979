"""The Weibo and WeChat simulators: exact wire formats standalone, Django views only with DEBUG on
and no keys; the settings that switch them on, and the refusal of half-configured providers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.http import Http404
from django.test import RequestFactory

from devtools import social_views as simulator_views
from devtools.social_simulator import FAKE_WEIBO_USERS
from tests.servers import ROOT

from .conftest import WEIBO_CLIENT_ID, WEIBO_CLIENT_SECRET, WEIBO_REDIRECT_URI

ZAKU = FAKE_WEIBO_USERS[0]["uid"]


def test_weibo_wire_format(weibo):
    app = {"client_id": WEIBO_CLIENT_ID, "client_secret": WEIBO_CLIENT_SECRET, "redirect_uri": WEIBO_REDIRECT_URI}
    with httpx.Client(base_url=weibo.url) as http:
        page = http.get("/oauth2/authorize", params={**app, "response_type": "code", "state": "s1"})
        assert page.status_code == 200 and "zaku" in page.text and "client_secret" not in page.text
        assert http.get("/oauth2/authorize", params={**app, "redirect_uri": "https://evil.example/", "response_type": "code"}).status_code == 400
        assert http.get("/oauth2/authorize", params={**app, "client_id": "other", "response_type": "code"}).status_code == 400

        def code() -> str:
            decided = http.post("/oauth2/authorize", data={**app, "state": "s1", "uid": ZAKU})
            query = parse_qs(urlsplit(decided.headers["location"]).query)
            assert query["state"] == ["s1"]
            return query["code"][0]

        grant = {**app, "grant_type": "authorization_code"}
        # Form body (the docs) and query string of a POST (what many clients do) are both accepted.
        by_form = http.post("/oauth2/access_token", data={**grant, "code": code()})
        by_query = http.post("/oauth2/access_token", params={**grant, "code": code()})
        for reply in (by_form, by_query):
            body = reply.json()
            assert reply.status_code == 200 and body["uid"] == ZAKU and isinstance(body["uid"], str)
            assert set(body) == {"access_token", "expires_in", "remind_in", "uid", "isRealName"}

        def refused(reply) -> tuple[int, int, str]:
            body = reply.json()
            assert body["request"] == "/oauth2/access_token" and "error_description" in body
            return reply.status_code, body["error_code"], body["error"]

        assert refused(http.post("/oauth2/access_token", data={**grant, "code": "nope"})) == (400, 21325, "invalid_grant")
        assert refused(http.post("/oauth2/access_token", data={**grant, "client_secret": "x", "code": code()})) == (400, 21324, "invalid_client")
        assert refused(http.post("/oauth2/access_token", data={**grant, "grant_type": "password", "code": code()})) == (400, 21328, "unsupported_grant_type")
        assert refused(http.post("/oauth2/access_token", data={**grant, "redirect_uri": "https://x.example/", "code": code()})) == (400, 21322, "redirect_uri_mismatch")
        assert refused(http.get("/oauth2/access_token", params={**grant, "code": code()}))[1] == 21323

        token = by_form.json()["access_token"]
        profile = http.get("/2/users/show.json", params={"access_token": token, "uid": ZAKU}).json()
        assert profile["idstr"] == ZAKU and profile["id"] == int(ZAKU) and profile["screen_name"] == "zaku"
        assert ZAKU not in profile["avatar_large"]
        avatar = http.get(urlsplit(profile["avatar_large"]).path)
        assert avatar.status_code == 200 and avatar.headers["content-type"] == "image/svg+xml"
        bad = http.get("/2/users/show.json", params={"access_token": "nope", "uid": ZAKU})
        assert bad.status_code == 400 and bad.json() == {"request": "/2/users/show.json", "error_code": 21332, "error": "invalid_access_token"}


def test_wechat_wire_format(wechat):
    simulator = wechat.simulator
    app = {"appid": simulator.appid, "secret": simulator.secret, "grant_type": "authorization_code"}
    with httpx.Client(base_url=wechat.url) as http:
        code = http.get("/wx.login", params={"user": "alice"}).json()["code"]
        reply = http.get("/sns/jscode2session", params={**app, "js_code": code})
        assert reply.status_code == 200 and reply.headers["content-type"] == "text/plain"  # as WeChat does at times
        body = json.loads(reply.content)
        assert set(body) == {"openid", "session_key", "unionid"}
        assert body["openid"] == simulator.openid("alice") and body["openid"] != simulator.openid("bob")

        def errcode(**params) -> int:
            reply = http.get("/sns/jscode2session", params={**app, **params})
            body = json.loads(reply.content)
            assert reply.status_code == 200 and "rid:" in body["errmsg"]
            return body["errcode"]

        assert errcode(js_code=code) == 40163  # single use
        assert errcode(js_code="nope") == 40029
        assert errcode(js_code="") == 41008
        assert errcode(js_code="x", appid="wxother") == 40013
        assert errcode(js_code="x", secret="wrong") == 40125
        assert json.loads(http.post("/sns/jscode2session", params={**app, "js_code": "x"}).content)["errcode"] == 41002
        assert json.loads(http.get("/sns/jsCode2Session", params={**app, "js_code": "x"}).content)["errcode"] == 40066


@pytest.mark.django_db
def test_simulators_are_not_mounted_with_debug_off(client, settings):
    assert settings.DEBUG is False and not settings.WEIBO_SIMULATOR and not settings.WECHAT_MP_SIMULATOR
    assert client.get("/dev/weibo/oauth2/authorize").status_code == 404
    assert client.post("/dev/weibo/oauth2/access_token").status_code == 404
    assert client.get("/dev/wechat/wx.login").status_code == 404
    assert client.get("/dev/wechat/sns/jscode2session").status_code == 404


def test_simulator_views_refuse_with_debug_off_even_if_mounted(settings):
    settings.DEBUG = False
    settings.WEIBO_SIMULATOR = settings.WECHAT_MP_SIMULATOR = True
    with pytest.raises(Http404):
        simulator_views.weibo(RequestFactory().get("/dev/weibo/oauth2/authorize"), endpoint="oauth2/authorize")
    with pytest.raises(Http404):
        simulator_views.wechat(RequestFactory().get("/dev/wechat/wx.login"), endpoint="wx.login")


@pytest.mark.django_db
def test_debug_simulators_answer_as_the_configured_apps(client, settings):
    settings.DEBUG = True
    settings.WEIBO_SIMULATOR = settings.WECHAT_MP_SIMULATOR = True
    settings.ROOT_URLCONF = "tests.social.urls_simulator"
    settings.WEIBO_CLIENT_ID, settings.WEIBO_CLIENT_SECRET = "dev-app", "dev-secret"
    settings.WEIBO_REDIRECT_URI = "http://testserver/login/weibo/"
    settings.WECHAT_MP_APPID, settings.WECHAT_MP_SECRET = "wxdev", "dev-wechat-secret"
    app = {"client_id": "dev-app", "redirect_uri": settings.WEIBO_REDIRECT_URI, "state": "s"}

    page = client.get("/dev/weibo/oauth2/authorize", {**app, "response_type": "code"})
    assert page.status_code == 200 and "小明" in page.content.decode()
    # It redirects only to the registered redirect URI, so it is no open redirect.
    assert client.post("/dev/weibo/oauth2/authorize", {**app, "redirect_uri": "https://evil.example/", "uid": ZAKU}).status_code == 400
    decided = client.post("/dev/weibo/oauth2/authorize", {**app, "uid": ZAKU})
    assert decided.status_code == 302 and decided["Location"].startswith(settings.WEIBO_REDIRECT_URI + "?code=")
    code = parse_qs(urlsplit(decided["Location"]).query)["code"][0]
    token = client.post("/dev/weibo/oauth2/access_token", {**app, "client_secret": "dev-secret", "grant_type": "authorization_code", "code": code})
    assert token.status_code == 200 and token.json()["uid"] == ZAKU
    # The cache holds codes across requests (and processes): used once, refused after.
    again = client.post("/dev/weibo/oauth2/access_token", {**app, "client_secret": "dev-secret", "grant_type": "authorization_code", "code": code})
    assert again.json()["error_code"] == 21325

    js_code = client.get("/dev/wechat/wx.login", {"user": "alice"}).json()["code"]
    session = json.loads(client.get("/dev/wechat/sns/jscode2session", {
        "appid": settings.WECHAT_MP_APPID, "secret": settings.WECHAT_MP_SECRET, "js_code": js_code, "grant_type": "authorization_code",
    }).content)
    assert set(session) == {"openid", "session_key", "unionid"}


def _settings_in_a_fresh_process(cases: list[dict]) -> list:
    """Import config.settings once per environment in `cases`; each result is [simulators, urls] or the
    SystemExit message."""
    script = textwrap.dedent(
        """
        import importlib, json, os, sys
        results = []
        base = dict(os.environ)
        for case in json.loads(sys.argv[1]):
            os.environ.clear(); os.environ.update(base); os.environ.update(case)
            try:
                import config.settings as s
                s = importlib.reload(s)
                results.append([s.WEIBO_SIMULATOR, s.WECHAT_MP_SIMULATOR, s.WEIBO_API_URL, s.WEIBO_REDIRECT_URI, s.WECHAT_API_URL])
            except SystemExit as exc:
                results.append(str(exc))
        print(json.dumps(results))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "WEIBO_", "WECHAT_"))}
    env.update({"PORT": "8123", "SECRET_KEY": "x" * 50, "SMS_ALLOW_DEV_PROVIDER": "1"})
    out = subprocess.run([sys.executable, "-c", script, json.dumps(cases)], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_settings_switch_the_simulators_on_only_with_debug_on_and_no_keys():
    weibo_keys = {"WEIBO_CLIENT_ID": "id", "WEIBO_CLIENT_SECRET": "s", "WEIBO_REDIRECT_URI": "https://hotline.example/login/weibo/"}
    assert _settings_in_a_fresh_process([
        {"DEBUG": "0"},
        {"DEBUG": "1"},
        {"DEBUG": "1", **weibo_keys, "WECHAT_MP_APPID": "wx1", "WECHAT_MP_SECRET": "s"},
    ]) == [
        [False, False, "https://api.weibo.com", "", "https://api.weixin.qq.com"],
        [True, True, "http://127.0.0.1:8123/dev/weibo", "http://127.0.0.1:8123/login/weibo/", "http://127.0.0.1:8123/dev/wechat"],
        [False, False, "https://api.weibo.com", "https://hotline.example/login/weibo/", "https://api.weixin.qq.com"],
    ]


def test_half_configured_or_cleartext_providers_refuse_to_start():
    results = _settings_in_a_fresh_process([
        {"DEBUG": "0", "WEIBO_CLIENT_ID": "id"},
        {"DEBUG": "1", "WECHAT_MP_APPID": "wx1"},
        {"DEBUG": "0", "WEIBO_CLIENT_ID": "id", "WEIBO_CLIENT_SECRET": "s", "WEIBO_REDIRECT_URI": "/login/weibo/"},
        {"DEBUG": "0", "WEIBO_CLIENT_ID": "id", "WEIBO_CLIENT_SECRET": "s", "WEIBO_REDIRECT_URI": "http://hotline.example/login/weibo/"},
        {"DEBUG": "0", "WECHAT_MP_APPID": "wx1", "WECHAT_MP_SECRET": "s", "WECHAT_API_URL": "http://api.weixin.qq.com"},
        # Fakes on this machine are fine (the tests' server processes point at them).
        {"DEBUG": "0", "WECHAT_MP_APPID": "wx1", "WECHAT_MP_SECRET": "s", "WECHAT_API_URL": "http://127.0.0.1:9/"},
    ])
    assert results[0] == "hotline: social login: WEIBO_CLIENT_SECRET, WEIBO_REDIRECT_URI must be set too (or unset the provider's other keys)"
    assert results[1] == "hotline: social login: WECHAT_MP_SECRET must be set too (or unset the provider's other keys)"
    assert "WEIBO_REDIRECT_URI must be an absolute http(s) URL" in results[2]
    assert results[3] == "hotline: social login: WEIBO_REDIRECT_URI must use https with DEBUG off"
    assert results[4] == "hotline: social login: WECHAT_API_URL must use https with DEBUG off"
    assert results[5][4] == "http://127.0.0.1:9"


@pytest.mark.django_db
def test_debug_weibo_simulator_serves_its_avatars(client, settings):
    settings.DEBUG = True
    settings.WEIBO_SIMULATOR = True
    settings.ROOT_URLCONF = "tests.social.urls_simulator"
    from devtools.social_simulator import WeiboSimulator

    path = urlsplit(WeiboSimulator(public_url="http://testserver/dev/weibo").avatar_url(ZAKU)).path
    avatar = client.get(path)
    assert avatar.status_code == 200 and avatar["Content-Type"] == "image/svg+xml"
