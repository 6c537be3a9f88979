"""The pages in Persian and Chinese, in a real headless Chromium: right to left for Persian, the layout
mirrored, and no English text left on the page, at desktop and phone width: /login/ (with its Weibo
button and the Weibo bind step of /login/weibo/), /chat/, /account/sessions/, /account/profile/ and
/account/identities/. Screenshots go to tests/screenshots/i18n-<language>-<page>-{desktop,phone}.png."""

from __future__ import annotations

import re

import polib
import pytest

from tests.i18n.test_catalogs import DOMAINS, LOCALE, PLACEHOLDER
from tests.pages.conftest import DESKTOP, PHONE, SCREENSHOTS, log_in_context, shoot, wait_connected

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROME_ON_LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

# Every text node the page shows (visually hidden ones for screen readers included), except text marked
# as another language (the switcher names each language in its own name).
VISIBLE_TEXTS = """() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const page = document.documentElement.lang;
  const texts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    const element = node.parentElement;
    if (!text || !element || element.closest("script, style, noscript")) continue;
    const marked = element.closest("[lang]");
    if (marked && marked.lang !== page) continue;
    if (element.closest("[hidden]") || element.getClientRects().length === 0) continue;
    texts.push(text);
  }
  return texts;
}"""


def english_patterns(locale: str) -> list[re.Pattern]:
    """The English msgids of both catalogs as patterns (a placeholder matches any text), except those
    the language writes the same way (E.164)."""
    patterns = []
    for domain in DOMAINS:
        for entry in polib.pofile(str(LOCALE / locale / "LC_MESSAGES" / f"{domain}.po")):
            translations = set(entry.msgstr_plural.values()) if entry.msgid_plural else {entry.msgstr}
            for english in filter(None, [entry.msgid, entry.msgid_plural]):
                if english in translations:
                    continue
                parts = PLACEHOLDER.split(english)
                patterns.append(re.compile(".+?".join(re.escape(part) for part in parts), re.S))
    return patterns


def english_left(page, patterns) -> list[str]:
    return [text for text in page.evaluate(VISIBLE_TEXTS) if any(p.fullmatch(text) for p in patterns)]


# Where a piece of text sits in its element: the box of the text itself, not of the (full-width) block.
TEXT_BOX = """n => { const r = document.createRange(); r.selectNodeContents(n); const t = r.getBoundingClientRect();
  const b = n.getBoundingClientRect(); return {left: t.left - b.left, right: b.right - t.right}; }"""


def assert_translated(page, patterns, name: str, direction: str, label: str) -> None:
    assert page.evaluate("document.documentElement.lang") == name
    assert page.evaluate("document.documentElement.dir") == direction
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        page.wait_for_timeout(60)
        left = english_left(page, patterns)
        assert not left, f"English left on {label} in {name} at {size['width']}px: {left}"
    assert not page.errors, page.errors
    page.set_viewport_size(DESKTOP)
    shoot(page, f"i18n-{name}-{label}")
    assert (SCREENSHOTS / f"i18n-{name}-{label}-phone.png").exists()


def box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


@pytest.fixture
def people(user_factory, login):
    """Two people with a direct chat of a few messages, one Latin, one Persian, one Chinese."""
    from chat.models import Membership, Message, Room

    me, friend = user_factory("+989121110101"), user_factory("+8613800138001")
    # Rows, not chat.services: nobody listens yet, and its events would need an event loop. I opened
    # the room by my friend's number, so I see it (the friend has no display name: the number names them).
    room = Room.objects.create(kind=Room.Kind.DIRECT, direct_low_id=me.pk, direct_high_id=friend.pk)
    Membership.objects.create(room=room, user=me, peer_number_known=True)
    Membership.objects.create(room=room, user=friend)
    for sender, text in [
        (friend, "Hello from Beijing 你好"),
        (me, "سلام! this line starts in Persian"),
        (friend, "An English line, then فارسی"),
    ]:
        Message.objects.create(room=room, sender=sender, text=text)
    # Each browser context gets a session of its own: two presenting one refresh token would be reuse.
    return me, lambda: login(me, user_agent=CHROME_ON_LINUX)


def open_page(new_context, server, language: str, path: str, session=None):
    context = new_context(locale=language)  # Accept-Language: the page's language comes from it
    if session is not None:
        log_in_context(context, server, session)
    page = context.new_page()
    errors: list = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # checked by the tests: a script error would leave English or a blank page
    page.goto(f"{server.url}{path}")
    return page


@pytest.mark.parametrize("language, direction, locale", [("fa", "rtl", "fa"), ("zh-CN", "ltr", "zh_Hans")])
def test_login_chat_and_sessions_pages_are_fully_translated(page_server, new_context, people, language, direction, locale):
    server = page_server()
    _me, new_session = people
    patterns = english_patterns(locale)
    name = "fa" if locale == "fa" else "zh-hans"

    login = open_page(new_context, server, language, "/login/")
    chat = open_page(new_context, server, language, "/chat/", new_session())
    wait_connected(chat)
    chat.locator(".room").first.click()
    chat.locator("#messages .msg").nth(2).wait_for()
    sessions = open_page(new_context, server, language, "/account/sessions/", new_session())
    wait_connected(sessions)
    sessions.locator(".session.current").wait_for()

    for page, label in ((login, "login"), (chat, "chat"), (sessions, "sessions")):
        assert_translated(page, patterns, name, direction, label)

    # A left-to-right value (the IP address) in a right-to-left page lines up with the page (on the right).
    address = sessions.locator(".session dd[dir='ltr']").first
    assert address.evaluate("n => getComputedStyle(n).textAlign") == ("end" if direction == "rtl" else "start")
    # The device's kind is in the page's language (the API gives it as a code), the browser as reported.
    heading = sessions.locator(".session.current h2").inner_text()
    assert heading.startswith({"fa": "رایانه", "zh-hans": "电脑"}[name]) and "Chrome" in heading, heading

    # Times come through Intl in the page's language: Persian digits in Persian.
    time_text = chat.locator("#messages time").first.inner_text()
    if name == "fa":
        assert re.search("[۰-۹]", time_text) and not re.search("[0-9]", time_text), time_text
    else:
        assert re.search("[0-9]", time_text), time_text


def test_the_layout_mirrors_in_persian(page_server, new_context, people):
    server = page_server()
    _me, new_session = people
    places = {}
    for language in ("fa", "zh-CN"):
        page = open_page(new_context, server, language, "/chat/", new_session())
        wait_connected(page)
        page.locator(".room").first.click()
        page.locator("#messages .msg").nth(2).wait_for()
        send, text = box(page, "#composer-send"), box(page, "#composer-text")
        rooms, room = box(page, ".rooms-pane"), box(page, ".room-pane")
        mine = box(page, "#messages .msg.mine .bubble")
        theirs = box(page, "#messages .msg.theirs .bubble")
        places[language] = {
            "send_left_of_text": send["x"] < text["x"],
            "rooms_left_of_room": rooms["x"] < room["x"],
            "mine_left_of_theirs": mine["x"] < theirs["x"],
        }
        # Each message reads in its own direction (dir=auto), whatever the page's.
        directions = page.locator("#messages .text").evaluate_all("nodes => nodes.map(n => getComputedStyle(n).direction)")
        assert directions == ["ltr", "rtl", "ltr"]
        # Phone numbers shown as names read left to right ("+86...", not "...+86") in either page.
        for selector in ("#room-title", "#messages .msg.theirs .sender", ".room-title", "#me-phone"):
            assert page.locator(selector).first.evaluate("n => getComputedStyle(n).direction") == "ltr", selector
        # Short Chinese labels stay on one line (Chinese may break between any two characters).
        lines = page.locator("#new-chat-start").evaluate(
            "n => { const r = document.createRange(); r.selectNodeContents(n); return r.getClientRects().length; }"
        )
        assert lines == 1, f"the Start button's label takes {lines} lines"
        # Phone and code inputs stay left to right.
        assert page.locator("#new-chat-phone").evaluate("n => getComputedStyle(n).direction") == "ltr"
        # At phone width the room view alone, its send button still on the mirrored side.
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(60)
        send, text = box(page, "#composer-send"), box(page, "#composer-text")
        places[language]["phone_send_left_of_text"] = send["x"] < text["x"]
    assert places["fa"] == {
        "send_left_of_text": True,
        "rooms_left_of_room": False,
        "mine_left_of_theirs": True,
        "phone_send_left_of_text": True,
    }
    assert places["zh-CN"] == {key: not value for key, value in places["fa"].items()}


def test_persian_digits_typed_into_the_login_form_log_in(sms_server, new_context):
    server, read_code = sms_server
    number = "+989121110102"
    page = new_context(locale="fa").new_page()
    page.goto(f"{server.url}/login/?next=/account/sessions/")
    persian = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
    phone = page.locator("#sms-phone")
    assert phone.evaluate("n => getComputedStyle(n).direction") == "ltr"
    phone.fill(number.translate(persian))
    page.locator("#sms-send").click()
    page.locator("#sms-code").wait_for()
    # The notice names the number left to right inside the Persian sentence.
    assert "\u2066" + number + "\u2069" in page.locator("#sms-sent").inner_text()
    page.locator("#sms-code").fill(read_code(number).translate(persian))
    page.locator("#sms-verify").click()
    page.wait_for_url("**/account/sessions/")
    page.locator(".session.current").wait_for()
    assert page.evaluate("document.documentElement.lang") == "fa"


def test_the_switcher_changes_the_language_and_saves_it_to_the_account(page_server, new_context, people):
    server = page_server()
    me, new_session = people
    page = open_page(new_context, server, "en-US", "/account/sessions/", new_session())
    wait_connected(page)
    assert page.evaluate("document.documentElement.lang") == "en"
    page.locator("#language-select").select_option("ru")
    page.locator("#language-apply").click()
    page.locator("html[lang='ru']").wait_for(state="attached")
    assert page.url.endswith("/account/sessions/")
    page.locator("h1", has_text="Ваши сеансы").wait_for()
    me.refresh_from_db()
    assert me.language == "ru"


# --- the profile, linked accounts and Weibo pages ----------------------------------------------

@pytest.fixture
def profiled(people):
    """`people`, where I have a name, an email waiting for its link, a blocked person and a Weibo account."""
    from chat.models import Block, Membership
    from social.models import SocialIdentity

    me, new_session = people
    me.display_name, me.email = "سارا Sara", "sara@example.com"
    me.save(update_fields=["display_name", "email"])
    friend = Membership.objects.exclude(user=me).select_related("user").first().user
    Block.objects.create(blocker=me, blocked=friend)
    SocialIdentity.objects.create(provider="weibo", uid="1404376560", user=me, nickname="小明")
    return me, new_session


@pytest.mark.parametrize("language, direction, locale", [("fa", "rtl", "fa"), ("zh-CN", "ltr", "zh_Hans")])
def test_profile_and_linked_accounts_pages_are_fully_translated(
    page_server, new_context, profiled, language, direction, locale
):
    server = page_server()
    _me, new_session = profiled
    patterns = english_patterns(locale)
    name = "fa" if locale == "fa" else "zh-hans"
    rtl = direction == "rtl"

    profile = open_page(new_context, server, language, "/account/profile/", new_session())
    wait_connected(profile)
    profile.locator("#blocked-list li").wait_for()
    profile.locator("#email-state[data-verified='false']").wait_for()
    assert_translated(profile, patterns, name, direction, "profile")
    # The email inside the sentence stays one left-to-right piece; the inputs take their own direction.
    assert "\u2066sara@example.com\u2069" in profile.locator("#email-state").inner_text()
    assert profile.locator("#profile-email").evaluate("n => getComputedStyle(n).direction") == "ltr"
    assert profile.locator("#profile-name").evaluate("n => getComputedStyle(n).direction") == "rtl"  # "سارا Sara"
    # Someone without a name is "User N", with the page's digits.
    blocked = profile.locator("#blocked-list li span:not(.avatar)").first.inner_text()
    assert re.fullmatch(r"کاربر [۰-۹]+" if rtl else r"用户 [0-9]+", blocked), blocked
    # Mirrored: in Persian the picture is right of its controls and Save left of its field.
    avatar, upload = box(profile, "#profile-avatar"), box(profile, "label[for='avatar-input']")
    save, field = box(profile, "#profile-name-form button"), box(profile, "#profile-name")
    assert (avatar["x"] > upload["x"], save["x"] < field["x"]) == (rtl, rtl)

    identities = open_page(new_context, server, language, "/account/identities/", new_session())
    wait_connected(identities)
    identities.locator(".identity").wait_for()
    assert_translated(identities, patterns, name, direction, "identities")
    heading = identities.locator(".identity h2").inner_text()
    assert heading.startswith({"fa": "ویبو", "zh-hans": "微博"}[name]) and "小明" in heading, heading
    bound = identities.locator(".identity .hint").inner_text()
    assert bound.startswith({"fa": "متصل‌شده در", "zh-hans": "关联于"}[name]), bound
    if rtl:
        assert re.search("[۰-۹]", bound) and not re.search("[0-9]", bound), bound  # Persian digits and calendar
    # Mirrored: the heading's text starts at the card's right edge in Persian, its left edge in Chinese.
    gaps = identities.locator(".identity h2").evaluate(TEXT_BOX)
    assert (gaps["right"] < 2) == rtl and (gaps["left"] < 2) == (not rtl), gaps


@pytest.mark.parametrize("language, direction, locale", [("fa", "rtl", "fa"), ("zh-CN", "ltr", "zh_Hans")])
def test_the_weibo_button_and_bind_step_are_fully_translated(dev_server, new_context, language, direction, locale):
    from devtools.social_simulator import FAKE_WEIBO_USERS

    patterns = english_patterns(locale)
    name = "fa" if locale == "fa" else "zh-hans"
    page = open_page(new_context, dev_server, language, "/login/")
    page.locator("#weibo-login").wait_for()
    assert page.locator("#weibo-login").inner_text() == {"fa": "ورود با ویبو", "zh-hans": "用微博登录"}[name]
    assert_translated(page, patterns, name, direction, "login-weibo-button")

    page.locator("#weibo-login").click()
    # The simulator's page stands in for Weibo's own (English, development only): pick a fake user.
    fake = FAKE_WEIBO_USERS[1]
    page.get_by_role("button", name=f"Log in as {fake['screen_name']}").click()
    page.wait_for_url("**/login/weibo/")
    greeting = page.locator("#bind-greeting")
    greeting.wait_for()
    assert fake["screen_name"] in greeting.inner_text()
    # The greeting is a sentence of the page (its direction); the Chinese name inside it is isolated.
    assert greeting.evaluate("n => getComputedStyle(n).direction") == direction
    assert f"\u2068{fake['screen_name']}\u2069" in greeting.inner_text()
    assert page.locator("#bind-phone").evaluate("n => getComputedStyle(n).direction") == "ltr"
    assert_translated(page, patterns, name, direction, "login-weibo-bind")


def test_the_catalog_and_the_switcher_run_under_the_content_security_policy(page_server, new_context):
    """/jsi18n/ (Django's JavaScriptCatalog) and language.js are scripts of our own origin, so
    `script-src 'self'` lets them run: the catalog translates in the page and the switcher's module
    loaded. (new_context fails the test on any CSP violation the console reports.)"""
    server = page_server()
    page = new_context(locale="fa").new_page()
    response = page.goto(f"{server.url}/login/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert page.evaluate("window.gettext('Connected')") == "متصل"
    assert page.evaluate("window.ngettext('%(n)s minute', '%(n)s minutes', 5)") == "%(n)s دقیقه"
    loaded = page.evaluate(
        "performance.getEntriesByType('resource').filter(e => /jsi18n|language\\.js/.test(e.name))"
        ".map(e => [e.name.split('/').filter(Boolean).pop(), e.responseStatus])"
    )
    assert sorted(name for name, _status in loaded) == ["jsi18n", "language.js"], loaded
    assert all(status == 200 for _name, status in loaded), loaded
