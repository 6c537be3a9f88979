"""Issue 16 in the browser (real Chromium, live daphne + Redis), at desktop and phone width: the live
room list, unread badges and the tab title, edit and delete, groups (creation, invitations, the
members panel), and profiles (name, picture, email) showing up on the other person's page."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from chat import services
from tests.chat.conftest import open_direct
from tests.pages.conftest import DESKTOP, PHONE, log_in_context, shoot, wait_connected

pytestmark = [pytest.mark.browser, pytest.mark.integration]

WIDTHS = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]


def chat_page(new_context, server, login_result, viewport):
    context = new_context(viewport=viewport)
    log_in_context(context, server, login_result)
    page = context.new_page()
    page.goto(f"{server.url}/chat/")
    wait_connected(page)
    return page


def room_item(page, name: str):
    return page.locator(".room", has_text=name)


def back_to_list(page, viewport) -> None:
    if viewport is PHONE:
        page.locator("#back-to-rooms").click()


@pytest.mark.parametrize("viewport", WIDTHS)
def test_a_new_chat_appears_live_with_unread_badges_and_edits_and_deletes(page_server, new_context, user_factory, login,
                                                                          viewport):
    server = page_server()
    alice = user_factory("+989121110011", display_name="Alice")
    bob = user_factory("+989121110012", display_name="Bob")
    alice_page = chat_page(new_context, server, login(alice), viewport)
    bob_page = chat_page(new_context, server, login(bob), viewport)
    assert bob_page.locator(".room").count() == 0

    # Alice starts a chat with Bob by his number and writes twice: it appears on Bob's open page
    # without a reload, with an unread badge and the total in the tab title.
    alice_page.get_by_label("Start a chat by phone number").fill(str(bob.mobile_number))
    alice_page.get_by_role("button", name="Start").click()
    alice_page.locator("#room-title", has_text="Bob").wait_for()
    room_item(bob_page, "Alice").wait_for()
    for text in ("helo", "second"):
        alice_page.get_by_label("Message").fill(text)
        alice_page.keyboard.press("Enter")
    room_item(bob_page, "Alice").locator(".badge", has_text="2").wait_for()
    bob_page.wait_for_function("document.title.startsWith('(2) ')")
    shoot(bob_page, f"chat-live-room-{viewport['width']}")

    # Bob reads: the badge and the title count go.
    room_item(bob_page, "Alice").click()
    bob_page.locator(".msg.theirs .text", has_text="second").wait_for()
    bob_page.wait_for_function("!document.title.startsWith('(')")

    # Alice fixes her first message and deletes the second; Bob sees both at once.
    first = alice_page.locator(".msg.mine").first
    assert first.locator(".text").inner_text() == "helo"
    first.get_by_role("button", name="Edit").click()
    editor = first.locator("textarea")
    editor.fill("hello")
    editor.press("Enter")
    bob_page.locator(".msg.theirs .text", has_text="hello").wait_for()
    bob_page.locator(".msg.theirs", has_text="hello").locator(".edited").wait_for()
    second = alice_page.locator(".msg.mine", has_text="second")
    second.get_by_role("button", name="Delete").click()
    second.get_by_role("button", name="Delete for everyone?").click()
    bob_page.locator(".msg.deleted .tombstone").wait_for()
    assert bob_page.locator(".msg .text", has_text="second").count() == 0
    assert bob_page.locator(".msg.theirs .msg-edit").count() == 0  # nothing to edit of hers
    shoot(alice_page, f"chat-edited-{viewport['width']}")

    # After a reload Bob sees the same: the edit and the tombstone come from the history.
    bob_page.reload()
    wait_connected(bob_page)
    room_item(bob_page, "Alice").click()
    bob_page.locator(".msg.theirs .text", has_text="hello").wait_for()
    bob_page.locator(".msg.deleted").wait_for()
    assert str(alice.mobile_number) not in bob_page.content()


@pytest.mark.parametrize("viewport", WIDTHS)
def test_groups_invitations_members_panel_and_a_removed_member_loses_the_room_at_once(
    page_server, new_context, user_factory, login, viewport
):
    server = page_server()
    alice = user_factory("+989121110021", display_name="Alice")
    bob = user_factory("+989121110022", display_name="Bob")
    carol = user_factory("+989121110023", display_name="Carol")
    open_direct(alice, bob)  # Bob is Alice's contact; Carol is not
    alice_page = chat_page(new_context, server, login(alice), viewport)
    bob_page = chat_page(new_context, server, login(bob), viewport)
    carol_page = chat_page(new_context, server, login(carol), viewport)

    # Alice makes a group: Bob picked from her contacts, Carol invited by number.
    alice_page.get_by_role("button", name="New group").click()
    alice_page.get_by_label("Group name").first.fill("Weekend")
    alice_page.locator("#new-group-contacts").get_by_label("Bob").check()
    alice_page.get_by_label("Invite others by phone number").fill(str(carol.mobile_number))
    shoot(alice_page, f"group-new-{viewport['width']}")
    alice_page.get_by_role("button", name="Create group").click()
    alice_page.locator("#room-title", has_text="Weekend").wait_for()

    room_item(bob_page, "Weekend").wait_for()  # Bob is in, live
    invitation = carol_page.locator(".invitation", has_text="Weekend")
    invitation.wait_for()  # Carol is invited, not in
    assert "Alice" in invitation.inner_text() and room_item(carol_page, "Weekend").count() == 0
    shoot(carol_page, f"group-invitation-{viewport['width']}")
    invitation.get_by_role("button", name="Accept").click()
    carol_page.locator("#room-title", has_text="Weekend").wait_for()

    # The members panel: Alice renames the group and sees all three.
    alice_page.get_by_role("button", name="Members").click()
    panel = alice_page.locator("#members-panel")
    panel.locator(".member", has_text="Carol").wait_for()
    assert panel.locator(".member").count() == 3
    panel.get_by_label("Group name").fill("Long weekend")
    panel.get_by_role("button", name="Rename").click()
    room_item(bob_page, "Long weekend").wait_for()
    shoot(alice_page, f"group-members-{viewport['width']}")

    # Bob has the room open; Alice removes him: it is gone from his page at once.
    room_item(bob_page, "Long weekend").click()
    bob_page.locator("#room-title", has_text="Long weekend").wait_for()
    panel.get_by_role("button", name="Remove Bob").click()
    bob_page.locator("#room-view").wait_for(state="hidden")
    assert room_item(bob_page, "Long weekend").count() == 0
    alice_page.get_by_role("button", name="Close").click()
    alice_page.get_by_label("Message").fill("without Bob")
    alice_page.keyboard.press("Enter")
    carol_page.locator(".msg.theirs .text", has_text="without Bob").wait_for()
    bob_page.wait_for_timeout(300)
    assert "without Bob" not in bob_page.content()

    # Carol leaves; Alice's member list follows.
    carol_page.get_by_role("button", name="Members").click()
    carol_page.get_by_role("button", name="Leave group").click()
    carol_page.locator("#room-view").wait_for(state="hidden")
    back_to_list(carol_page, None)
    assert room_item(carol_page, "Long weekend").count() == 0
    alice_page.get_by_role("button", name="Members").click()
    alice_page.locator("#members-panel .member", has_text="Carol").wait_for(state="detached")


def png_file(tmp_path, color=(20, 120, 220)):
    path = tmp_path / "me.png"
    Image.new("RGB", (500, 300), color).save(path, "PNG")
    return path


@pytest.mark.parametrize("viewport", WIDTHS)
def test_a_profile_name_and_picture_show_on_the_other_persons_page_and_email_is_verified_by_its_link(
    page_server, new_context, user_factory, login, viewport, tmp_path
):
    server = page_server(MEDIA_ROOT=str(tmp_path / "media"))
    alice = user_factory("+989121110031")
    bob = user_factory("+989121110032", display_name="Bob")
    services.message_send(user=alice, room_id=open_direct(alice, bob).pk, text="hi")

    # Alice has no name yet: the chat page asks for one.
    alice_chat = chat_page(new_context, server, login(alice), viewport)
    alice_chat.get_by_label("Your name").fill("Alice")
    alice_chat.get_by_role("button", name="Save").first.click()
    alice_chat.locator("#name-form").wait_for(state="hidden")

    bob_page = chat_page(new_context, server, login(bob), viewport)
    room = room_item(bob_page, "Alice")
    room.wait_for()
    assert room.locator(".avatar img").count() == 0

    # On her profile page she uploads a picture: it shows on Bob's open page without a reload.
    profile = alice_chat.context.new_page()
    profile.goto(f"{server.url}/account/profile/")
    wait_connected(profile)
    assert profile.get_by_role("textbox", name="Display name").input_value() == "Alice"
    profile.get_by_label("Choose a JPEG, PNG or WebP picture").set_input_files(str(png_file(tmp_path)))
    profile.locator("#profile-avatar img").wait_for()
    profile.locator("#profile-status", has_text="Picture saved").wait_for()
    room.locator(".avatar img").wait_for()
    src = room.locator(".avatar img").get_attribute("src")
    assert re.fullmatch(r"/media/avatars/\d+-[0-9a-f]{16}\.webp", src)
    assert bob_page.evaluate("src => fetch(src).then(r => r.headers.get('content-type'))", src) == "image/webp"

    # She renames herself: Bob's list follows.
    profile.get_by_role("textbox", name="Display name").fill("Alice L.")
    profile.locator("#profile-name-form").get_by_role("button", name="Save").click()
    room_item(bob_page, "Alice L.").wait_for()

    # Email: unconfirmed until the emailed link (the console backend: the server's log) is opened.
    profile.get_by_role("textbox", name="Email (optional)").fill("alice@example.com")
    profile.locator("#profile-email-form").get_by_role("button", name="Save").click()
    profile.locator("#email-state[data-verified='false']", has_text="alice@example.com").wait_for()
    shoot(profile, f"profile-{viewport['width']}")
    link = None
    for _ in range(50):
        found = re.findall(r"http://\S+/account/email/verify/\?token=[\w-]+", server.log())
        if found:
            link = found[-1]
            break
        profile.wait_for_timeout(100)
    assert link, server.log()
    profile.goto(link)
    profile.locator("#email-result[data-verified='true']").wait_for()
    profile.goto(f"{server.url}/account/profile/")
    profile.locator("#email-state[data-verified='true']", has_text="Confirmed").wait_for()
    profile.goto(link)  # a second time: used up
    profile.locator("#email-result[data-verified='false']").wait_for()
