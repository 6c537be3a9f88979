"""Fuzzing /ws/chat/ on a real daphne process (issue 21, "Bad input").

One user's sockets get malformed, nested, surrogate, NUL, wrongly typed, unknown, binary, random and
oversized frames. Every frame must be answered with a documented frame (mostly `error`) or, for an
oversized one, the documented close 4413, never 1011 or a dropped connection; after each frame a
`ping` must still get its `pong`. A second user's sentinel socket in the same room must see no error.
Afterwards the fuzzed user is offline everywhere and can open CHAT_MAX_SOCKETS_PER_USER sockets again
(nothing a fuzzed socket did left a presence entry or a socket count behind). Figures are printed.
"""

from __future__ import annotations

import asyncio
import json
import random

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from chat import presence
from tests.chat.conftest import make_group

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

MAX_SOCKETS = 3
SERVER_ENV = {"CHAT_MAX_SOCKETS_PER_USER": str(MAX_SOCKETS), "CHAT_MESSAGES_PER_WINDOW": "1000"}
RANDOM_FRAMES = 1500
SEED = 21

SERVER_FRAMES = {
    "subscribed", "replay.more", "message.updated", "message.deleted", "room.added", "room.updated", "room.removed",
    "room.invited", "user.updated", "presence.state", "unsubscribed", "message.ack", "message.new", "typing", "read",
    "presence", "pong", "error",
}
ERROR_CODES = {"bad_frame", "unknown_type", "forbidden", "not_found", "invalid", "too_long", "rate_limited"}
KNOWN_TYPES = ["subscribe", "unsubscribe", "message.send", "typing", "read", "message.edit", "message.delete", "ping"]
FIELDS = ["room", "text", "client_id", "after", "message", "type"]


def handmade_frames(room: int) -> list[str | bytes]:
    dumps = json.dumps  # ensure_ascii: a lone surrogate goes out as its `\\udXXX` escape
    return [
        "", " ", "not json", "{", "[", "}", "null", "1", '"text"', "[]", "{}", '{"type":1}', '{"type":null}',
        '{"type":[]}', '{"type":{}}', '{"typ":"ping"}', "\x00", "[" * 3000 + "]" * 3000,
        '{"type":"ping","x":' + "[" * 3000 + "]" * 3000 + "}", '{"a":' * 2000 + "1" + "}" * 2000,
        dumps({"type": "message.send", "room": room, "text": "a\ud800b"}),
        dumps({"type": "message.send", "room": room, "text": "ok", "client_id": "a\ud800b"}),
        dumps({"type": "no.such", "client_id": "\udfff"}),
        dumps({"type": "\ud800", "client_id": "x"}),
        dumps({"type": "message.edit", "message": 1, "text": "\udc00"}),
        dumps({"type": "ping", "\ud800": "\udbff"}),
        dumps({"type": "message.send", "room": room, "text": "a\x00b", "client_id": "nul1"}),
        dumps({"type": "message.send", "room": room, "text": "ok", "client_id": "n\x00l"}),
        dumps({"type": "message.edit", "message": 1, "text": "\x00"}),
        dumps({"type": "\x00"}), dumps({"type": "ping\x00"}),
        dumps({"type": "message.send", "room": room, "text": ""}),
        dumps({"type": "message.send", "room": room, "text": "x" * 4001}),
        dumps({"type": "message.send", "room": room, "text": "x", "client_id": "c" * 65}),
        dumps({"type": "message.send", "room": str(room), "text": "x"}),
        dumps({"type": "message.send", "room": True, "text": "x"}),
        dumps({"type": "message.send", "room": 2**70, "text": "x"}),
        dumps({"type": "message.send", "room": -1, "text": "x"}),
        dumps({"type": "message.send", "room": 1.5, "text": "x"}),
        dumps({"type": "message.send", "room": room, "text": ["x"]}),
        dumps({"type": "message.send", "room": room, "text": "x", "client_id": 7}),
        dumps({"type": "subscribe", "room": room, "after": -1}),
        dumps({"type": "subscribe", "room": room, "after": 2**80}),
        dumps({"type": "subscribe", "room": room, "after": "1"}),
        dumps({"type": "read", "room": room, "message": 2**63}),
        dumps({"type": "read", "room": room, "message": 0}),
        dumps({"type": "message.delete", "message": 2**63 - 1}),
        dumps({"type": "typing"}), dumps({"type": "unsubscribe", "room": 10**30}),
        dumps({"type": "x" * 10_000}),
        b"\x00\x01binary", b"",
    ]


def random_value(rng: random.Random, depth: int = 0):
    kinds = ["int", "bigint", "float", "str", "nul", "surrogate", "bool", "null"]
    if depth < 3:
        kinds += ["list", "dict"]
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.randint(-5, 5)
    if kind == "bigint":
        return rng.choice([2**63, 2**63 - 1, -(2**63), 10**40])
    if kind == "float":
        return rng.choice([0.5, -1e308, 1e308, float("1e-300")])
    if kind == "str":
        return "".join(rng.choice("aسz😀\n\t\"\\{}") for _ in range(rng.randint(0, 20)))
    if kind == "nul":
        return "a\x00" * rng.randint(1, 3)
    if kind == "surrogate":
        return "b" + chr(rng.randint(0xD800, 0xDFFF))
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(FIELDS + ["zz"]): random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def random_frame(rng: random.Random, room: int) -> str:
    frame = {"type": rng.choice(KNOWN_TYPES + ["", "nope", "message", "PING"])}
    for field in rng.sample(FIELDS[:-1], rng.randint(0, 4)):
        frame[field] = rng.choice([room, room, random_value(rng)]) if field == "room" else random_value(rng)
    text = json.dumps(frame)
    if rng.random() < 0.1:  # now and then a broken one
        text = text[: rng.randint(0, len(text))]
    return text


async def ticket(server, access: str) -> str:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{server.url}/api/ws/ticket/", headers={"Authorization": f"Bearer {access}"})
    assert response.status_code == 201, response.text
    return response.json()["ticket"]


async def open_socket(server, access: str):
    return await connect(f"{server.ws_url}/ws/chat/?ticket={await ticket(server, access)}", compression=None,
                         max_size=None)


class Tally:
    def __init__(self):
        self.sent = 0
        self.errors: dict[str, int] = {}
        self.frames: dict[str, int] = {}
        self.closes: dict[int, int] = {}
        self.markers = 0


async def exchange(ws, frame: str | bytes, tally: Tally) -> list[dict]:
    """Send `frame`, then a marker (an unknown type whose `client_id` comes back as the error's
    `ref`: a fuzzed `ping` has its own `pong`); read up to the marker's answer, checking every frame."""
    tally.sent += 1
    tally.markers += 1
    marker = f"marker-{tally.markers}"
    replies = []
    await ws.send(frame)
    await ws.send(json.dumps({"type": "fuzz.marker", "client_id": marker}))
    while True:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        kind = reply.get("type")
        assert kind in SERVER_FRAMES, (frame[:200], reply)
        if kind == "error" and reply.get("ref") == marker:
            assert reply["code"] == "unknown_type", reply
            return replies
        replies.append(reply)
        tally.frames[kind] = tally.frames.get(kind, 0) + 1
        if kind == "error":
            assert reply["code"] in ERROR_CODES, (frame[:200], reply)
            assert isinstance(reply["detail"], str) and reply["detail"]
            tally.errors[reply["code"]] = tally.errors.get(reply["code"], 0) + 1


async def expect_close(ws, frame: str, tally: Tally) -> int:
    tally.sent += 1
    try:
        await ws.send(frame)
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except ConnectionClosed:
        pass
    code = ws.close_code
    tally.closes[code] = tally.closes.get(code, 0) + 1
    return code


@pytest.fixture
def people(user_factory, login):
    alice, bob = user_factory(), user_factory()
    room = make_group(alice, [bob])
    return alice, login(alice), login(bob), room.pk


async def test_fuzzed_frames_get_error_frames_or_documented_closes(start_server, people, capsys):
    alice, alice_login, bob_login, room = people
    server = start_server(**SERVER_ENV)
    tally = Tally()
    sentinel = await open_socket(server, bob_login.access)
    await sentinel.send(json.dumps({"type": "subscribe", "room": room}))

    ws = await open_socket(server, alice_login.access)
    await ws.send(json.dumps({"type": "subscribe", "room": room}))
    for frame in handmade_frames(room):
        await exchange(ws, frame, tally)
    rng = random.Random(SEED)
    for _ in range(RANDOM_FRAMES):
        await exchange(ws, random_frame(rng, room), tally)

    # The largest message allowed, ASCII-escaped (6 bytes a Persian character, 12 an emoji), fits.
    for i, text in enumerate(["س" * 4000, "😀" * 4000]):
        frame = json.dumps({"type": "message.send", "room": room, "text": text, "client_id": f"big{i}"})
        replies = await exchange(ws, frame, tally)
        assert any(r["type"] == "message.ack" and r["message"]["text"] == text for r in replies), (i, frame[:80], replies[:3])

    # Over the consumer's limit (64 KiB) and over daphne's (1 MiB): both closed 4413, not 1006.
    assert await expect_close(ws, json.dumps({"type": "message.send", "room": room, "text": "é" * 40_000}), tally) == 4413
    ws = await open_socket(server, alice_login.access)
    await exchange(ws, '{"type":"ping"}', tally)
    assert await expect_close(ws, "x" * (1024 * 1024 + 10), tally) == 4413

    # An unknown path is refused with 4404, not an HTTP 500.
    async with connect(f"{server.ws_url}/ws/nope/", compression=None) as stray:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(stray.recv(), 10)
        assert stray.close_code == 4404

    # The sentinel heard the room's messages, and no error.
    await sentinel.send('{"type":"ping"}')
    while True:
        reply = json.loads(await asyncio.wait_for(sentinel.recv(), 10))
        assert reply["type"] != "error", reply
        if reply["type"] == "pong":
            break
    await sentinel.close()

    # Nothing left behind: offline everywhere, and every socket slot free again.
    for _ in range(100):
        if await presence.store().online([alice.pk], presence.now()) == []:
            break
        await asyncio.sleep(0.1)
    assert await presence.store().online([alice.pk], presence.now()) == []
    again = [await open_socket(server, alice_login.access) for _ in range(MAX_SOCKETS)]
    for sock in again:
        await exchange(sock, '{"type":"ping"}', tally)
    assert await presence.store().online([alice.pk], presence.now()) == [alice.pk]
    for sock in again:
        await sock.close()
    assert "Traceback" not in server.log(), server.log()[-5000:]
    with capsys.disabled():
        print(f"\nsocket fuzz: {tally.sent} frames ({len(handmade_frames(room))} by hand, {RANDOM_FRAMES} random, "
              f"seed {SEED}); replies {dict(sorted(tally.frames.items()))}; error codes {dict(sorted(tally.errors.items()))}; "
              f"closes {tally.closes}; 0 crashes")
