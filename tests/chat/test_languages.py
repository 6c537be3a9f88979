"""The chat socket writes its error details in the language of its handshake (the switcher's cookie,
else Accept-Language), its own refusals and the services' alike; the `code` never changes. The REST
API follows each request's Accept-Language (tests/i18n/test_api_languages.py)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat import services

from .conftest import make_group

pytestmark = pytest.mark.django_db(transaction=True)

NOT_JSON = {
    "en": "The frame is not JSON.",
    "fa": "این فریم JSON نیست.",
    "zh-hans": "该帧不是 JSON。",
    "ru": "Фрейм не является JSON.",
}
NOT_THE_SENDER = {
    "en": "Only the sender edits a message.",
    "fa": "فقط فرستندهٔ پیام می‌تواند آن را ویرایش کند.",
    "zh-hans": "只有发送者可以编辑消息。",
    "ru": "Изменить сообщение может только отправитель.",
}


def handshake(accept_language: str | None = None, cookie: str | None = None) -> list[tuple[bytes, bytes]]:
    headers = []
    if accept_language:
        headers.append((b"accept-language", accept_language.encode()))
    if cookie:
        headers.append((b"cookie", f"django_language={cookie}".encode()))
    return headers


@pytest.mark.parametrize(
    "accept_language, cookie, language",
    [(None, None, "en"), ("fa-IR,fa;q=0.9", None, "fa"), ("zh-CN", None, "zh-hans"), ("fa", "ru", "ru")],
)
async def test_error_frames_speak_the_handshakes_language(chat_socket, user_factory, accept_language, cookie, language):
    alice, bob = await database_sync_to_async(user_factory)(), await database_sync_to_async(user_factory)()
    room = await database_sync_to_async(make_group)(alice, [bob])
    message, _created = await database_sync_to_async(services.message_send)(user=alice, room_id=room.pk, text="hi")
    sock = await chat_socket(bob, headers=handshake(accept_language, cookie))

    # The socket's own refusal...
    await sock.send("{not json")
    assert await sock.recv_type("error") == {"type": "error", "code": "bad_frame", "detail": NOT_JSON[language], "ref": None}

    # ...and a service's, raised in the database thread: the language goes along with the call.
    await sock.send({"type": "message.edit", "message": message["id"], "text": "changed", "client_id": "e1"})
    refused = await sock.recv_type("error")
    assert refused == {"type": "error", "code": "forbidden", "detail": NOT_THE_SENDER[language], "ref": "e1"}


async def test_each_socket_keeps_its_own_language(chat_socket, user_factory):
    user = await database_sync_to_async(user_factory)()
    persian = await chat_socket(user, headers=handshake("fa"))
    chinese = await chat_socket(user, headers=handshake("zh-hans"))
    for _ in range(3):  # interleaved on one event loop: neither leaks into the other
        await persian.send("{")
        await chinese.send("{")
        assert (await persian.recv_type("error"))["detail"] == NOT_JSON["fa"]
        assert (await chinese.recv_type("error"))["detail"] == NOT_JSON["zh-hans"]
