"""The upstream client itself (aiohttp, one keep-alive session per event loop) against a fake on 127.0.0.1."""

from __future__ import annotations

import pytest

from auth4app import upstream
from tests.fakes.http import FakeHTTPServer, Reply


@pytest.fixture
async def closed_after():
    yield
    await upstream.aclose()


async def test_requests_are_json_with_the_key_and_replies_are_read_whatever_their_type(settings, closed_after):
    def handle(request):
        if request.path.endswith("/code/get"):
            return Reply(body={"code_id": "abc_1", "code": 1234, "qrLink": "q", "links": ["l"]})
        return Reply(body={"auth": "true", "phone": "+98 912 000 0000"}, headers={"Content-Type": "text/plain"})

    with FakeHTTPServer(handle) as fake:
        settings.AUTH4APP_API_URL = fake.url
        settings.AUTH4APP_API_KEY = "k"
        issued = await upstream.code_get(phone_e164="+989120000000")
        assert issued.code_id == "abc_1" and issued.code == 1234
        for _ in range(3):
            result = await upstream.code_result(code_id="abc_1")
            assert result == upstream.CodeResult(auth=True, phone="989120000000")
        calls = fake.calls()
    assert [c.json() for c in calls[:2]] == [{"api_key": "k", "phone": "989120000000"}, {"api_key": "k", "code_id": "abc_1"}]
    assert all(c.headers["content-type"] == "application/json" for c in calls)
    assert all(c.headers["user-agent"] == "hotline-auth4app" for c in calls)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=500, body={"auth": True}),
        Reply(body="not json"),
        Reply(body=["a", "list"]),
        Reply(body={"auth": True}, delay=1.0),  # past the timeout
    ],
)
async def test_unusable_replies_are_upstream_errors(settings, closed_after, reply):
    with FakeHTTPServer(lambda request: reply) as fake:
        settings.AUTH4APP_API_URL = fake.url
        settings.AUTH4APP_HTTP_TIMEOUT_SECONDS = 0.3
        with pytest.raises(upstream.UpstreamError):
            await upstream.code_result(code_id="abc")


async def test_redirects_are_not_followed(settings, closed_after):
    def handle(request):
        if request.path.endswith("/code/result"):
            return Reply(status=307, headers={"Location": "/elsewhere"})
        return Reply(body={"auth": True, "phone": "989120000000"})

    with FakeHTTPServer(handle) as fake:
        settings.AUTH4APP_API_URL = fake.url
        with pytest.raises(upstream.UpstreamError, match="HTTP 307"):
            await upstream.code_result(code_id="abc")
        assert [c.path for c in fake.calls()] == ["/code/result"]
