"""The social-login pages without a browser: the Weibo button only when Weibo is configured, the
/login/weibo/ landing page, and the linked-accounts page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def weibo_configured(settings):
    settings.WEIBO_CLIENT_ID = "app"
    settings.WEIBO_CLIENT_SECRET = "secret"
    settings.WEIBO_REDIRECT_URI = "https://hotline.example/login/weibo/"
    settings.WEIBO_API_URL = "https://api.weibo.com"
    return settings


def test_login_shows_log_in_with_weibo_only_when_weibo_is_configured(client, settings, weibo_configured):
    assert "Log in with Weibo" in client.get("/login/").content.decode()
    settings.WEIBO_CLIENT_ID = ""
    assert "Log in with Weibo" not in client.get("/login/").content.decode()


def test_weibo_landing_page_renders_the_bind_step_when_configured(client, weibo_configured):
    response = client.get("/login/weibo/?code=abc&state=def")
    assert response.status_code == 200 and "csrftoken" in response.cookies
    html = response.content.decode()
    assert "/static/pages/js/login_weibo.js" in html
    assert 'id="bind-phone"' in html and 'id="bind-code"' in html
    assert "http://" not in html and "https://" not in html  # nothing from another origin


def test_weibo_landing_page_is_404_when_weibo_is_not_configured(client, settings):
    settings.WEIBO_CLIENT_ID = ""
    assert client.get("/login/weibo/").status_code == 404


def test_linked_accounts_page_and_its_nav_link(client):
    response = client.get("/account/identities/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/pages/js/identities.js" in html and 'id="identity-list"' in html
    assert 'href="/account/identities/" aria-current="page"' in html
    assert 'href="/account/identities/"' in client.get("/account/sessions/").content.decode()
