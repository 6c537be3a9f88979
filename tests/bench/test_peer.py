"""The peer (bench/peer.py and its host project in bench/peers/chelseru/): its virtualenv's pins, the
loopback-only network guard, its settings, and the rooms its ORM step builds."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import peer

ROOT = Path(__file__).resolve().parents[2]


def pin(filename: str, name: str) -> str:
    match = re.search(rf"^{re.escape(name)}==\S+", (ROOT / filename).read_text(), re.MULTILINE)
    assert match, f"{filename} pins no {name}"
    return match.group(0)


def test_the_peer_runs_the_same_servers_and_driver_as_hotline():
    wanted = peer.requirements()
    assert wanted[0] == "django-chelseru==3.1.2"
    assert pin("requirements-dev.txt", "uvicorn[standard]") in wanted
    assert pin("requirements-dev.txt", "granian") in wanted
    assert pin("requirements.txt", "psycopg[binary,pool]") in wanted


def test_the_peer_virtualenv_is_never_committed():
    ignored = subprocess.run(["git", "check-ignore", "-q", str(peer.VENV_DIR / "bin" / "python")], cwd=ROOT)
    assert ignored.returncode == 0


GUARD = """
import socket, sys
sys.path.insert(0, sys.argv[1])
from benchstub import netguard
netguard.install()
results = {}
try:
    socket.getaddrinfo("example.com", 443)
    results["lookup"] = "allowed"
except socket.gaierror as exc:
    results["lookup"] = "blocked" if "benchstub" in str(exc) else repr(exc)
for address in ("192.0.2.1", "10.0.0.1", "2001:db8::1"):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family) as sock:
        try:
            sock.connect((address, 443))
            results[address] = "allowed"
        except ConnectionRefusedError as exc:
            results[address] = "blocked" if "benchstub" in str(exc) else repr(exc)
server = socket.create_server(("127.0.0.1", 0))
with socket.create_connection(server.getsockname(), timeout=2):
    results["loopback"] = "allowed"
results["localhost"] = "allowed" if socket.getaddrinfo("localhost", 80) else "?"
print(results)
"""


def test_the_network_guard_refuses_everything_but_loopback():
    """The package calls its author's server on every user save: the guard must refuse any name
    lookup and connection off 127.0.0.0/8 before a packet leaves (nothing is sent here either)."""
    done = subprocess.run([sys.executable, "-c", GUARD, str(peer.PROJECT_DIR)], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    results = eval(done.stdout)  # noqa: S307 - our own subprocess's dict
    assert results == {"lookup": "blocked", "192.0.2.1": "blocked", "10.0.0.1": "blocked",
                       "2001:db8::1": "blocked", "loopback": "allowed", "localhost": "allowed"}


@pytest.fixture(scope="module")
def peer_python() -> Path:
    """The peer's virtualenv, installed from the package index on first use (cached in var/bench/)."""
    try:
        return peer.ensure_installed(log=lambda line: None)
    except peer.PeerUnavailable as exc:
        pytest.skip(f"the peer's virtualenv is not installed and could not be: {exc}")


def run_peer(python: Path, code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), *code], cwd=peer.PROJECT_DIR, env=env, capture_output=True, text=True,
                          timeout=120)


SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({"engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST"), "port": db.get("PORT"),
                  "pool": db.get("OPTIONS", {}).get("pool"), "layer": settings.CHANNEL_LAYERS["default"]}))
"""


def test_the_peer_settings_take_the_database_and_redis_from_the_environment(peer_python, tmp_path):
    env = peer.Peer(database_url="postgres://postgres:pw@127.0.0.1:5433/h_bench_x_peer",
                    redis_url="redis://127.0.0.1:6461/7", database="postgresql").env()
    done = run_peer(peer_python, ["-c", SHOW_SETTINGS], env)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["engine"] == "django.db.backends.postgresql"
    assert (shown["name"], shown["host"], shown["port"]) == ("h_bench_x_peer", "127.0.0.1", "5433")
    assert shown["pool"]["max_size"] == 10
    assert shown["layer"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    assert shown["layer"]["CONFIG"] == {"hosts": ["redis://127.0.0.1:6461/7"], "prefix": peer.LAYER_PREFIX}

    env = peer.Peer(database_url=f"sqlite:///{tmp_path / 'peer.sqlite3'}", redis_url="", database="sqlite").env()
    shown = json.loads(run_peer(peer_python, ["-c", SHOW_SETTINGS], env).stdout)
    assert shown["engine"] == "django.db.backends.sqlite3" and shown["name"] == str(tmp_path / "peer.sqlite3")
    assert shown["layer"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"


def test_the_orm_step_builds_users_tokens_direct_rooms_and_groups(peer_python, tmp_path):
    """`manage.py bench_world` on a throwaway SQLite database: what the chat scenario connects with."""
    made = peer.Peer(database_url=f"sqlite:///{tmp_path / 'peer.sqlite3'}", redis_url="", database="sqlite")
    made.manage("migrate", "--noinput")
    first = made.world(12, [(2, 6), (4, 8)], clear_otp=True)
    again = made.world(12, [(2, 6), (4, 8)])
    assert len(first["users"]) == len(set(first["users"])) == 12
    assert again["users"] == first["users"]  # users are reused by later runs
    assert len(first["tokens"]) == 12
    assert [pair[1:] for pair in first["direct"]] == [first["users"][i: i + 2] for i in range(0, 12, 2)]
    assert set(first["groups"]) == {"2", "4"}
    check = f"""
import django, json
django.setup()
from drfchelseru.models import ChatRoomModel, UserModel
from rest_framework_simplejwt.tokens import AccessToken
rooms = {{r.id: sorted(r.users.values_list("id", flat=True)) for r in ChatRoomModel.objects.all()}}
print(json.dumps({{"rooms": rooms, "mobiles": sorted(UserModel.objects.values_list("mobile", flat=True)),
                  "token_user": AccessToken({again["tokens"][3]!r})["user_id"]}}))
"""
    shown = json.loads(run_peer(peer_python, ["-c", check], made.env()).stdout)
    rooms = {int(k): v for k, v in shown["rooms"].items()}
    assert len(rooms) == 6 + 2  # the first run's rooms were replaced, not added to
    assert rooms[again["groups"]["4"]] == sorted(again["users"][8:12])
    assert rooms[again["groups"]["2"]] == sorted(again["users"][6:8])
    assert shown["mobiles"][:2] == ["09350000000", "09350000001"] and len(shown["mobiles"]) == 12
    assert int(shown["token_user"]) == again["users"][3]
