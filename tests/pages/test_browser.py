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


def test_live_confirmation_end_to_end_without_polling(page_server, new_context):
    from auth4app.simulator import SimulatorCore, SimulatorServer

    number = "+989121110002"
    with SimulatorServer(SimulatorCore(api_key="pages-test-key")) as simulator:
        server = page_server(
            AUTH4APP_API_URL=simulator.url, AUTH4APP_API_KEY="pages-test-key", AUTH4APP_POLL_INTERVAL="0.2"
        )
        page = new_context().new_page()
        requests: list[str] = []
        sockets: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.on("websocket", lambda socket: sockets.append(socket.url))
        page.goto(f"{server.url}/login/")

        # Keyboard: the tabs follow the arrow keys.
        page.locator("#tab-sms").focus()
        page.keyboard.press("ArrowRight")
        assert page.evaluate("document.activeElement.id") == "tab-messenger"
        assert page.locator("#tab-messenger").get_attribute("aria-selected") == "true"

        page.locator("#msg-phone").fill(number)
        page.get_by_role("button", name="Get a code").click()
        page.locator("#msg-code").wait_for()
        [pending] = simulator.core.pending()
        assert page.locator("#msg-code").inner_text() == str(pending["code"])
        assert page.locator("#msg-links a").count() >= 1
        page.wait_for_function("document.getElementById('msg-qr').complete && document.getElementById('msg-qr').naturalWidth > 0")
        page.locator("#msg-status", has_text="expires in").wait_for()
        shoot(page, "login-messenger")

        page.wait_for_timeout(800)  # several upstream poll intervals pass with the page just listening
        confirmed_at = time.monotonic()
        simulator.core.confirm(pending["code_id"])
        page.wait_for_url("**/chat/", timeout=5000)
        took = time.monotonic() - confirmed_at
        page.locator("#me-phone", has_text=number).wait_for()

    assert took < 3, f"the page took {took:.2f}s to log in after the confirmation"
    assert [url for url in sockets if "/ws/auth/" in url], "the page must wait on the WebSocket"
    assert not [url for url in requests if "/proxy/auth/result" in url], "the page must not poll"
    assert len([url for url in requests if "/proxy/auth/code" in url]) == 1
    assert len([url for url in requests if "/proxy/auth/complete" in url]) == 1
