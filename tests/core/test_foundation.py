import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/readyz", "/healthz"])
def test_readiness_reports_each_check_and_its_time(client, path):
    response = client.get(path)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    expected = {"database": "ok", "redis": "ok", "channel_layer": "ok"} if settings.REDIS_URL else {
        "database": "ok", "channel_layer": "ok"}  # the embedded mode has no Redis to check
    assert body["checks"] == expected
    assert set(body["timings_ms"]) == set(body["checks"])
    assert all(isinstance(ms, float) and ms >= 0 for ms in body["timings_ms"].values())


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/readyz", "/healthz"])
def test_readiness_names_the_failed_check(client, monkeypatch, path):
    from core import health

    def broken():
        raise ConnectionError("down")

    monkeypatch.setattr(health, "_check_database", broken)
    response = client.get(path)
    assert response.status_code == 503
    assert response.json()["failed"] == ["database"]
    assert response.json()["checks"]["database"] == "error: ConnectionError"


def test_liveness_answers_without_touching_any_dependency(client, monkeypatch):
    from core import health

    def broken(*args, **kwargs):
        raise AssertionError("/livez must not check dependencies")

    for check in ("_check_database", "_check_cache", "_check_channel_layer"):
        monkeypatch.setattr(health, check, broken)
    response = client.get("/livez")  # no database access allowed in this test either
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
def test_the_database_check_recovers_from_a_connection_that_broke_under_it():
    """The check runs on an executor thread that no request cleans up after: it must give its
    connection back itself, or a connection broken by a database restart fails it for ever."""
    import threading

    from django.db import connection

    from core import health

    outcomes = []

    def on_one_thread():
        health._check_database()
        connection.ensure_connection()
        connection.connection.close()  # what a database restart does to an idle connection
        for _ in range(2):
            try:
                health._check_database()
                outcomes.append("ok")
            except Exception as exc:
                outcomes.append(type(exc).__name__)
        outcomes.append(connection.connection is None)

    thread = threading.Thread(target=on_one_thread)
    thread.start()
    thread.join(30)
    assert outcomes[1:] == ["ok", True]  # the first check after the break may fail; the next one works


@pytest.mark.django_db
def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/does-not-exist/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    response = client.get("/proxy/nope")
    assert response.status_code == 404 and response.json()


@pytest.mark.django_db
def test_api_requires_authentication_as_json(client):
    response = client.get("/api/me/")
    assert response.status_code == 401
    assert "detail" in response.json()


@pytest.mark.django_db
def test_schema_and_offline_docs(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "http://" not in html.replace("http://testserver", "") and "https://" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html


def _run_python(code: str, **env) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=60)


def test_production_refuses_default_secret_key_with_a_clear_message():
    result = _run_python("import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup()", DEBUG="0")
    assert result.returncode == 1
    assert "refusing to start" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_mode_and_custom_key_start():
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup(); print('ok')"
    assert _run_python(code, DEBUG="1").stdout.strip() == "ok"
    assert _run_python(code, DEBUG="0", SECRET_KEY="x" * 50, SMS_PROVIDER="twilio").stdout.strip() == "ok"


def test_embedded_mode_warns_single_process():
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; import config.asgi"
    )
    env = {"DEBUG": "1", "REDIS_URL": ""}
    result = _run_python(code, **env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("single-process only") == 1


def test_redis_url_selects_redis_layer_cache_and_broker():
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; import django; django.setup();"
        "from django.conf import settings as s;"
        "print(s.CHANNEL_LAYERS['default']['BACKEND'], s.CACHES['default']['BACKEND'], s.CELERY_BROKER_URL)"
    )
    out = _run_python(code, DEBUG="1", REDIS_URL="redis://127.0.0.1:6379/3").stdout.split()
    assert out == ["core.redis_clients.RedisPubSubChannelLayer", "django.core.cache.backends.redis.RedisCache",
                   "redis://127.0.0.1:6379/3"]
    out = _run_python(code, DEBUG="1", REDIS_URL="").stdout.split()
    assert out[0] == "channels.layers.InMemoryChannelLayer" and out[1].endswith("LocMemCache")


def test_only_settings_reads_the_environment():
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {".venv", "tests", "bench", "scripts", "var", "staticfiles"} or rel.as_posix() in {"config/settings.py", "config/settings_test.py", "manage.py", "config/asgi.py", "config/celery.py", "config/serve.py"}:
            continue
        text = path.read_text()
        if "os.environ" in text or "os.getenv" in text:
            offenders.append(rel.as_posix())
    assert offenders == []


@pytest.mark.integration
def test_daphne_serves_healthz_admin_docs_and_static_with_debug_off(start_server):
    server = start_server()
    assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"
    admin = httpx.get(f"{server.url}/admin/login/")
    assert admin.status_code == 200
    docs = httpx.get(f"{server.url}/api/docs/")
    assert docs.status_code == 200
    asset = httpx.get(f"{server.url}/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 10_000
    assert httpx.get(f"{server.url}/static/admin/css/base.css").status_code == 200
