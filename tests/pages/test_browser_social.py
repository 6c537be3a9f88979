"""Log in with Weibo in a real headless Chromium, through the development Weibo simulator of a
DEBUG server with no keys (what `./scripts/run` starts): pick a fake Weibo user, bind a phone with
an SMS code, land on /chat/; next time Weibo logs straight in; unlink on /account/identities/."""

from __future__ import annotations

import re
import time

import pytest

from accounts.models import LoginSession
from devtools.social_simulator import FAKE_WEIBO_USERS
from social.models import SocialIdentity
from tests.pages.conftest import shoot

pytestmark = [pytest.mark.browser, pytest.mark.integration]

NUMBER = "+989121110014"
XIAOMING = FAKE_WEIBO_USERS[1]


def read_code(server, number: str, timeout: float = 15) -> str:
    pattern = re.compile(rf"SMS to {re.escape(number)}: \D*(\d{{6}})\b")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pattern.findall(server.log())
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no console SMS to {number}:\n{server.log()}")


def test_log_in_with_weibo_bind_a_phone_and_land_on_chat(dev_server, new_context):
    server = dev_server
    page = new_context().new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    page.goto(f"{server.url}/login/")
    shoot(page, "login-with-weibo")
    page.get_by_role("button", name="Log in with Weibo").click()

    # The simulator's authorize page: pick a fake Weibo user.
    page.wait_for_url("**/dev/weibo/oauth2/authorize?**")
    assert "redirect_uri=http%3A%2F%2F127.0.0.1" in page.url
    page.get_by_role("button", name=f"Log in as {XIAOMING['screen_name']}").click()

    # Back on /login/weibo/: the account is not bound yet, so the bind step shows.
    page.wait_for_url("**/login/weibo/")
    assert "code=" not in page.url and "state=" not in page.url  # taken out of the address bar
    page.locator("#bind-greeting", has_text=XIAOMING["screen_name"]).wait_for()
    page.wait_for_function("document.getElementById('bind-avatar').complete && document.getElementById('bind-avatar').naturalWidth > 0")
    page.get_by_label("Mobile number").fill(NUMBER)
    page.get_by_role("button", name="Send code").click()
    code_input = page.get_by_label("Code from the SMS")
    code_input.wait_for()
    shoot(page, "login-weibo-bind")

    code = read_code(server, NUMBER)
    code_input.fill(f"{(int(code) + 1) % 10**6:06d}")
    page.get_by_role("button", name="Link and log in").click()
    page.locator("#bind-code-error", has_text="wrong").wait_for()
    code_input.fill(code)
    page.get_by_role("button", name="Link and log in").click()

    page.wait_for_url("**/chat/")
    page.locator("#me-phone", has_text=NUMBER).wait_for()
    identity = SocialIdentity.objects.get()
    assert (identity.provider, identity.uid, str(identity.user.mobile_number)) == ("weibo", XIAOMING["uid"], NUMBER)
    assert list(LoginSession.objects.values_list("login_method", flat=True)) == ["social"]
    assert page.evaluate("sessionStorage.length") == 0

    # Log out, and log in with Weibo again: bound now, so straight to /chat/, no bind step.
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login/")
    page.get_by_role("button", name="Log in with Weibo").click()
    page.get_by_role("button", name=f"Log in as {XIAOMING['screen_name']}").click()
    page.wait_for_url("**/chat/")
    page.locator("#me-phone", has_text=NUMBER).wait_for()
    assert LoginSession.objects.filter(login_method="social").count() == 2

    # Linked accounts: Weibo is listed; Unlink removes it.
    page.get_by_role("link", name="Linked accounts").click()
    page.wait_for_url("**/account/identities/")
    item = page.locator(".identity", has_text=XIAOMING["screen_name"])
    item.wait_for()
    shoot(page, "linked-accounts")
    item.get_by_role("button", name="Unlink").click()
    page.locator("#identities-status", has_text="no longer linked").wait_for()
    assert page.locator(".identity").count() == 0
    assert not SocialIdentity.objects.exists()

    # Nothing was fetched from anywhere but this server (the simulator included).
    assert [url for url in requests if not url.startswith(server.url)] == []
