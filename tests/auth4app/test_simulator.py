"""The auth4app simulator: exact wire format standalone, Django views only with DEBUG on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import httpx
import pytest
from django.http import Http404
from django.test import RequestFactory

from devtools import auth4app_views as simulator_views
from devtools.auth4app_simulator import SimulatorCore
from tests.servers import ROOT

from .conftest import API_KEY


def test_wire_format_accepts_query_form_and_json(sim):
    with httpx.Client(base_url=sim.url) as http:
        issued = http.post("/code/get", json={"api_key": API_KEY, "phone": 79991234567})
        assert issued.status_code == 200 and issued.headers["content-type"] == "application/json"
        body = issued.json()
        assert set(body) == {"code", "code_id", "qrLink", "links"}
        assert isinstance(body["code"], int) and len(body["code_id"]) == 32
        assert {"title", "link", "image", "color"} <= set(body["links"][0])
        form = http.post("/code/get", data={"api_key": API_KEY, "phone": "79991234568"})
        query = http.get("/code/get", params={"api_key": API_KEY, "phone": "79991234569"})
        assert form.status_code == query.status_code == 200

        pending = http.post("/code/result", data={"api_key": API_KEY, "code_id": body["code_id"]})
        assert pending.json() == {"auth": False, "phone": "79991234567"}
        confirmed = http.post("/_sim/confirm", data={"code_id": body["code_id"]})
        assert confirmed.status_code == 200 and confirmed.json()["confirmed_at"]
        result = http.get("/code/result", params={"api_key": API_KEY, "code_id": body["code_id"]})
        assert result.json() == {"auth": True, "phone": "79991234567"}
        record = {c["code_id"]: c for c in http.get("/_sim/codes").json()["codes"]}[body["code_id"]]
        assert record["first_seen_at"] >= record["confirmed_at"]  # the benchmark's timing hook

        assert http.post("/code/result", json={"api_key": "wrong", "code_id": body["code_id"]}).status_code == 401
        assert http.post("/code/get", json={"phone": "79991234567"}).status_code == 401
        assert http.post("/code/result", json={"api_key": API_KEY, "code_id": "nope"}).status_code == 404
        assert http.post("/code/get", json={"api_key": API_KEY, "phone": "12"}).status_code == 400
        assert http.get("/_sim/stats").json() == {"code/get": 5, "code/result": 4}

        assert http.post("/_sim/mode", data={"mode": "error"}).status_code == 200
        assert http.post("/code/result", json={"api_key": API_KEY, "code_id": body["code_id"]}).status_code == 500
        assert http.post("/_sim/mode", data={"mode": "bogus"}).status_code == 400
        http.post("/_sim/reset")
        assert http.get("/_sim/codes").json() == {"codes": []}


def test_simulator_runs_as_a_separate_process():
    """What a benchmark does: `python -m devtools.auth4app_simulator --port N`, driven over HTTP."""
    from tests.servers import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "devtools.auth4app_simulator", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert b"auth4app simulator on" in proc.stdout.readline()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            code_id = http.post("/code/get", json={"api_key": "any", "phone": "79991234567"}).json()["code_id"]
            http.post("/_sim/confirm", json={"code_id": code_id})
            assert http.post("/code/result", json={"api_key": "any", "code_id": code_id}).json()["auth"] is True
    finally:
        proc.terminate()
        proc.wait(5)


def test_standalone_core_without_controls_hides_them():
    core = SimulatorCore(controls=False)
    assert core.handle("POST", "/_sim/confirm", {"code_id": "x"}).status == 404


@pytest.mark.django_db
def test_simulator_is_not_mounted_with_debug_off(client, settings):
    assert settings.DEBUG is False and settings.AUTH4APP_SIMULATOR is False
    assert client.get("/dev/auth4app/").status_code == 404
    assert client.post("/dev/auth4app/code/get", {"phone": "79991234567"}).status_code == 404


def test_simulator_views_refuse_with_debug_off_even_if_mounted(settings):
    settings.DEBUG = False
    settings.AUTH4APP_SIMULATOR = True
    request = RequestFactory().post("/dev/auth4app/code/get", {"phone": "79991234567"})
    with pytest.raises(Http404):
        simulator_views.upstream(request, endpoint="code/get")
    with pytest.raises(Http404):
        simulator_views.page(RequestFactory().get("/dev/auth4app/"))


def test_settings_enable_the_simulator_only_with_debug_on_and_no_key():
    script = textwrap.dedent(
        """
        import importlib, json, os
        results = []
        for debug, key in [("0", ""), ("1", ""), ("1", "k"), ("", "")]:
            os.environ.update({"DEBUG": debug, "AUTH4APP_API_KEY": key, "SECRET_KEY": "x" * 50})
            os.environ.pop("AUTH4APP_API_URL", None)
            import config.settings as s
            s = importlib.reload(s)
            results.append([s.AUTH4APP_SIMULATOR, s.AUTH4APP_API_URL])
        print(json.dumps(results))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "AUTH4APP_"))}
    env["PORT"] = "8123"
    env["SMS_ALLOW_DEV_PROVIDER"] = "1"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [
        [False, "https://api.auth4app.com"],
        [True, "http://127.0.0.1:8123/dev/auth4app"],
        [False, "https://api.auth4app.com"],
        [False, "https://api.auth4app.com"],
    ]


@pytest.mark.django_db
def test_debug_page_lists_pending_codes_and_confirms(client, settings):
    settings.DEBUG = True
    settings.AUTH4APP_SIMULATOR = True
    settings.ROOT_URLCONF = "tests.auth4app.urls_simulator"
    issued = client.post("/dev/auth4app/code/get", json.dumps({"phone": "79991234567"}), content_type="application/json")
    assert issued.status_code == 200
    code_id = issued.json()["code_id"]
    page = client.get("/dev/auth4app/")
    assert page.status_code == 200
    assert str(issued.json()["code"]) in page.content.decode() and "Confirm" in page.content.decode()
    # Its inline styles are allowed on this development page only; scripts stay 'self'.
    assert "style-src 'self' 'unsafe-inline'" in page["Content-Security-Policy"]
    assert "script-src" not in page["Content-Security-Policy"] and "default-src 'self'" in page["Content-Security-Policy"]
    assert client.post("/dev/auth4app/code/result", {"code_id": code_id}).json()["auth"] is False
    assert client.post("/dev/auth4app/confirm", {"code_id": code_id}).status_code == 302
    assert client.post("/dev/auth4app/code/result", {"code_id": code_id}).json() == {"auth": True, "phone": "79991234567"}
    assert str(issued.json()["code"]) not in client.get("/dev/auth4app/").content.decode()
