from __future__ import annotations

import pytest
from django.conf import settings

from tests.servers import ServerProcess, server_env

# Fixtures that need a service beyond this process: a test that uses one (directly or through another
# fixture) is marked, so `make unit` (-m "not redis and not integration and not browser") leaves it out.
_NEEDS = {"requires_redis": "redis", "start_server": "integration", "browser": "browser"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture, marker in _NEEDS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


def pytest_report_header(config):
    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return f"hotline: database={db} redis={settings.REDIS_URL or 'none (embedded)'}"


@pytest.fixture(scope="session", autouse=True)
def _socket_db_threads_let_go(django_db_setup):
    """Before the test database is dropped, the socket database threads give their connections back.

    Channels' communicator (channels.testing) turns `close_old_connections` into a no-op while a
    test talks to a consumer, so a query a consumer ran on `core.db.db_executor()` keeps
    its connection in that thread (in production each call gives it back). Left open, it keeps
    pytest-django from dropping the database at the end ("being accessed by other users")."""
    yield
    import threading

    from django.db import connections

    from core.db import db_executor

    executor = db_executor()
    threads = len(executor._threads)
    if not threads:
        return
    # One task per thread: each waits at the barrier until all threads hold one.
    barrier = threading.Barrier(threads)

    def let_go():
        connections.close_all()
        barrier.wait(timeout=10)

    for future in [executor.submit(let_go) for _ in range(threads)]:
        future.result(timeout=15)


@pytest.fixture(autouse=True)
def _clean_shared_state():
    """Each test starts with an empty cache (limits, tickets, session state) under the test prefix, and
    without Redis with empty in-process stores (chat's send limit, presence)."""
    from django.core.cache import cache

    _clear_cache(cache)
    yield
    _clear_cache(cache)


def _clear_cache(cache) -> None:
    if not settings.REDIS_URL:
        # Embedded mode: the shared state of one process lives in its memory.
        from chat import limits, presence

        limits._memory.clear()
        presence._memory.sockets.clear()
        presence._typing_memory.clear()
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
        keys = list(client.scan_iter(f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    else:
        cache.clear()


@pytest.fixture
def requires_redis():
    if not settings.REDIS_URL:
        pytest.fail("this test needs Redis: run it through ./scripts/test, which provides REDIS_URL")


@pytest.fixture
def start_server(transactional_db, requires_redis):
    """Start real ASGI server processes sharing the test database and Redis: `start_server(**env)`."""
    if settings.SECRET_KEY == settings.DEFAULT_SECRET_KEY:
        pytest.fail("server processes need SECRET_KEY: run the tests through ./scripts/test")
    started: list[ServerProcess] = []

    def start(server: str = "daphne", **env) -> ServerProcess:
        proc = ServerProcess(env=server_env(**env), server=server).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def user_factory(db):
    from accounts.models import User

    counter = iter(range(10_000))

    def make(mobile_number: str | None = None, **extra) -> User:
        number = mobile_number or f"+98912{next(counter):07d}"
        return User.objects.create_user(mobile_number=number, **extra)

    return make


@pytest.fixture
def login(db):
    """`login(user)` -> LoginResult with a real session and JWT pair."""
    from accounts.services import login_complete

    def make(user, method="sms", ip="127.0.0.1", user_agent="pytest"):
        return login_complete(user=user, method=method, ip=ip, user_agent=user_agent)

    return make


ADMIN_NUMBER = "+989000000001"
ADMIN_PASSWORD = "admin-pass-123"


def totp_now(device) -> str:
    """The 6-digit code an authenticator app shows for `device` right now."""
    from django_otp.oath import totp

    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def admin_login(client, user, password: str):
    """Log `client` in the way staff do: the admin's login form with phone number, password and the
    current code of its TOTP device (a new one each time, so a code is never replayed). Returns the response."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    form = {"username": str(user.mobile_number), "password": password, "otp_token": totp_now(device)}
    response = client.post("/admin/login/?next=/admin/", form)
    assert response.status_code == 302 and response["Location"] == "/admin/", response.content.decode()[:3000]
    return response


@pytest.fixture
def admin_user(db):
    """A superuser with a password (pytest-django's, replaced: the admin also needs a TOTP device)."""
    from accounts.models import User

    return User.objects.create_superuser(mobile_number=ADMIN_NUMBER, password=ADMIN_PASSWORD)


@pytest.fixture
def admin_client(admin_user):
    """A Django client logged in to the admin with password and TOTP code."""
    from django.test import Client

    client = Client()
    admin_login(client, admin_user, ADMIN_PASSWORD)
    return client


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def auth_client(user_factory, login):
    """An APIClient logged in as a fresh user: `client, result = auth_client()`."""
    from rest_framework.test import APIClient

    def make(user=None):
        user = user or user_factory()
        result = login(user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {result.access}")
        return client, result

    return make


def pytest_terminal_summary(terminalreporter):
    from tests.processes import DRILL_FIGURES

    if DRILL_FIGURES:
        terminalreporter.section("fault drills")
        for line in DRILL_FIGURES:
            terminalreporter.write_line(line)
