"""Browser-test fixtures: Debian's Chromium driven by Playwright against live daphne + Redis servers.

Never downloads a browser: Chromium is /usr/bin/chromium (./scripts/test and .ci/run install it
from Debian's packages). Screenshots go to tests/screenshots/ (git-ignored).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from tests.servers import ROOT, ServerProcess, server_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "tests" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
REFRESH_COOKIE = "hotline_refresh"


# Playwright's sync API keeps an asyncio loop running in the test thread, which makes Django
# refuse database calls there (pytest-django's flush after each test included). The browser is
# module-scoped so the flag below is set only while this module's tests run, and the server
# processes the tests start never inherit it.
_ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"
NOT_INHERITED = {_ASYNC_UNSAFE: ""}


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests need {CHROMIUM}: apt-get install chromium (./scripts/test does it)")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get(_ASYNC_UNSAFE)
    os.environ[_ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield launched
            launched.close()
    finally:
        if previous is None:
            os.environ.pop(_ASYNC_UNSAFE, None)
        else:
            os.environ[_ASYNC_UNSAFE] = previous


@pytest.fixture
def page_server(start_server):
    """`page_server(**env)` -> a daphne process (Redis, the test database) for the browser."""

    def start(**env):
        return start_server(**{**env, **NOT_INHERITED})

    return start


@pytest.fixture
def dev_server(transactional_db):
    """A DEBUG server in embedded mode (no Redis: in-process layer, cache and SMS delivery) with no
    Weibo or WeChat keys, so it mounts the simulators, on the test database. Its log has the console SMS."""
    env = server_env(DEBUG="1", REDIS_URL="", SMS_PROVIDER="console", SMS_FALLBACK_PROVIDERS="", **NOT_INHERITED)
    for name in [name for name in env if name.startswith(("WEIBO_", "WECHAT_"))]:
        del env[name]
    server = ServerProcess(env=env).start()
    yield server
    server.stop()


@pytest.fixture
def new_context(browser):
    """`new_context()` -> a fresh browser context (its own cookies, like another device)."""
    contexts = []

    violations: list[str] = []

    def make(**options):
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        # Every page runs under the site's Content-Security-Policy: anything it blocks is a failure.
        context.on("console", lambda message: "Content Security Policy" in message.text and violations.append(message.text))
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert violations == []


def shoot(page, name: str) -> None:
    """Screenshots of the page at desktop and phone width: tests/screenshots/<name>-{desktop,phone}.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(60)  # one layout pass at the new width
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"))
    page.set_viewport_size(original)


def log_in_context(context, server, login_result) -> None:
    """Give a browser context the session of `login_result` the way /web/session/ would: the
    refresh token in the HttpOnly, SameSite=Strict cookie scoped to /web/."""
    context.add_cookies(
        [
            {
                "name": REFRESH_COOKIE,
                "value": login_result.refresh,
                "domain": "127.0.0.1",
                "path": "/web/",
                "httpOnly": True,
                "sameSite": "Strict",
            }
        ]
    )


def wait_connected(page) -> None:
    # (attached, not visible: at phone width a healthy connection's status is not shown)
    page.wait_for_selector("#connection[data-state='open']", state="attached")


@pytest.fixture
def task_queue():
    """A Celery queue of its own for one test's server and worker, emptied afterwards."""
    import redis

    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-pages-{uuid.uuid4().hex[:8]}"
    yield queue
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    client.close()


class Worker:
    """A Celery worker process (the Procfile's `worker`, its threads pool) consuming one queue; its log
    is readable."""

    def __init__(self, env: dict[str, str]):
        self.log_path = ROOT / "var" / f"worker-{uuid.uuid4().hex[:8]}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=threads", "--concurrency=2",
             "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-Q", env["CELERY_QUEUE"]],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()


@pytest.fixture
def sms_server(page_server, task_queue):
    """A live server whose SMS go through the console provider, delivered by a real worker.

    Yields (server, read_code) where `read_code(number)` waits for the console provider's log
    line of the newest SMS to that number and returns the code in it.
    """
    env = {"SMS_PROVIDER": "console", "SMS_FALLBACK_PROVIDERS": "", "CELERY_QUEUE": task_queue}
    worker = Worker(server_env(**env, **NOT_INHERITED))
    server = page_server(**env)

    def read_code(number: str, timeout: float = 15) -> str:
        pattern = re.compile(rf"SMS to {re.escape(number)}: \D*(\d{{6}})\b")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = pattern.findall(server.log() + worker.log())
            if found:
                return found[-1]
            time.sleep(0.05)
        raise AssertionError(f"no console SMS to {number}:\n{server.log()}\n{worker.log()}")

    yield server, read_code
    worker.stop()
