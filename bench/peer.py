"""The peer: django-chelseru 3.1.2 (package `drfchelseru`), a third server kind beside hotline and the
floor, so every row of the bench can be read as a ratio against the published package that does the
same jobs (issue 19).

- Its own virtualenv, installed from the package index by the bench itself under var/bench/peer-venv/
  (never committed) and reused while the requirements below are unchanged: the package with its own
  pinned dependencies (it pins daphne, channels and channels-redis itself), plus the same uvicorn,
  granian and psycopg releases hotline's requirement files pin, so both run under the same servers.
- Its host project (bench/peers/chelseru/: settings, urls, asgi, the SMS stub, the loopback-only
  network guard, the bench view that returns the last code) runs from the repository with that
  virtualenv's Python; what it writes at run time goes to var/bench/peer/.
- Its own database: `<the bench's database>_peer` on the same PostgreSQL (or a SQLite file when the
  bench runs without PostgreSQL, or with BENCH_PEER_DATABASE=sqlite), migrated by the peer's
  manage.py. Its channel layer uses the bench's Redis under the key prefix `ht-bench-peer`.
- `world()`: the chat bench's users, tokens and rooms, built through the peer's ORM by its
  `bench_world` command (bench/peers/chelseru/benchstub/management/commands/bench_world.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.harness import KIND_APPS, LOG_DIR, PREFIX, ROOT, Backends, ServerGroup, postgres_ensure

PACKAGE = "django-chelseru==3.1.2"
PROJECT_DIR = ROOT / "bench" / "peers" / "chelseru"
VENV_DIR = ROOT / "var" / "bench" / "peer-venv"
RUN_DIR = ROOT / "var" / "bench" / "peer"
LAYER_PREFIX = f"{PREFIX}-peer"
# Requirements of hotline's own files the peer's virtualenv gets at the same version (the servers and
# the PostgreSQL driver): name as written at the start of the line -> file.
SHARED_PINS = {"uvicorn[standard]": "requirements-dev.txt", "granian": "requirements-dev.txt",
               "psycopg[binary,pool]": "requirements.txt"}
INSTALL_SECONDS = 600


class PeerUnavailable(RuntimeError):
    """The peer's virtualenv is not installed and could not be installed (no package index)."""


def requirements() -> list[str]:
    """The peer's virtualenv: the package, and hotline's own pins of the servers and the driver."""
    found = [PACKAGE]
    for name, filename in SHARED_PINS.items():
        text = (ROOT / filename).read_text()
        match = re.search(rf"^{re.escape(name)}==\S+", text, re.MULTILINE)
        if not match:
            raise RuntimeError(f"bench: {filename} pins no {name}; the peer's virtualenv needs the same release")
        found.append(match.group(0))
    return found


def python() -> Path:
    return VENV_DIR / "bin" / "python"


def installed() -> bool:
    """True when the virtualenv holds exactly today's requirements (no index needed then)."""
    stamp = VENV_DIR / ".bench-requirements"
    return python().exists() and stamp.exists() and stamp.read_text() == _stamp()


def _stamp() -> str:
    return hashlib.sha256("\n".join(requirements()).encode()).hexdigest() + "\n"


def ensure_installed(log=print) -> Path:
    """Install the peer's virtualenv when it is missing or its requirements changed; its Python.
    Several bench runs (a test and a run by hand) may race here: one installs, the others wait."""
    if installed():
        return python()
    VENV_DIR.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV_DIR.parent / "peer-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed():
            return python()
        log(f"bench: installing the peer ({PACKAGE}) into {VENV_DIR.relative_to(ROOT)} (once)")
        if not python().exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV_DIR)], check=True, timeout=120)
        try:
            done = subprocess.run([str(python()), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                                   *requirements()], capture_output=True, text=True, timeout=INSTALL_SECONDS)
        except subprocess.TimeoutExpired as exc:
            raise PeerUnavailable(f"installing {PACKAGE} took over {INSTALL_SECONDS} s (no package index?)") from exc
        if done.returncode != 0:
            errors = "\n".join(line for line in done.stderr.splitlines() if "is ignored" not in line)
            raise PeerUnavailable(f"pip could not install {PACKAGE}: {errors[-1500:]}")
        (VENV_DIR / ".bench-requirements").write_text(_stamp())
    return python()


def versions() -> dict[str, str]:
    """Versions in the peer's virtualenv of what the report compares (the package, its stack, servers)."""
    names = ["django-chelseru", "Django", "channels", "channels-redis", "daphne", "uvicorn", "granian",
             "djangorestframework", "psycopg", "redis"]
    code = ("import json, importlib.metadata as m\n"
            f"names = {names!r}\n"
            "out = {}\n"
            "for n in names:\n"
            "    try: out[n] = m.version(n)\n"
            "    except m.PackageNotFoundError: out[n] = '-'\n"
            "print(json.dumps(out))")
    done = subprocess.run([str(python()), "-c", code], capture_output=True, text=True, timeout=60)
    return json.loads(done.stdout) if done.returncode == 0 else {}


@dataclass
class Peer:
    """The peer's database and environment for one bench run (prepared once)."""

    database_url: str
    redis_url: str
    database: str  # "postgresql" | "sqlite"

    def env(self) -> dict[str, str]:
        """Environment of the peer's server processes and manage.py: the machine's basics and the peer's
        own variables, nothing of hotline's settings."""
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update({
            "DJANGO_SETTINGS_MODULE": "benchproj.settings",
            "PEER_DATABASE_URL": self.database_url,
            "PEER_REDIS_URL": self.redis_url,
            "PEER_LAYER_PREFIX": LAYER_PREFIX,
            "PEER_RUN_DIR": str(RUN_DIR),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",  # nothing written into bench/peers/ by a run
            # the peer exposes no refresh endpoint: tokens made before the connects must outlive the run
            "BENCH_ACCESS_MIN": "120",
        })
        return env

    def server_group(self, backends: Backends, server: str, processes: int) -> ServerGroup:
        """The peer under `server` x `processes`, as hotline is run (not started yet); no worker: the
        peer sends its SMS inside the request."""
        return ServerGroup(backends, server=server, processes=processes, app=KIND_APPS["peer"], worker=False,
                           python=str(python()), cwd=PROJECT_DIR, base_env=self.env(), kind="peer",
                           health="/bench/otp/0/")

    def manage(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run([str(python()), "manage.py", *args], cwd=PROJECT_DIR, env=self.env(),
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"bench: peer manage.py {' '.join(args)} failed:\n{done.stdout[-2000:]}\n"
                               f"{done.stderr[-3000:]}")
        return done.stdout

    def world(self, users: int, groups: list[tuple[int, int]], clear_otp: bool = False) -> dict:
        """Users, access tokens, direct rooms of pairs and groups (members, offset), through the peer's ORM."""
        args = ["bench_world", "--users", str(users), *[f"--group={m}@{o}" for m, o in groups]]
        out = self.manage(*args, *(["--clear-otp"] if clear_otp else []))
        return json.loads(out.strip().splitlines()[-1])


_prepared: Peer | None = None


def prepare(backends: Backends, log=print) -> Peer:
    """Install (once), choose the peer's database, migrate it; once per bench run."""
    global _prepared
    if _prepared is not None:
        return _prepared
    ensure_installed(log)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    if backends.database == "postgresql" and os.environ.get("BENCH_PEER_DATABASE", "postgresql") != "sqlite":
        base, _, name = backends.database_url.rpartition("/")
        url = f"{base}/{name.split('?')[0]}_peer"
        if not postgres_ensure(url):
            raise RuntimeError(f"bench: could not create the peer's database {url}")
        peer = Peer(database_url=url, redis_url=backends.redis_url, database="postgresql")
    else:
        peer = Peer(database_url=f"sqlite:///{RUN_DIR / 'db.sqlite3'}", redis_url=backends.redis_url,
                    database="sqlite")
    peer.manage("migrate", "--noinput")
    _prepared = peer
    return peer
