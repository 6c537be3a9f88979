from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pytest

from core import background
from tests.fakes.http import FakeHTTPServer
from tests.sms.fakes import FAKES


@dataclass
class TaskQueue:
    """Stands in for the broker: records queued tasks and runs them on demand, in order."""

    items: list[tuple[object, tuple, float | None]] = field(default_factory=list)
    results: list[str] = field(default_factory=list)

    def add(self, task, *args, countdown=None, **kwargs):
        self.items.append((task, args, countdown))

    def run_next(self, time_machine=None):
        task, args, countdown = self.items.pop(0)
        if countdown and time_machine is not None:
            time_machine.shift(countdown)
        result = task(*args)
        self.results.append(result)
        return result

    def run_all(self, time_machine=None, limit: int = 50) -> list[str]:
        done = []
        while self.items and limit:
            done.append(self.run_next(time_machine))
            limit -= 1
        return done


@pytest.fixture
def task_queue(monkeypatch):
    """Tasks queued by sms.services land here instead of the broker/thread pool."""
    queue = TaskQueue()
    monkeypatch.setattr(background, "enqueue", queue.add)
    monkeypatch.setattr(background, "dispatch", queue.add)
    return queue


@pytest.fixture
def sms_settings(settings):
    settings.SMS_PROVIDER = "console"
    settings.SMS_FALLBACK_PROVIDERS = []
    settings.SMS_MAX_ATTEMPTS_PER_PROVIDER = 3
    settings.SMS_RETRY_BASE_SECONDS = 2.0
    settings.SMS_RETRY_MAX_SECONDS = 60.0
    settings.SMS_HTTP_TIMEOUT_SECONDS = 1.0
    return settings


@pytest.fixture(scope="module")
def _fake_servers():
    """One fake server per provider for the module (stopping one costs half a second)."""
    servers = {}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def fake_provider(settings, _fake_servers):
    settings.SMS_PROVIDERS = copy.deepcopy(settings.SMS_PROVIDERS)
    settings.SMS_HTTP_TIMEOUT_SECONDS = 0.5

    def start(name: str):
        fake = FAKES[name]()
        server = _fake_servers.get(name) or _fake_servers.setdefault(name, FakeHTTPServer(fake).start())
        server.handler = fake
        with server._lock:
            server.requests.clear()
        settings.SMS_PROVIDERS[name] = {**fake.config, "API_URL": server.url}
        return fake, server

    return start
