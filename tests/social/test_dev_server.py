"""A DEBUG server with no keys, as `./scripts/run` starts it: both providers are on, against the
simulators it mounts, and the curl lines of docs/social.md work as written."""

from __future__ import annotations

import json
import re
import subprocess
import time

import httpx
import pytest

from social.models import SocialIdentity
from tests.servers import ROOT, ServerProcess, server_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

NUMBER = "+989121234567"  # the number in the documented lines


@pytest.fixture
def dev_server(transactional_db):
    env = server_env(DEBUG="1", REDIS_URL="", SMS_PROVIDER="console", SMS_FALLBACK_PROVIDERS="")
    for name in [name for name in env if name.startswith(("WEIBO_", "WECHAT_"))]:
        del env[name]
    server = ServerProcess(env=env).start()
    yield server
    server.stop()


def documented_shell_blocks() -> list[str]:
    text = (ROOT / "docs" / "social.md").read_text()
    section = text.split("## Development simulators", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def run_shell(block: str, port: int) -> str:
    script = block.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    return subprocess.run(["bash", "-ec", script], capture_output=True, text=True, check=True, timeout=30).stdout


def read_code(server, number: str, timeout: float = 15) -> str:
    pattern = re.compile(rf"SMS to {re.escape(number)}: \D*(\d{{6}})\b")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := pattern.findall(server.log()):
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no console SMS to {number}:\n{server.log()}")


def test_the_documented_curl_lines_log_in_from_a_mini_program(dev_server):
    login_lines, bind_lines = documented_shell_blocks()

    pending = json.loads(run_shell(login_lines, dev_server.port))
    assert set(pending) == {"bind_token", "provider", "expires_in", "profile"}
    assert pending["provider"] == "wechat_mp" and pending["profile"]["nickname"] == "Alice"

    send_line, bind_line = bind_lines.strip().splitlines()
    assert json.loads(run_shell(send_line, dev_server.port))["expires_in"] > 0
    bind_line = bind_line.replace("<bind_token>", pending["bind_token"]).replace("<code from the log>", read_code(dev_server, NUMBER))
    bound = json.loads(run_shell(bind_line, dev_server.port))
    assert bound["user"]["mobile_number"] == NUMBER and set(bound) == {"access", "refresh", "user", "session"}

    # The same fake WeChat user logs straight in with a new code.
    again = json.loads(run_shell(login_lines, dev_server.port))
    assert again["user"] == bound["user"]
    assert SocialIdentity.objects.get().provider == "wechat_mp"


def test_both_providers_are_on_against_the_mounted_simulators(dev_server):
    with httpx.Client(base_url=dev_server.url, timeout=10) as http:
        assert http.get("/api/oauth/providers/").json() == [
            {"provider": "weibo", "kind": "redirect"},
            {"provider": "wechat_mp", "kind": "code"},
        ]
        authorize_url = http.post("/api/oauth/weibo/start/").json()["authorize_url"]
        assert authorize_url.startswith(f"{dev_server.url}/dev/weibo/oauth2/authorize?")
        assert f"redirect_uri=http%3A%2F%2F127.0.0.1%3A{dev_server.port}%2Flogin%2Fweibo%2F" in authorize_url
        assert http.get(authorize_url).status_code == 200
