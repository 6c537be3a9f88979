"""REDIS_SENTINELS, REDIS_SENTINEL_MASTER and CHANNEL_LAYER_REDIS_URLS (issue 20): what each
configuration builds, and the contradictory ones refuse to start with a one-line reason
(docs/configuration.md). Settings are loaded in a fresh interpreter, as a server process would."""

from __future__ import annotations

import json

import pytest

from tests.core.test_production_guards import PRODUCTION_KEY, SETUP, _run

SHOW = SETUP + (
    "from django.conf import settings as s; from core import redis_clients as r;"
    "hosts = r.channel_layer_hosts(s.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0]) if s.REDIS_URL else [];"
    "print(json.dumps({'url': s.REDIS_URL, 'broker': s.CELERY_BROKER_URL,"
    " 'transport': {k: v for k, v in s.CELERY_BROKER_TRANSPORT_OPTIONS.items() if k != 'sentinel_kwargs'},"
    " 'hosts': [{k: (v if k in ('sentinels', 'master_name', 'host', 'port', 'db', 'password') else None)"
    " for k, v in h.items() if k in ('sentinels', 'master_name', 'host', 'port', 'db', 'password')} for h in hosts],"
    " 'classes': [h['connection_class'].__mro__[2].__name__ for h in hosts]}))"
)


def _show(**env) -> dict:
    result = _run(["-c", "import json;" + SHOW], DEBUG="0", SECRET_KEY=PRODUCTION_KEY, SMS_PROVIDER="twilio", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _refused(**env) -> str:
    result = _run(["-c", SETUP], DEBUG="0", SECRET_KEY=PRODUCTION_KEY, SMS_PROVIDER="twilio", **env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def test_sentinel_switches_the_layer_and_the_broker_and_redis_mode_is_on():
    shown = _show(REDIS_URL="", REDIS_SENTINELS="10.0.0.1:26379, 10.0.0.2:26380", REDIS_SENTINEL_MASTER="main")
    assert shown["url"] == "redis://main/0"
    assert shown["broker"] == "sentinel://10.0.0.1:26379/0;sentinel://10.0.0.2:26380/0"
    assert shown["transport"]["master_name"] == "main"
    assert shown["hosts"] == [{"sentinels": [["10.0.0.1", 26379], ["10.0.0.2", 26380]], "master_name": "main", "db": 0}]
    assert shown["classes"] == ["SentinelManagedConnection"]


def test_a_redis_url_naming_the_master_gives_the_password_and_database():
    shown = _show(REDIS_URL="redis://:s3cret@main/3", REDIS_SENTINELS="10.0.0.1:26379", REDIS_SENTINEL_MASTER="main")
    assert shown["broker"] == "sentinel://:s3cret@10.0.0.1:26379/3"
    assert shown["hosts"][0]["db"] == 3 and shown["hosts"][0]["password"] == "s3cret"


def test_the_layer_shards_over_its_own_servers():
    shown = _show(REDIS_URL="redis://10.0.0.3:6379/0", CHANNEL_LAYER_REDIS_URLS="redis://10.0.0.4:6379/0,redis://10.0.0.5:6380/1")
    assert [(h["host"], h["port"], h["db"]) for h in shown["hosts"]] == [("10.0.0.4", 6379, 0), ("10.0.0.5", 6380, 1)]
    assert shown["broker"] == "redis://10.0.0.3:6379/0"
    plain = _show(REDIS_URL="redis://10.0.0.3:6379/0")
    assert [(h["host"], h["port"]) for h in plain["hosts"]] == [("10.0.0.3", 6379)]
    assert plain["classes"] == ["Connection"]


@pytest.mark.parametrize(("env", "says"), [
    ({"REDIS_SENTINELS": "10.0.0.1:26379", "REDIS_SENTINEL_MASTER": ""}, "REDIS_SENTINEL_MASTER is not"),
    ({"REDIS_SENTINELS": "", "REDIS_SENTINEL_MASTER": "main"}, "REDIS_SENTINELS is not"),
    ({"REDIS_SENTINELS": "10.0.0.1", "REDIS_SENTINEL_MASTER": "main"}, "is not host:port"),
    ({"REDIS_URL": "redis://10.0.0.3:6379/0", "REDIS_SENTINELS": "10.0.0.1:26379", "REDIS_SENTINEL_MASTER": "main"},
     "would not follow a Sentinel failover"),
    ({"REDIS_URL": "", "REDIS_SENTINELS": "10.0.0.1:26379", "REDIS_SENTINEL_MASTER": "main",
      "CHANNEL_LAYER_REDIS_URLS": "redis://10.0.0.4:6379/0"}, "would not follow a Sentinel failover"),
    ({"REDIS_URL": "rediss://main/0", "REDIS_SENTINELS": "10.0.0.1:26379", "REDIS_SENTINEL_MASTER": "main"},
     "TLS to a Sentinel-discovered master is not supported"),
    ({"REDIS_URL": "", "CHANNEL_LAYER_REDIS_URLS": "redis://10.0.0.4:6379/0"}, "REDIS_URL is not"),
    ({"REDIS_URL": "redis://10.0.0.3:6379/0", "CHANNEL_LAYER_REDIS_URLS": "10.0.0.4:6379"}, "is not a redis://"),
])
def test_contradictory_redis_settings_refuse_to_start(env, says):
    env = {"REDIS_URL": "", "REDIS_SENTINELS": "", "REDIS_SENTINEL_MASTER": "", "CHANNEL_LAYER_REDIS_URLS": "", **env}
    stderr = _refused(**env)
    assert stderr.startswith("hotline: ") and says in stderr, stderr
