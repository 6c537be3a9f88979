"""The pages as a person uses them, in a real headless Chromium against live daphne + Redis."""

from __future__ import annotations

import time

import pytest

from tests.pages.conftest import REFRESH_COOKIE, log_in_context, shoot, wait_connected

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def test_sms_login_end_to_end(sms_server, new_context):
    server, read_code = sms_server
    number = "+989121110001"
    page = new_context().new_page()
    page.goto(f"{server.url}/login/?next=/account/sessions/")
    shoot(page, "login-sms")

    page.get_by_label("Mobile number").first.fill(number)
    page.get_by_role("button", name="Send code").click()
    code_input = page.get_by_label("Code from the SMS")
    code_input.wait_for()
    assert page.locator("#sms-resend").is_disabled()
    assert "Send a new code in" in page.locator("#sms-resend").inner_text()  # the resend countdown
    code = read_code(number)

    # A wrong code is refused plainly, and the page stays usable.
    code_input.fill(wrong(code))
    code_input.press("Enter")
    error = page.locator("#sms-code-error")
    error.wait_for()
    assert "wrong" in error.inner_text()
    shoot(page, "login-sms-code")

    code_input.fill(code)
    page.get_by_role("button", name="Log in", exact=True).click()
    page.wait_for_url("**/account/sessions/")
    page.locator("#me-phone", has_text=number).wait_for()
    page.locator(".session.current").wait_for()

    # Tokens: nothing in storage a script could read; the refresh token only in the HttpOnly cookie.
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert REFRESH_COOKIE not in page.evaluate("document.cookie")
    [cookie] = [c for c in page.context.cookies() if c["name"] == REFRESH_COOKIE]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/web/"
