"""The pages' language (no browser): Accept-Language, the header's switcher (Django's set_language) and
the account's choice adopted at login. tests/pages/test_browser_languages.py shows the result in Chromium."""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings
from django.test import Client

from tests.pages.test_views import browser_client, post_web  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

LANGUAGE_COOKIE = settings.LANGUAGE_COOKIE_NAME


@pytest.mark.parametrize(
    "accept, lang, direction, log_in",
    [
        ("fa-IR,fa;q=0.9,en;q=0.5", "fa", "rtl", "ورود"),
        ("zh-CN,zh;q=0.9", "zh-hans", "ltr", "登录"),
        ("ru", "ru", "ltr", "Войти"),
        ("de-DE,de;q=0.9", "en", "ltr", "Log in"),
    ],
)
def test_accept_language_picks_the_page_language(accept, lang, direction, log_in):
    body = Client(HTTP_ACCEPT_LANGUAGE=accept).get("/login/").content.decode()
    assert f'<html lang="{lang}" dir="{direction}">' in body
    assert f'<h1 id="login-heading">{log_in}</h1>' in body


def test_the_switcher_is_a_plain_form_listing_each_language_in_its_own_name():
    body = Client(HTTP_ACCEPT_LANGUAGE="ru").get("/chat/").content.decode()
    form = re.search(r'<form class="language".*?</form>', body, re.S).group(0)
    assert 'action="/i18n/setlang/"' in form and 'method="post"' in form and "csrfmiddlewaretoken" in form
    assert re.search(r'<option value="ru" lang="ru" selected>\s*Русский', form)
    for code, name in [("en", "English"), ("fa", "فارسی"), ("zh-hans", "简体中文")]:
        assert re.search(rf'<option value="{code}" lang="{code}">\s*{name}', form)
    assert "<script>" not in body and "onchange" not in body  # no inline script (CSP script-src 'self')


def test_set_language_remembers_the_choice_for_a_year():
    client = Client()
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/account/sessions/"})
    assert response.status_code == 302 and response["Location"] == "/account/sessions/"
    cookie = response.cookies[LANGUAGE_COOKIE]
    assert cookie.value == "zh-hans" and int(cookie["max-age"]) == 365 * 24 * 3600
    # The cookie beats Accept-Language from then on.
    body = client.get("/account/sessions/", HTTP_ACCEPT_LANGUAGE="fa").content.decode()
    assert '<html lang="zh-hans" dir="ltr">' in body and "你的会话" in body


def test_a_device_without_a_language_takes_the_accounts_at_login(browser_client, user_factory, login):  # noqa: F811
    user = user_factory(language="fa")
    response = post_web(browser_client, "/web/session/", {"refresh": login(user).refresh})
    assert response.status_code == 200
    assert response.cookies[LANGUAGE_COOKIE].value == "fa"
    assert '<html lang="fa" dir="rtl">' in browser_client.get("/chat/").content.decode()


def test_a_device_that_chose_keeps_its_language_at_login(browser_client, user_factory, login):  # noqa: F811
    browser_client.cookies[LANGUAGE_COOKIE] = "ru"
    user = user_factory(language="fa")
    response = post_web(browser_client, "/web/session/", {"refresh": login(user).refresh})
    assert response.status_code == 200 and LANGUAGE_COOKIE not in response.cookies


def test_an_account_without_a_choice_sets_no_cookie(browser_client, user_factory, login):  # noqa: F811
    response = post_web(browser_client, "/web/session/", {"refresh": login(user_factory()).refresh})
    assert response.status_code == 200 and LANGUAGE_COOKIE not in response.cookies


@pytest.mark.parametrize("lang, text", [("fa", "متصل"), ("zh-hans", "已连接"), ("ru", "Подключено")])
def test_the_page_scripts_catalog_follows_the_page_language(lang, text):
    body = Client(HTTP_ACCEPT_LANGUAGE=lang).get("/jsi18n/").content.decode()
    assert json.dumps(text) in body  # the catalog is JSON inside the script
