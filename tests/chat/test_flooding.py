"""Flooding and slow readers (issue 15, the chat items): subscribes are rate limited, a client that
does not read is closed 4408 before the server buffers its replays, ids too large for the database
are 404 and not_found instead of errors."""

from __future__ import annotations

import base64
import json
import os
import socket
import time

import httpx
import psutil
import pytest
from channels.db import database_sync_to_async

from chat.models import Message
from tests.chat.conftest import make_group, open_direct

db = database_sync_to_async
HUGE = "99999999999999999999"


@pytest.mark.django_db
def test_path_ids_too_large_for_the_database_are_404(auth_client, user_factory):
    client, me = auth_client()
    room = make_group(me.user, [])
    paths = [
        f"/api/chat/rooms/{HUGE}/", f"/api/chat/rooms/{HUGE}/members/", f"/api/chat/rooms/{room.pk}/members/{HUGE}/",
        f"/api/chat/rooms/{HUGE}/messages/", f"/api/chat/rooms/{room.pk}/messages/{HUGE}/",
        f"/api/chat/invitations/{HUGE}/accept/", f"/api/chat/blocks/{HUGE}/", "/api/chat/rooms/9223372036854775808/",
    ]
    for path in paths:
        for method in ("get", "post", "patch", "delete"):
            response = getattr(client, method)(path, {}, format="json")
            assert response.status_code in (404, 405), (method, path, response.status_code)
            assert response.status_code != 405 or method == "get" or "members" in path or "accept" in path
    # The largest id that fits is an ordinary "no such room".
    assert client.get("/api/chat/rooms/9223372036854775807/").json()["code"] == "not_found"
    # Ids in bodies too.
    for body in ({"kind": "direct", "user_id": int(HUGE)}, {"kind": "group", "title": "g", "members": [int(HUGE)]}):
        assert client.post("/api/chat/rooms/", body, format="json").status_code in (400, 404)
    assert client.post("/api/chat/blocks/", {"user_id": int(HUGE)}, format="json").status_code == 400
    assert client.get(f"/api/chat/rooms/{room.pk}/messages/", {"after": HUGE}).status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_ids_too_large_in_frames_are_not_found(chat_socket, user_factory):
    alice = await db(user_factory)()
    a = await chat_socket(alice)
    for frame in ({"type": "subscribe", "room": int(HUGE)}, {"type": "message.send", "room": int(HUGE), "text": "x"},
                  {"type": "read", "room": int(HUGE), "message": 1}, {"type": "message.delete", "message": int(HUGE)},
                  {"type": "typing", "room": int(HUGE)}):
        await a.send(frame)
        assert (await a.recv_type("error"))["code"] == "not_found", frame
    room = await db(make_group)(alice, [])
    await a.send({"type": "subscribe", "room": room.pk, "after": int(HUGE)})
    assert (await a.recv_type("subscribed"))["room"] == room.pk


@pytest.mark.django_db(transaction=True)
async def test_subscribes_are_rate_limited_per_socket(chat_socket, user_factory, settings):
    settings.CHAT_SUBSCRIBE_BURST = 3
    settings.CHAT_SUBSCRIBES_PER_SECOND = 0.1
    alice = await db(user_factory)()
    room = await db(make_group)(alice, [])
    a = await chat_socket(alice)
    for _ in range(3):
        await a.send({"type": "subscribe", "room": room.pk})
        await a.recv_type("presence.state")
    await a.send({"type": "subscribe", "room": room.pk, "client_id": "s4"})
    error = await a.recv_type("error")
    assert error["code"] == "rate_limited" and error["ref"] == "s4" and 1 <= error["retry_after"] <= 10
    other = await chat_socket(alice)  # the bucket is the socket's
    await other.send({"type": "subscribe", "room": room.pk})
    await other.recv_type("subscribed")


# --- a client that never reads, against a real daphne ---------------------------------------------

def _ws_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


def _non_reading_socket(server, ticket: str) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and then never read
    sock.connect(("127.0.0.1", server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws/chat/?ticket={ticket} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_client_that_never_reads_leaves_the_servers_memory_within_bounds(start_server, user_factory, login):
    """The bound: a server process grows by less than 40 MB while one client sends 80 subscribes of
    a room whose history is 1.6 MB (128 MB of replays if they were all buffered, as before), and is
    closed 4408. Measured here: a few MB."""
    alice, bob = user_factory(), user_factory()
    room = open_direct(alice, bob)
    text = "x" * 4000
    Message.objects.bulk_create([Message(room=room, sender=alice, text=text) for _ in range(400)])
    server = start_server(CHAT_SLOW_READER_SECONDS="2", LOG_LEVEL="INFO")
    bob_login = login(bob)

    def ticket() -> str:
        response = httpx.post(f"{server.url}/api/ws/ticket/", headers={"Authorization": f"Bearer {bob_login.access}"})
        return response.json()["ticket"]

    # Warm up the process (imports, pools) with a client that reads one capped replay.
    from websockets.sync.client import connect

    with connect(f"{server.ws_url}/ws/chat/?ticket={ticket()}", compression=None) as warm:
        warm.send(json.dumps({"type": "subscribe", "room": room.pk, "after": 0}))
        while json.loads(warm.recv(timeout=10))["type"] != "presence.state":
            pass
    process = psutil.Process(server.process.pid)
    before = process.memory_info().rss

    sock = _non_reading_socket(server, ticket())
    try:
        for _ in range(80):
            sock.sendall(_ws_frame(json.dumps({"type": "subscribe", "room": room.pk, "after": 0})))
        peak = before
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and "the client stopped reading" not in server.log():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.1)
        for _ in range(10):
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.1)
        growth = peak - before
        assert growth < 40 * 1024 * 1024, f"the server grew by {growth / 2**20:.1f} MiB"
        assert "closed 4408: the client stopped reading" in server.log()
        # Now read what the server had sent. The 4408 close frame waited behind the full buffer, so
        # the server dropped the connection after the close handshake's timeout: it has ended.
        sock.settimeout(10)
        received, ended = b"", False
        while True:
            try:
                chunk = sock.recv(1 << 20)
            except ConnectionResetError:
                ended = True
                break
            if not chunk:
                ended = True
                break
            received += chunk
        assert ended
        # Far less than the 128 MB of replays asked for was ever produced.
        assert len(received) < 20 * 1024 * 1024
    finally:
        sock.close()
    after = process.memory_info().rss
    assert after - before < 40 * 1024 * 1024
    assert httpx.get(f"{server.url}/healthz").status_code in (200, 503)
