"""Social-login fixtures: the Weibo and WeChat simulators as fake providers on 127.0.0.1 (their exact
wire formats, over real HTTP), and the app pointed at them."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from devtools.social_simulator import SimulatorServer, WechatSimulator, WeiboSimulator
from tests.otp.conftest import SmsSpy  # the SMS gateway behind /api/otp/send/, remembering each code

WEIBO_CLIENT_ID = "test-weibo-app"
WEIBO_CLIENT_SECRET = "test-weibo-secret"
WEIBO_REDIRECT_URI = "http://testserver/login/weibo/"
WECHAT_APPID = "wxtest0000000001"
WECHAT_SECRET = "test-wechat-secret"
CLIENT_IP = "203.0.113.9"
NUMBER = "+989121234567"


@pytest.fixture(scope="session")
def _weibo_server():
    with SimulatorServer(WeiboSimulator()) as server:
        yield server


@pytest.fixture(scope="session")
def _wechat_server():
    with SimulatorServer(WechatSimulator()) as server:
        yield server


# The servers live for the whole run (stopping one takes half a second); each test gets a fresh simulator.


@pytest.fixture
def weibo(_weibo_server):
    """A fake Weibo: `weibo.simulator` is its state (users, failure, delay, calls)."""
    _weibo_server.simulator = WeiboSimulator(
        client_id=WEIBO_CLIENT_ID, client_secret=WEIBO_CLIENT_SECRET, redirect_uri=WEIBO_REDIRECT_URI,
        public_url=_weibo_server.url,
    )
    return _weibo_server


@pytest.fixture
def wechat(_wechat_server):
    _wechat_server.simulator = WechatSimulator(appid=WECHAT_APPID, secret=WECHAT_SECRET, public_url=_wechat_server.url)
    return _wechat_server


@pytest.fixture
def social_settings(settings, weibo, wechat):
    """Both providers configured against the fakes; known OTP and limit settings."""
    settings.WEIBO_CLIENT_ID = WEIBO_CLIENT_ID
    settings.WEIBO_CLIENT_SECRET = WEIBO_CLIENT_SECRET
    settings.WEIBO_REDIRECT_URI = WEIBO_REDIRECT_URI
    settings.WEIBO_API_URL = weibo.url
    settings.WECHAT_MP_APPID = WECHAT_APPID
    settings.WECHAT_MP_SECRET = WECHAT_SECRET
    settings.WECHAT_API_URL = wechat.url
    # The timeout tests stall a fake longer than this; the real value is 5 s.
    settings.SOCIAL_HTTP_TIMEOUT_SECONDS = 0.5
    for budget in ("STARTS", "CALLBACKS", "LOGINS", "BINDS"):
        setattr(settings, f"SOCIAL_{budget}_PER_IP_PER_HOUR", 30)
    settings.OTP_LENGTH = 6
    settings.OTP_MAX_ATTEMPTS = 5
    settings.OTP_RESEND_SECONDS = 60
    settings.OTP_FAILURES_PER_NUMBER_PER_HOUR = 20
    settings.TRUSTED_PROXY_COUNT = 0
    settings.PHONE_DEFAULT_REGION = None
    settings.PHONE_ALLOWED_REGIONS = []
    return settings


@pytest.fixture
def client():
    from rest_framework.test import APIClient

    return APIClient(REMOTE_ADDR=CLIENT_IP)


@pytest.fixture
def sms(monkeypatch):
    spy = SmsSpy()
    monkeypatch.setattr("otp.services.sms_otp_send", spy)
    return spy


def authorize(authorize_url: str, uid: str) -> dict[str, str]:
    """What a person does on Weibo's page: open the authorize URL, pick account `uid`. Returns the
    query Weibo sends the browser back with (code and state, or error)."""
    with httpx.Client(timeout=5) as http:
        page = http.get(authorize_url)
        assert page.status_code == 200 and "Pick a fake Weibo user" in page.text
        query = parse_qs(urlsplit(authorize_url).query)
        form = {name: query[name][0] for name in ("client_id", "redirect_uri", "state")}
        decided = http.post(authorize_url.split("?")[0], data={**form, "uid": uid})
    assert decided.status_code == 302
    location = decided.headers["location"]
    assert location.startswith(WEIBO_REDIRECT_URI + "?")
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def weibo_login(client, uid: str):
    """Start, authorize as `uid`, call back: the callback's response."""
    started = client.post("/api/oauth/weibo/start/")
    assert started.status_code == 200, started.content
    returned = authorize(started.json()["authorize_url"], uid)
    return client.post("/api/oauth/weibo/callback/", {"code": returned["code"], "state": returned["state"]}, format="json")


def bind(client, sms, bind_token: str, number: str = NUMBER):
    """Send an SMS code to `number` through /api/otp/send/ and bind with it."""
    sent = client.post("/api/otp/send/", {"mobile_number": number}, format="json")
    assert sent.status_code == 200, sent.content
    return client.post(
        "/api/oauth/bind/", {"bind_token": bind_token, "mobile_number": number, "code": sms.last_code(number)}, format="json"
    )
