"""GET /metrics and the instrumentation that is not an app's own (HTTP, sockets, Celery tasks), in
this process: prometheus-client's default registry, read back through the real exposition and its
real parser. The multiprocess shape (two servers and the worker) is tests/core/test_observability_processes.py."""

from __future__ import annotations

import ipaddress
import os

import pytest
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from core import metrics

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-0123456789abcdef"


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client: Client, token: str = TOKEN) -> dict:
    """{sample name: {frozenset(labels): value}} of one scrape."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/plain")
    samples: dict = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return samples


@pytest.fixture
def exposed(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []
    return settings


def test_metrics_are_not_exposed_without_a_token_or_an_allowlist(settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    response = Client().get("/metrics")
    assert response.status_code == 404
    assert b"hotline_" not in response.content


def test_a_token_is_required_and_compared_exactly(exposed):
    client = Client()
    missing = client.get("/metrics")
    assert missing.status_code == 401 and missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"hotline_" not in missing.content
    for wrong in (TOKEN[:-1], TOKEN + "x", f"Basic {TOKEN}"):
        header = wrong if wrong.startswith("Basic") else f"Bearer {wrong}"
        assert client.get("/metrics", HTTP_AUTHORIZATION=header).status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"bearer {TOKEN}").status_code == 200
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


def test_an_allowlist_alone_and_both_together(settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = [ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("::1/128")]
    settings.TRUSTED_PROXY_COUNT = 0
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="10.2.0.1").get("/metrics").status_code == 403
    # A forged X-Forwarded-For counts for nothing without trusted proxies.
    assert Client(REMOTE_ADDR="10.2.0.1").get("/metrics", HTTP_X_FORWARDED_FOR="10.1.0.9").status_code == 403
    # Behind one trusted proxy the address it appended is the client's.
    settings.TRUSTED_PROXY_COUNT = 1
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics", HTTP_X_FORWARDED_FOR="10.1.0.9").status_code == 200
    assert Client(REMOTE_ADDR="10.1.0.9").get("/metrics", HTTP_X_FORWARDED_FOR="192.0.2.1").status_code == 403
    settings.TRUSTED_PROXY_COUNT = 0
    # Both set: both are required.
    settings.METRICS_TOKEN = TOKEN
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 401
    assert Client(REMOTE_ADDR="10.9.9.9").get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 403
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_metrics_enabled_off_hides_the_endpoint(exposed):
    exposed.METRICS_ENABLED = False
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


def test_http_requests_are_labelled_by_url_pattern_never_by_path(exposed, auth_client):
    client, login = auth_client()
    before = value("hotline_http_requests_total", route="api/chat/rooms/<dbid:room_id>/messages/", method="GET",
                   status="404")
    for room in (987654, 987655):
        assert client.get(f"/api/chat/rooms/{room}/messages/").status_code == 404
    client.generic("BREW", "/api/sessions/")
    Client().get("/no/such/page/42")
    samples = scrape(Client())
    requests = samples["hotline_http_requests_total"]
    routes = {dict(labels)["route"] for labels in requests}
    assert value("hotline_http_requests_total", route="api/chat/rooms/<dbid:room_id>/messages/", method="GET",
                 status="404") == before + 2
    assert not any("987654" in route or "/no/such" in route for route in routes), routes
    assert value("hotline_http_requests_total", route=metrics.NO_ROUTE, method="GET", status="404") >= 1
    assert any(dict(labels)["method"] == "other" for labels in requests)
    assert {dict(labels)["method"] for labels in requests} <= metrics.HTTP_METHODS | {"other"}
    histogram = samples["hotline_http_request_duration_seconds_count"]
    assert histogram[frozenset({("route", "api/chat/rooms/<dbid:room_id>/messages/"), ("method", "GET")})] >= 2


def test_scrape_time_values_come_from_the_database_and_redis(exposed, otp_settings_for_scrape):
    from datetime import timedelta

    from core import clock
    from sms.models import Message

    old = Message.objects.create(to="+989121234567", text="x")
    Message.objects.filter(pk=old.pk).update(created_at=clock.now() - timedelta(seconds=90))
    Message.objects.create(to="+989121234568", text="y")
    Message.objects.create(to="+989121234569", text="z", status=Message.Status.SENDING)
    samples = scrape(Client())
    outbox = samples["hotline_sms_outbox_messages"]
    assert outbox[frozenset({("status", "queued")})] == 2
    assert outbox[frozenset({("status", "sending")})] == 1
    age = samples["hotline_sms_outbox_oldest_age_seconds"][frozenset({("status", "queued")})]
    assert 89 <= age < 200
    assert samples["hotline_otp_global_sends_limit"][frozenset()] == 1000
    assert samples["hotline_dependency_up"][frozenset({("dependency", "database")})] == 1
    from django.conf import settings

    if settings.REDIS_URL:
        assert samples["hotline_dependency_up"][frozenset({("dependency", "redis")})] == 1


@pytest.fixture
def otp_settings_for_scrape(settings):
    settings.OTP_GLOBAL_SENDS_PER_HOUR = 1000
    return settings


def test_a_failing_scrape_time_collector_leaves_the_rest(exposed, monkeypatch):
    def broken():
        raise RuntimeError("the outbox table is gone")
        yield  # pragma: no cover

    monkeypatch.setattr(metrics, "_scrape_collectors", [broken, *metrics._scrape_collectors])
    samples = scrape(Client())
    assert "hotline_otp_global_sends" in samples and "hotline_dependency_up" in samples


def test_the_database_being_down_reads_as_zero(exposed, monkeypatch):
    from django.db import OperationalError

    from core import metrics_endpoint

    class Down:
        def __enter__(self):
            raise OperationalError("connection refused")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(metrics_endpoint.connection, "cursor", lambda: Down())
    monkeypatch.setattr(metrics, "_scrape_collectors", [])
    samples = scrape(Client())
    assert samples["hotline_dependency_up"][frozenset({("dependency", "database")})] == 0


def test_celery_task_outcomes_are_counted():
    from sms.tasks import outbox_purge

    before = value("hotline_celery_tasks_total", task="sms.outbox_purge", outcome="success")
    outbox_purge.apply()
    assert value("hotline_celery_tasks_total", task="sms.outbox_purge", outcome="success") == before + 1


def test_close_codes_are_bounded():
    assert metrics.close_code_label(4401) == "4401"
    assert metrics.close_code_label(1006) == "1006"
    assert metrics.close_code_label("403") == "403"
    assert metrics.close_code_label(4999) == "other"
    assert metrics.close_code_label(3123) == "other"
    assert metrics.close_code_label(None) == "other"


@pytest.mark.django_db(transaction=True)
async def test_sockets_open_and_their_close_codes(exposed, user_factory, login):
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator

    from accounts.ws import ws_ticket_issue
    from config.asgi import application

    def closes(code: str) -> float:
        return value("hotline_websocket_closes_total", endpoint="chat", code=code)

    open_before, unauth_before, normal_before = value("hotline_websockets_open", endpoint="chat"), closes("4401"), closes("1000")
    refused = WebsocketCommunicator(application, "/ws/chat/?ticket=made-up")
    await refused.connect()
    assert (await refused.receive_output(2))["code"] == 4401
    await refused.disconnect(code=4401)
    assert closes("4401") == unauth_before + 1

    user = await database_sync_to_async(user_factory)()
    result = await database_sync_to_async(login)(user)
    ticket = await database_sync_to_async(ws_ticket_issue)(user_id=user.pk, session_id=result.session.id)
    sock = WebsocketCommunicator(application, f"/ws/chat/?ticket={ticket}")
    assert (await sock.connect())[0]
    assert value("hotline_websockets_open", endpoint="chat") == open_before + 1
    await sock.disconnect(code=1000)
    assert value("hotline_websockets_open", endpoint="chat") == open_before
    assert closes("1000") == normal_before + 1

    # A foreign Origin is refused at the handshake (HTTP 403), on the auth4app socket too.
    before = value("hotline_websocket_closes_total", endpoint="auth4app", code="403")
    foreign = WebsocketCommunicator(application, "/ws/auth/abc/", headers=[(b"origin", b"https://evil.example")])
    assert not (await foreign.connect())[0]
    await foreign.disconnect()  # daphne would end the connection; the application instance ends then
    assert value("hotline_websocket_closes_total", endpoint="auth4app", code="403") == before + 1


def test_dead_processes_leave_their_counts_but_not_their_sockets(tmp_path):
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    def write(name: str, count: float) -> None:
        store = MmapedDict(str(tmp_path / name))
        store.write_value(mmap_key("m", "m_total", (), (), "doc"), count, 0.0)
        store.close()

    dead = 4_000_000  # above Linux's pid_max: never a live process
    alive = os.getppid()
    write(f"counter_{dead}.db", 5)  # a dead web process's requests: kept in the totals
    write(f"histogram_{dead + 1}.db", 0)  # a management command that counted nothing: removed
    write(f"gauge_liveall_{dead}.db", 3)  # its open sockets: no longer open
    write(f"gauge_liveall_{alive}.db", 2)  # a live process's sockets: kept
    write(f"gauge_liveall_{os.getpid()}.db", 7)  # a dead process that had our pid: ours start at 0
    write(f"counter_{alive}.db", 0)  # a live process that counted nothing yet: kept

    gone = metrics.forget_dead_processes(str(tmp_path))
    assert dead in gone and dead + 1 in gone and alive not in gone
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"counter_{dead}.db", f"gauge_liveall_{alive}.db", f"counter_{alive}.db"])


def test_metrics_enabled_off_makes_every_metric_a_no_op():
    """What the bench's "without metrics" runs measure: no metric objects, no middleware, no /metrics."""
    import subprocess
    import sys

    from tests.servers import ROOT, server_env

    probe = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; import django; django.setup(); "
        "from django.test import Client; from prometheus_client import REGISTRY; from core import metrics; "
        "client = Client(); assert client.get('/livez').status_code == 200; "
        "print(type(metrics.HTTP_REQUESTS).__name__, client.get('/metrics', HTTP_AUTHORIZATION='Bearer " + TOKEN + "').status_code, "
        "REGISTRY.get_sample_value('hotline_http_requests_total', {'route': 'livez', 'method': 'GET', 'status': '200'}))"
    )
    env = {**server_env(METRICS_ENABLED="0", METRICS_TOKEN=TOKEN, ALLOWED_HOSTS="testserver"),
           "DATABASE_URL": "sqlite:///:memory:"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["_Disabled", "404", "None"]


def test_an_unusable_metrics_directory_stops_the_process_with_a_message(tmp_path):
    import subprocess
    import sys

    from tests.servers import ROOT, server_env

    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    env = {**server_env(PROMETHEUS_MULTIPROC_DIR=str(blocked / "metrics")), "DATABASE_URL": "sqlite:///:memory:"}
    probe = "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; import django; django.setup()"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "PROMETHEUS_MULTIPROC_DIR" in result.stderr and "not a writable directory" in result.stderr
    assert "Traceback" not in result.stderr
