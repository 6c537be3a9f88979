"""Bad input over HTTP (issue 21, "Bad input"): every malformed request is a clean 4xx with a JSON
body and a `code`, never a 500 or an HTML page."""

from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator

from tests.chat.conftest import make_group

pytestmark = pytest.mark.django_db(transaction=True)

NESTED = "[" * 5000 + "]" * 5000


def assert_json_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    if code is not None:
        assert body.get("code") == code, body
    return body


@pytest.fixture
def member(auth_client, user_factory):
    client, result = auth_client()
    room = make_group(result.user, [user_factory()])
    return client, room


@pytest.mark.parametrize("field, value", [("text", "a\x00b"), ("text", "a\ud800b"), ("client_id", "a\x00"),
                                          ("client_id", "\udfff")])
def test_nul_or_surrogate_in_a_message_is_400(member, field, value):
    client, room = member
    body = {"text": "hi", "client_id": "c1", field: value}
    # A surrogate cannot be UTF-8: it reaches the server only as a JSON escape (json.dumps writes one).
    response = client.post(f"/api/chat/rooms/{room.pk}/messages/", json.dumps(body), content_type="application/json")
    detail = assert_json_error(response, 400, "invalid")["detail"]
    assert field in detail


@pytest.mark.parametrize("field", ["text", "client_id"])
def test_nul_in_a_form_encoded_message_is_400(member, field):
    client, room = member
    body = {"text": "hi", "client_id": "c1", field: "a\x00b"}
    response = client.post(f"/api/chat/rooms/{room.pk}/messages/", body, format="multipart")
    assert_json_error(response, 400, "invalid")
    response = client.post(f"/api/chat/rooms/{room.pk}/messages/", "text=a%00b&client_id=x",
                           content_type="application/x-www-form-urlencoded")
    assert_json_error(response, 400, "invalid")


@pytest.mark.parametrize("title", ["a\x00b", "a\ud800b"])
def test_nul_or_surrogate_in_a_group_title_is_400(member, title):
    client, room = member
    create = json.dumps({"kind": "group", "title": title, "members": []})
    assert_json_error(client.post("/api/chat/rooms/", create, content_type="application/json"), 400)
    patch = json.dumps({"title": title})
    assert_json_error(client.patch(f"/api/chat/rooms/{room.pk}/", patch, content_type="application/json"), 400)


def test_nul_in_a_message_edit_is_400(member):
    client, room = member
    sent = client.post(f"/api/chat/rooms/{room.pk}/messages/", {"text": "hi"}, format="json").json()
    response = client.patch(f"/api/chat/rooms/{room.pk}/messages/{sent['id']}/", {"text": "x\x00"}, format="json")
    assert_json_error(response, 400, "invalid")


def test_a_nul_session_id_is_404(auth_client):
    client, _ = auth_client()
    assert_json_error(client.delete("/api/sessions/%00/"), 404, "not_found")
    assert_json_error(client.delete("/api/sessions/\x00/"), 404, "not_found")


@pytest.mark.parametrize("method, path", [
    ("post", "/api/chat/rooms/"), ("post", "/api/otp/send/"), ("post", "/api/authenticate/"),
    ("patch", "/api/me/"), ("post", "/api/token/refresh/"), ("post", "/api/chat/blocks/"),
])
def test_deeply_nested_json_is_400_on_drf_endpoints(auth_client, method, path):
    # (Endpoints that read no body, such as /api/ws/ticket/, never parse it: their answer is unchanged.
    # The schemathesis run sends such bodies to every operation.)
    client, _ = auth_client()
    response = getattr(client, method)(path, NESTED, content_type="application/json")
    assert_json_error(response, 400, "parse_error")


@pytest.mark.parametrize("path", ["/proxy/auth/code", "/proxy/auth/result", "/proxy/auth/complete", "/web/session/"])
def test_deeply_nested_json_is_a_json_400_on_plain_views(client, path):
    response = client.post(path, NESTED, content_type="application/json")
    assert_json_error(response, 400)


def test_code_id_with_a_trailing_newline_is_malformed(client):
    response = client.post("/proxy/auth/result", json.dumps({"code_id": "abc\n"}), content_type="application/json")
    assert_json_error(response, 400, "invalid")


def test_every_body_over_the_cap_is_refused_before_it_is_read(auth_client, client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    api, _ = auth_client()
    big = json.dumps({"text": "x" * 2000})
    for response in (api.post("/api/chat/rooms/", big, content_type="application/json"),
                     api.patch("/api/me/", big, content_type="application/json"),
                     client.post("/api/otp/send/", big, content_type="application/json"),
                     client.post("/proxy/auth/code", big, content_type="application/json"),
                     client.post("/web/session/", big, content_type="application/json")):
        body = assert_json_error(response, 413, "too_large")
        assert "1000" in body["detail"]


def test_drf_refusals_carry_a_code(client):
    assert_json_error(client.get("/api/me/"), 401, "not_authenticated")
    assert_json_error(client.put("/api/otp/send/", "{}", content_type="application/json"), 405, "method_not_allowed")
    assert_json_error(client.get("/api/no-such-endpoint/"), 404, "not_found")


async def test_an_unknown_websocket_path_is_closed_4404():
    from config.asgi import application

    for path in ("/ws/nope/", "/ws/", "/anything"):
        comm = WebsocketCommunicator(application, path)
        connected, _ = await comm.connect()
        assert connected
        assert (await comm.receive_output(2)) == {"type": "websocket.close", "code": 4404}
        await comm.disconnect()


def test_django_exceptions_in_drf_views_get_a_code_too():
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    from core.errors import api_exception_handler

    assert api_exception_handler(Http404(), {}).data == {"detail": "Not found.", "code": "not_found"}
    assert api_exception_handler(PermissionDenied(), {}).data["code"] == "permission_denied"
