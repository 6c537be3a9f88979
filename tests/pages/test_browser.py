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
    from devtools.auth4app_simulator import SimulatorCore, SimulatorServer

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

        # Upstream down: said plainly, and the form stays usable.
        page.locator("#msg-phone").fill(number)
        simulator.core.storage.set_setting("mode", "error")
        page.get_by_role("button", name="Get a code").click()
        page.locator("#msg-phone-error", has_text="not answering").wait_for()
        simulator.core.storage.set_setting("mode", "ok")

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
    assert len([url for url in requests if "/proxy/auth/code" in url]) == 2  # the failed one, then this one
    assert len([url for url in requests if "/proxy/auth/complete" in url]) == 1


def message_texts(page) -> list[str]:
    return page.locator("#messages .msg .text").all_inner_texts()


def test_two_people_chat_live_and_one_catches_up_after_going_offline(page_server, new_context, user_factory, login):
    server = page_server()
    alice, bob = user_factory("+989121110003", display_name="Alice"), user_factory("+989121110004", display_name="Bob")
    alice_context, bob_context = new_context(), new_context()
    log_in_context(alice_context, server, login(alice))
    log_in_context(bob_context, server, login(bob))
    alice_page, bob_page = alice_context.new_page(), bob_context.new_page()

    # Alice starts a direct chat by phone number and writes; her message goes pending -> sent.
    alice_page.goto(f"{server.url}/chat/")
    wait_connected(alice_page)
    alice_page.get_by_label("Start a chat by phone number").fill(str(bob.mobile_number))
    alice_page.get_by_role("button", name="Start").click()
    alice_page.locator("#room-title", has_text="Bob").wait_for()
    alice_page.get_by_label("Message").fill("Hello Bob")
    alice_page.keyboard.press("Enter")
    alice_page.locator(".msg.mine .status[data-status='sent']").wait_for()

    # Bob sees the chat with one unread message and Alice online, by her name (never her number).
    bob_page.goto(f"{server.url}/chat/")
    wait_connected(bob_page)
    room = bob_page.locator(".room", has_text="Alice")
    room.locator(".badge", has_text="1").wait_for()
    room.locator(".dot.online").wait_for()
    shoot(bob_page, "chat-rooms")

    # Bob opens it: he reads, and Alice's message turns "Read" on her screen.
    room.click()
    bob_page.locator(".msg.theirs .text", has_text="Hello Bob").wait_for()
    alice_page.locator(".msg.mine .status[data-status='read']").wait_for()
    assert room.locator(".badge").count() == 0

    # Bob types: Alice sees it; he sends: Alice gets the message live.
    bob_page.get_by_label("Message").type("Hi Alice")
    # The name is a bidi isolate (U+2068 ... U+2069) inside the sentence, so it reads right in any language.
    alice_page.locator("#typing", has_text="\u2068Bob\u2069 is typing").wait_for()
    bob_page.keyboard.press("Enter")
    alice_page.locator(".msg.theirs .text", has_text="Hi Alice").wait_for()
    alice_page.locator("#typing:empty").wait_for()
    shoot(alice_page, "chat")

    # Bob goes offline. Alice keeps writing; Bob writes too (pending while offline).
    bob_context.set_offline(True)
    bob_page.locator("#connection[data-state='reconnecting']", has_text="Reconnecting").wait_for()
    for text in ("one", "two", "three"):
        alice_page.get_by_label("Message").fill(text)
        alice_page.keyboard.press("Enter")
    alice_page.locator(".msg.mine").nth(3).locator(".status[data-status='sent']").wait_for()
    bob_page.get_by_label("Message").fill("sent while offline")
    bob_page.keyboard.press("Enter")
    bob_page.locator(".msg.mine .status[data-status='pending']").wait_for()
    assert "one" not in message_texts(bob_page)
    shoot(bob_page, "chat-reconnecting")

    # Back online: Bob catches up from the last message he saw (nothing missing, nothing twice)
    # and his pending message is sent exactly once.
    bob_context.set_offline(False)
    wait_connected(bob_page)
    expected = ["Hello Bob", "Hi Alice", "one", "two", "three", "sent while offline"]
    bob_page.wait_for_function(
        "n => document.querySelectorAll('#messages .msg').length >= n && "
        "!document.querySelector('#messages .status[data-status=pending]')",
        arg=len(expected),
    )
    alice_page.locator(".msg.theirs .text", has_text="sent while offline").wait_for()
    bob_page.wait_for_timeout(300)  # any late duplicate would land now
    assert message_texts(bob_page) == expected
    assert message_texts(alice_page) == expected
    # Bob never had Alice's number; she typed his, so only her page may show it.
    assert str(alice.mobile_number) not in bob_page.content()
    # Bob's catch-up counts as read: Alice's last message shows "Read".
    alice_page.locator(".msg.mine").nth(3).locator(".status[data-status='read']").wait_for()


def test_revoking_a_session_logs_the_other_browser_out_within_a_second(page_server, new_context, user_factory, login):
    server = page_server()
    user = user_factory("+989121110005")
    on_chat, on_sessions = login(user), login(user)
    elsewhere = login(user, user_agent="Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36")
    chat_context, sessions_context = new_context(), new_context()
    log_in_context(chat_context, server, on_chat)
    log_in_context(sessions_context, server, on_sessions)
    chat_page, sessions_page = chat_context.new_page(), sessions_context.new_page()
    chat_page.goto(f"{server.url}/chat/")
    wait_connected(chat_page)

    sessions_page.goto(f"{server.url}/account/sessions/")
    wait_connected(sessions_page)
    cards = sessions_page.locator(".session")
    cards.nth(2).wait_for()
    assert cards.count() == 3
    current = sessions_page.locator(".session.current")
    assert current.count() == 1 and current.get_attribute("data-session") == on_sessions.session.id
    shoot(sessions_page, "sessions")

    # Log out the chat page's session from the sessions page: the chat page leaves at once.
    target = sessions_page.locator(f".session[data-session='{on_chat.session.id}']")
    started = time.monotonic()
    target.get_by_role("button", name="Log out this session").click()
    chat_page.wait_for_url("**/login/**", timeout=2000)
    took = time.monotonic() - started
    assert took < 1.0, f"the revoked page left after {took:.2f}s"
    assert "next=%2Fchat%2F" in chat_page.url
    target.wait_for(state="detached")

    # "Log out all other sessions" ends the rest; this page stays logged in.
    sessions_page.get_by_role("button", name="Log out all other sessions").click()
    sessions_page.locator("#sessions-status", has_text="1 other session logged out").wait_for()
    assert cards.count() == 1 and sessions_page.locator(".session.current").count() == 1
    elsewhere.session.refresh_from_db()
    assert elsewhere.session.revoked_at is not None
    assert "/account/sessions/" in sessions_page.url

    # And the chat page's browser cannot come back with its old cookie.
    chat_page.goto(f"{server.url}/chat/")
    chat_page.wait_for_url("**/login/**")
