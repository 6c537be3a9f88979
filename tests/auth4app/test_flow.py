"""The three endpoints and the socket, in process, against the fake auth4app on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from auth4app.services import BROWSER_COOKIE

from .conftest import API_KEY, confirm_through_simulator, cookie_header, open_socket, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("a4a_settings")]

PHONE = "+79991234567"


async def start(client: AsyncClient, phone: str = PHONE, *, as_json: bool = False):
    if as_json:
        return await client.post("/proxy/auth/code", json.dumps({"phone": phone}), content_type="application/json")
    return await client.post("/proxy/auth/code", {"phone": phone})


async def test_code_returns_upstream_fields_token_and_binding_cookie(sim, poller):
    client = AsyncClient()
    response = await start(client)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"code_id", "code", "links", "qrLink", "expires_in", "ws_url", "login_token"}
    record = sim.core.storage.get(body["code_id"])
    assert record["code"] == body["code"] and record["phone"] == "79991234567"
    assert [link["title"] for link in body["links"]] == ["WhatsApp", "Telegram", "Viber"]
    assert body["expires_in"] == 300
    assert body["ws_url"] == f"/ws/auth/{body['code_id']}/"
    assert len(body["login_token"]) >= 22  # 128+ bits, url-safe base64
    assert API_KEY not in response.content.decode()
    cookie = response.cookies[BROWSER_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    # The key went upstream in the body, with the number as digits.
    (call,) = [r for r in sim.core.storage.get_stats().items() if r[0] == "code/get"]
    assert call == ("code/get", 1)

    # JSON bodies work too; the same browser keeps its cookie value.
    again = await start(client, "+79991234568", as_json=True)
    assert again.status_code == 200
    assert again.cookies[BROWSER_COOKIE].value == cookie.value


@pytest.mark.parametrize("phone", [None, "", "12", "not a number", "+982112345678"])
async def test_code_rejects_bad_numbers(sim, poller, phone):
    data = {} if phone is None else {"phone": phone}
    response = await AsyncClient().post("/proxy/auth/code", data)
    assert response.status_code == 400
    assert response.json()["error"]
    assert sim.core.storage.get_stats().get("code/get", 0) == 0


async def test_code_rejects_bad_json(poller):
    client = AsyncClient()
    for raw in ("{", "[1, 2]"):
        response = await client.post("/proxy/auth/code", raw, content_type="application/json")
        assert response.status_code == 400 and response.json()["error"]
    assert (await client.get("/proxy/auth/code")).status_code == 405


async def test_code_limits_per_number_and_per_ip(sim, poller):
    client = AsyncClient()
    for _ in range(5):
        assert (await start(client)).status_code == 200
    limited = await start(client)
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    assert sim.core.storage.get_stats()["code/get"] == 5  # the refused code cost nothing upstream

    # 6 hits so far from this IP; 14 more numbers pass, the 21st request from the IP does not.
    for i in range(14):
        assert (await start(client, f"+7999765{i:04d}")).status_code == 200
    over = await start(client, "+79997659999")
    assert over.status_code == 429 and over["Retry-After"]


@pytest.mark.parametrize("mode", ["error", "garbage", "timeout"])
async def test_code_upstream_failure_is_502(sim, poller, settings, mode):
    settings.AUTH4APP_HTTP_TIMEOUT_SECONDS = 0.3
    sim.core.storage.set_setting("mode", mode)
    response = await start(AsyncClient())
    assert response.status_code == 502
    assert response.json()["error"]


async def test_code_upstream_unreachable_or_wrong_key_is_502(sim, poller, settings):
    settings.AUTH4APP_API_KEY = "wrong"
    assert (await start(AsyncClient())).status_code == 502
    settings.AUTH4APP_API_KEY = API_KEY
    settings.AUTH4APP_API_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    assert (await start(AsyncClient())).status_code == 502


async def test_result_and_complete_through_every_status(sim, poller):
    client = AsyncClient()
    body = (await start(client)).json()
    code_id = body["code_id"]

    pending = (await client.post("/proxy/auth/result", {"code_id": code_id})).json()
    assert pending["auth"] is False and pending["status"] == "pending" and 0 < pending["expires_in"] <= 300
    early = await client.post("/proxy/auth/complete", {"code_id": code_id})
    assert early.status_code == 400 and early.json()["error"]

    await confirm_through_simulator(client, sim, code_id)
    result = (await client.post("/proxy/auth/result", {"code_id": code_id})).json()
    assert result == {"auth": True, "status": "confirmed", "phone": PHONE}

    response = await client.post("/proxy/auth/complete", {"code_id": code_id}, headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
    assert response.status_code == 200, response.content
    login = response.json()
    assert set(login) == {"token", "access", "refresh", "user", "session"}
    assert login["token"] == login["access"]
    assert login["user"]["mobile_number"] == login["user"]["phone"] == PHONE

    from accounts.models import LoginSession

    session = await LoginSession.objects.select_related("user").aget(pk=login["session"]["id"])
    assert session.login_method == "auth4app" and session.ip == "127.0.0.1" and "Linux" in session.user_agent
    assert str(session.user.mobile_number) == PHONE and session.user.pk == login["user"]["id"]
    me = await AsyncClient().get("/api/me/", headers={"Authorization": f"Bearer {login['access']}"})
    assert me.status_code == 200

    second = await client.post("/proxy/auth/complete", {"code_id": code_id})
    assert second.status_code == 400 and second.json()["code"] == "already_completed"
    final = (await client.post("/proxy/auth/result", {"code_id": code_id})).json()
    assert final == {"auth": True, "status": "completed", "phone": PHONE}


async def test_user_is_found_by_the_confirmed_number(sim, poller, user_factory):
    existing = await sync_to_async(user_factory)("+79990001122")
    client = AsyncClient()
    code_id = (await start(client)).json()["code_id"]
    sim.core.confirm(code_id, phone="79990001122")  # confirmed from another messenger account
    await wait_for(lambda: _status(client, code_id, "confirmed"))
    login = (await client.post("/proxy/auth/complete", {"code_id": code_id})).json()
    assert login["user"]["id"] == existing.pk


async def _status(client, code_id, expected, **extra):
    response = await client.post("/proxy/auth/result", {"code_id": code_id, **extra})
    return response.json().get("status") == expected


async def test_binding_cookie_or_login_token(sim, poller):
    owner = AsyncClient()
    body = (await start(owner)).json()
    code_id, token = body["code_id"], body["login_token"]

    stranger = AsyncClient()
    for path in ("/proxy/auth/result", "/proxy/auth/complete"):
        refused = await stranger.post(path, {"code_id": code_id})
        assert refused.status_code == 403 and refused.json()["error"]
        wrong = await stranger.post(path, {"code_id": code_id, "login_token": token[:-2] + "xx"})
        assert wrong.status_code == 403
    # Another browser's cookie is not this login's.
    other_browser = AsyncClient()
    await start(other_browser, "+79991110000")
    assert (await other_browser.post("/proxy/auth/result", {"code_id": code_id})).status_code == 403

    # The login_token works for a client without the cookie (JSON body too).
    script = AsyncClient()
    ok = await script.post("/proxy/auth/result", json.dumps({"code_id": code_id, "login_token": token}),
                           content_type="application/json")
    assert ok.status_code == 200 and ok.json()["status"] == "pending"

    sim.core.confirm(code_id)
    await wait_for(lambda: _status(script, code_id, "confirmed", login_token=token))
    assert (await stranger.post("/proxy/auth/complete", {"code_id": code_id})).status_code == 403
    done = await script.post("/proxy/auth/complete", {"code_id": code_id, "login_token": token})
    assert done.status_code == 200


async def test_unknown_and_malformed_code_ids(poller):
    client = AsyncClient()
    assert (await client.post("/proxy/auth/result", {"code_id": "f" * 32})).status_code == 404
    assert (await client.post("/proxy/auth/complete", {"code_id": "f" * 32})).status_code == 404
    assert (await client.post("/proxy/auth/result", {})).status_code == 400
    bad = await client.post("/proxy/auth/result", json.dumps({"code_id": ["x"]}), content_type="application/json")
    assert bad.status_code == 400
    assert (await client.post("/proxy/auth/result", {"code_id": "../../etc"})).status_code == 400


async def test_socket_pushes_pending_then_confirmed_then_closes(sim, poller):
    client = AsyncClient()
    body = (await start(client)).json()
    socket = await open_socket(body["code_id"], headers=cookie_header(client))
    try:
        first = await socket.receive_json_from(timeout=2)
        assert first["type"] == "auth.status" and first["status"] == "pending" and 0 < first["expires_in"] <= 300
        assert await socket.receive_nothing(timeout=0.3)
        sim.core.confirm(body["code_id"])
        final = await socket.receive_json_from(timeout=2)
        assert final == {"type": "auth.status", "status": "confirmed", "phone": PHONE}
        closed = await socket.receive_output(timeout=1)
        assert closed == {"type": "websocket.close", "code": 1000}
    finally:
        await socket.disconnect()
    # The socket was pushed the result; polling clients read it from the same state.
    assert await _status(client, body["code_id"], "confirmed")


async def test_socket_never_waits_for_the_database_thread(sim, poller, monkeypatch):
    # Channels would hop to the sync thread (shared with Django's middleware) before every message
    # to close stale database connections; this consumer uses no database, so it must not.
    import channels.consumer

    hops = []

    async def counted():
        hops.append(1)

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    client = AsyncClient()
    body = (await start(client)).json()
    socket = await open_socket(body["code_id"], headers=cookie_header(client))
    try:
        assert (await socket.receive_json_from(timeout=2))["status"] == "pending"
        sim.core.confirm(body["code_id"])
        assert (await socket.receive_json_from(timeout=2))["status"] == "confirmed"
        assert (await socket.receive_output(timeout=1))["code"] == 1000
    finally:
        await socket.disconnect()
    assert hops == []


async def test_socket_with_login_token_and_after_the_fact(sim, poller):
    client = AsyncClient()
    body = (await start(client)).json()
    sim.core.confirm(body["code_id"])
    await wait_for(lambda: _status(client, body["code_id"], "confirmed"))
    # Opened after the confirmation: pending, then confirmed at once.
    socket = await open_socket(body["code_id"], login_token=body["login_token"])
    try:
        assert (await socket.receive_json_from())["status"] == "pending"
        assert (await socket.receive_json_from())["status"] == "confirmed"
        assert (await socket.receive_output())["code"] == 1000
    finally:
        await socket.disconnect()


async def test_socket_refuses_other_clients_with_4403(sim, poller):
    owner = AsyncClient()
    body = (await start(owner)).json()
    other = AsyncClient()
    await start(other, "+79991110000")
    for kwargs in ({}, {"headers": cookie_header(other)}, {"login_token": "x" * 43}):
        socket = await open_socket(body["code_id"], **kwargs)  # accepted, so the client sees why
        try:
            assert await socket.receive_output(timeout=1) == {"type": "websocket.close", "code": 4403}
        finally:
            await socket.disconnect()
    socket = await open_socket("f" * 32, login_token=body["login_token"])
    try:
        assert (await socket.receive_output(timeout=1))["code"] == 4404
    finally:
        await socket.disconnect()


async def test_socket_answers_client_frames_with_an_error_frame(sim, poller):
    client = AsyncClient()
    body = (await start(client)).json()
    socket = await open_socket(body["code_id"], login_token=body["login_token"])
    try:
        await socket.receive_json_from()
        await socket.send_to(text_data="not json")
        assert (await socket.receive_json_from())["type"] == "error"
    finally:
        await socket.disconnect()


async def test_many_result_requests_cost_no_extra_upstream_calls(sim, poller, settings):
    settings.AUTH4APP_POLL_INTERVAL = 0.5
    client = AsyncClient()
    body = (await start(client)).json()
    loop = asyncio.get_running_loop()
    began = loop.time()
    for _ in range(40):
        assert await _status(client, body["code_id"], "pending")
        await asyncio.sleep(0.02)
    elapsed = loop.time() - began
    calls = sim.core.storage.get_stats().get("code/result", 0)
    # One call per started interval at most (the first is one interval after the start).
    assert calls <= int(elapsed / 0.5) + 1, (calls, elapsed)


async def test_a_frame_pushed_while_the_socket_connects_comes_after_pending(sim, poller, monkeypatch):
    # The socket listens before it reads the state; a push landing in between is held until the
    # pending frame is out, so the client still sees pending, then exactly one terminal frame.
    from auth4app import push

    client = AsyncClient()
    body = (await start(client)).json()
    original = push.ready

    async def ready_with_a_push_in_between():
        await original()
        push.deliver_here(body["code_id"], {"type": "auth.status", "status": "error", "detail": "x"})
        await asyncio.sleep(0.05)  # let the delivery run before the consumer sends its first frame

    monkeypatch.setattr(push, "ready", ready_with_a_push_in_between)
    socket = await open_socket(body["code_id"], headers=cookie_header(client))
    try:
        assert (await socket.receive_json_from(timeout=2))["status"] == "pending"
        assert await socket.receive_json_from(timeout=2) == {"type": "auth.status", "status": "error", "detail": "x"}
        assert (await socket.receive_output(timeout=1))["code"] == 1000
    finally:
        await socket.disconnect()


async def test_socket_takes_no_channel_layer_subscription(sim, poller, monkeypatch):
    # Frames come through the one push channel; a channel-layer channel per socket would cost a
    # SUBSCRIBE and an UNSUBSCRIBE each, serialized through the layer's lock.
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    made = []
    original = layer.new_channel

    async def counted(*args, **kwargs):
        made.append(1)
        return await original(*args, **kwargs)

    monkeypatch.setattr(layer, "new_channel", counted)
    client = AsyncClient()
    body = (await start(client)).json()
    socket = await open_socket(body["code_id"], headers=cookie_header(client))
    try:
        assert (await socket.receive_json_from(timeout=2))["status"] == "pending"
        sim.core.confirm(body["code_id"])
        assert (await socket.receive_json_from(timeout=2))["status"] == "confirmed"
    finally:
        await socket.disconnect()
    assert made == []
