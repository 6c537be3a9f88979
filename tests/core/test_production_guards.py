"""Production guards (issue 15): unsafe configurations refuse to start with DEBUG off, the HTTPS
settings default to safe values, and `check --deploy` passes with the documented production settings."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys

import pytest

from tests.servers import ROOT

SETUP = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"


def _run(args: list[str], **env) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST") and k not in {"SECRET_KEY", "DEBUG"}}
    full_env.update(env)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120)


PRODUCTION_KEY = "k" * 10 + secrets.token_urlsafe(48)


@pytest.mark.parametrize("providers", [("console", ""), ("locmem", ""), ("twilio", "console")])
def test_debug_off_refuses_the_development_sms_providers(providers):
    provider, fallback = providers
    result = _run(["-c", SETUP], DEBUG="0", SECRET_KEY=PRODUCTION_KEY, SMS_PROVIDER=provider,
                  SMS_FALLBACK_PROVIDERS=fallback, SMS_ALLOW_DEV_PROVIDER="")
    assert result.returncode == 1
    assert "refusing to start" in result.stderr and "SMS_ALLOW_DEV_PROVIDER=1" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_development_sms_provider_on_purpose_or_with_debug_on_starts():
    code = SETUP + "print('ok')"
    assert _run(["-c", code], DEBUG="0", SECRET_KEY=PRODUCTION_KEY, SMS_PROVIDER="console",
                SMS_ALLOW_DEV_PROVIDER="1").stdout.strip() == "ok"
    assert _run(["-c", code], DEBUG="1", SMS_PROVIDER="console", SMS_ALLOW_DEV_PROVIDER="").stdout.strip() == "ok"


def test_https_settings_are_safe_by_default_with_debug_off():
    code = SETUP + (
        "from django.conf import settings as s; import json;"
        "print(json.dumps([s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER]))"
    )
    production = _run(["-c", code], DEBUG="0", SECRET_KEY=PRODUCTION_KEY, SMS_PROVIDER="twilio", TRUSTED_PROXY_COUNT="0",
                      SESSION_COOKIE_SECURE="", CSRF_COOKIE_SECURE="", SECURE_HSTS_SECONDS="", SECURE_PROXY_SSL_HEADER="")
    assert json.loads(production.stdout) == [True, True, 31_536_000, None]
    behind_proxy = _run(["-c", code], DEBUG="0", SECRET_KEY=PRODUCTION_KEY, SMS_PROVIDER="twilio", TRUSTED_PROXY_COUNT="1")
    assert json.loads(behind_proxy.stdout)[3] == ["HTTP_X_FORWARDED_PROTO", "https"]
    not_trusted = _run(["-c", code], DEBUG="0", SECRET_KEY=PRODUCTION_KEY, SMS_PROVIDER="twilio", TRUSTED_PROXY_COUNT="1",
                       SECURE_PROXY_SSL_HEADER="off")
    assert json.loads(not_trusted.stdout)[3] is None
    custom = _run(["-c", code], DEBUG="0", SECRET_KEY=PRODUCTION_KEY, SMS_PROVIDER="twilio",
                  SECURE_PROXY_SSL_HEADER="X-Forwarded-Ssl: on")
    assert json.loads(custom.stdout)[3] == ["HTTP_X_FORWARDED_SSL", "on"]
    development = _run(["-c", code], DEBUG="1")
    assert json.loads(development.stdout) == [False, False, 0, None]


def documented_production_settings() -> dict[str, str]:
    text = (ROOT / "docs" / "configuration.md").read_text()
    section = text.split("\n## Production\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return dict(line.split("=", 1) for line in block.strip().splitlines())


def test_check_deploy_passes_with_the_documented_production_settings():
    env = documented_production_settings()
    assert env["DEBUG"] == "0"
    env["SECRET_KEY"] = PRODUCTION_KEY  # the document's is a placeholder
    for placeholder in ("DATABASE_URL", "REDIS_URL"):  # keep the test run's own
        env.pop(placeholder)
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_without_them():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], DEBUG="0",
                  SECRET_KEY=PRODUCTION_KEY, SMS_PROVIDER="twilio")
    assert result.returncode != 0 and "security.W008" in result.stderr  # SECURE_SSL_REDIRECT
