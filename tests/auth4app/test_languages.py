"""auth4app in the page's language: HTTP errors follow Accept-Language; the socket writes its error
details in the language of its handshake (the switcher's cookie, else Accept-Language)."""

from __future__ import annotations

import json

import pytest
from django.test import AsyncClient

from auth4app.consumers import LoginStatusConsumer

from .conftest import cookie_header, open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("a4a_settings")]


async def test_http_errors_keep_their_code_and_speak_the_requests_language(poller):
    response = await AsyncClient().post(
        "/proxy/auth/code", "[1]", content_type="application/json", headers={"accept-language": "zh-hans"}
    )
    assert response.status_code == 400
    assert response.json() == {"error": "请求正文必须是 JSON 对象。", "detail": "请求正文必须是 JSON 对象。", "code": "invalid"}


@pytest.mark.parametrize(
    "accept_language, language_cookie, detail",
    [
        ("fa", None, "این سوکت فقط پیام می‌فرستد."),
        ("fa", "ru", "Этот сокет только отправляет сообщения."),  # the switcher's choice wins
        (None, None, "This socket only sends."),
    ],
)
async def test_the_socket_answers_in_its_handshakes_language(sim, poller, accept_language, language_cookie, detail):
    client = AsyncClient()
    body = json.loads((await client.post("/proxy/auth/code", {"phone": "+79991234567"})).content)
    if language_cookie:
        client.cookies["django_language"] = language_cookie
    headers = cookie_header(client) + ([(b"accept-language", accept_language.encode())] if accept_language else [])
    socket = await open_socket(body["code_id"], headers=headers)
    try:
        await socket.receive_json_from()
        await socket.send_to(text_data="hello")
        frame = await socket.receive_json_from()
        assert frame == {"type": "error", "code": "unexpected_frame", "detail": detail}
    finally:
        await socket.disconnect()


async def test_a_terminal_error_frame_is_written_in_each_sockets_language():
    """One frame (English msgid from the poller) reaches every socket of a login; each translates it."""
    sent = []
    consumer = LoginStatusConsumer()
    consumer.language, consumer.opened = "ru", True

    async def send_json(frame):
        sent.append(frame)

    async def close(code=None):
        pass

    consumer.send_json, consumer.close = send_json, close
    frame = {"type": "auth.status", "status": "error", "detail": "This phone number is not accepted."}
    await consumer.deliver(frame)
    assert sent == [{**frame, "detail": "Этот номер телефона не принимается."}]
    assert frame["detail"] == "This phone number is not accepted."  # the shared frame is left as it was
