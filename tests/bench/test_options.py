"""The bench's options: ASGI servers, server kinds, and the pieces each kind's clients rely on."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time

import pytest

from bench import chat, otp
from bench.__main__ import parse
from bench.harness import SERVERS, ServerGroup, server_command


def test_every_server_has_a_command_on_loopback():
    for server in SERVERS:
        cmd = server_command(server, "config.asgi:application", 8123)
        assert cmd[0] == sys.executable and "config.asgi:application" in cmd
        assert "127.0.0.1" in cmd and "8123" in cmd


def test_uvicorn_runs_on_its_standard_extras_and_uvicorn_h11_without():
    fast = server_command("uvicorn", "app:application", 1)
    slow = server_command("uvicorn-h11", "app:application", 1)
    assert fast[fast.index("--loop") + 1] == "uvloop" and fast[fast.index("--http") + 1] == "httptools"
    assert slow[slow.index("--loop") + 1] == "asyncio" and slow[slow.index("--http") + 1] == "h11"
    for cmd in (fast, slow):
        assert cmd[cmd.index("--ws-per-message-deflate") + 1] == "false"


def test_granian_serves_asgi_without_lifespan_in_one_worker():
    cmd = server_command("granian", "app:application", 1, python="/peer/bin/python")
    assert cmd[:3] == ["/peer/bin/python", "-m", "granian"]
    assert cmd[cmd.index("--interface") + 1] == "asginl"
    assert cmd[cmd.index("--workers") + 1] == "1"


def test_an_unknown_server_is_refused():
    with pytest.raises(ValueError, match="unknown ASGI server"):
        server_command("gunicorn", "app:application", 1)


def test_the_server_extras_are_installed():
    """`uvicorn` and `granian` must start as named, not fall back silently."""
    import granian  # noqa: F401
    import httptools  # noqa: F401
    import uvloop  # noqa: F401


def test_options_default_to_every_kind_and_refuse_unknown_names(capsys):
    args = parse([])
    assert args.kinds == ["hotline", "peer", "bare"]
    assert args.servers == ["daphne", "uvicorn"]
    assert parse(["chat", "--servers", "granian,uvicorn-h11", "--kinds", "hotline,bare"]).kinds == ["hotline", "bare"]
    for wrong in (["--servers", "gunicorn"], ["--kinds", "hotline,django"], ["--kinds", ","]):
        with pytest.raises(SystemExit):
            parse(wrong)
    assert "choose from" in capsys.readouterr().err


def test_groups_are_labelled_by_kind():
    assert ServerGroup(None, server="granian", app="bench.bare_app:application").label == "granian/bare"
    assert ServerGroup(None, server="daphne").label == "daphne/hotline"
    assert ServerGroup(None, server="uvicorn", app="benchproj.asgi:application").label == "uvicorn/peer"


def test_peer_numbers_are_what_the_peer_accepts_and_hotline_numbers_e164():
    peer = otp.numbers(7, 600, "peer")
    assert len(set(peer)) == 600
    assert all(re.fullmatch(r"09\d{9}", n) for n in peer)
    hotline = otp.numbers(7, 600)
    assert all(re.fullmatch(r"\+98912\d{7}", n) for n in hotline)
    assert set(otp.numbers(8, 600, "peer")).isdisjoint(peer)  # a fresh block per configuration


def test_a_message_text_carries_its_phase_time_and_id():
    before = time.monotonic()
    phase, sent_at, client_id = chat.parse_text(chat.message_text("group20", "abc"))
    assert (phase, client_id) == ("group20", "abc")
    assert before <= float(sent_at) <= time.monotonic()
    assert chat.parse_text("plain") == ("plain", "", "")


def test_group_members_follow_the_chat_users_and_must_fit_the_sockets_held():
    size = {"chat_users": 4, "hold": 10, "groups": [[2, 200], [3, 100]]}
    assert chat.group_members(size, list(range(100, 110))) == [[104, 105], [106, 107, 108]]
    with pytest.raises(ValueError, match="need 11 users"):
        chat.group_members({**size, "groups": [[7, 10]]}, list(range(10)))


def test_the_full_sizes_are_the_issue_s_operations():
    size = chat.sizes(quick=False)
    assert size["hold"] == 2000
    assert size["groups"] == [[20, 200], [200, 100]]
    assert otp.sizes(quick=False)["numbers"] == 600 and otp.sizes(quick=False)["in_flight"] == 40


class FakeSocket:
    """Frames as a server would send them, then the end of the connection."""

    def __init__(self, frames: list[dict]):
        self.frames = [json.dumps(f) for f in frames]

    def __aiter__(self):
        return self

    async def __anext__(self):
        if not self.frames:
            raise StopAsyncIteration
        return self.frames.pop(0)


def test_the_reader_counts_hotline_s_and_the_peer_s_frames_alike():
    sent = time.monotonic() - 0.01
    frames = [
        # hotline / the floor
        {"type": "message.new", "message": {"text": f"group20|{sent}|h1", "client_id": "h1", "sender": {"id": 2}}},
        # the peer: the text is the message, no client id but the one in the text; its own echo
        {"type": "chat_message", "id": 9, "message": f"group20|{sent}|p1", "sender": {"id": 2, "username": "x"}},
        {"type": "chat_message", "id": 10, "message": f"group20|{sent}|p2", "sender": {"id": 1, "username": "y"}},
        {"type": "chat_message", "id": 9, "message": f"group20|{sent}|p1", "sender": {"id": 2, "username": "x"}},
    ]
    state: dict = {}
    sock = chat.Sock(FakeSocket(frames), user=1, room=5)
    asyncio.run(chat._read(state, sock))
    stats = state["stats"]
    assert dict(stats["delivered"]["group20"]) == {"h1": 1, "p1": 1, "p2": 1}
    assert stats["dups"]["group20"] == 1
    assert stats["own"]["group20"] == 1  # p2 came from this socket's own user
    assert len(stats["latencies"]["group20"]) == 2 and all(0 < x < 5 for x in stats["latencies"]["group20"])


def test_layer_redis_counts_are_parsed_and_label_their_rows(tmp_path):
    assert parse(["chat"]).layer_redis == [1]
    assert parse(["chat", "--layer-redis", "1,2"]).layer_redis == [1, 2]
    with pytest.raises(SystemExit):
        parse(["chat", "--layer-redis", "0"])
    group = ServerGroup(backends=None, label_suffix="+2 layer Redis")
    assert group.label == "daphne/hotline+2 layer Redis"
