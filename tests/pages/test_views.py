"""The page shells and the /web/ token views (no browser): cookie attributes, CSRF, rotation."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from pages.views import REFRESH_COOKIE

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser_client():
    """A Django client that enforces CSRF like a browser does, with the CSRF cookie of a page visit."""
    client = Client(enforce_csrf_checks=True)
    client.get("/login/")
    return client


def post_web(client, path, body=None):
    return client.post(
        path,
        data=json.dumps(body or {}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )


def access_works(client, access: str) -> bool:
    return client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200


@pytest.mark.parametrize("path", ["/login/", "/chat/", "/account/sessions/", "/account/profile/"])
def test_pages_render_with_csrf_cookie_and_local_assets_only(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert "csrftoken" in response.cookies
    html = response.content.decode()
    assert "/static/pages/js/" in html and "/jsi18n/" in html
    # Offline: nothing is fetched from another origin.
    assert "http://" not in html and "https://" not in html
    assert response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize("path", ["/login/", "/chat/", "/account/sessions/", "/admin/login/"])
def test_pages_send_a_content_security_policy_and_have_no_inline_script(client, path):
    import re

    response = client.get(path)
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    html = response.content.decode()
    for tag in re.findall(r"<script\b[^>]*>", html, re.I):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html, re.I)  # no inline event handlers
    assert not re.search(r"<style\b|\sstyle\s*=", html, re.I)


def test_api_responses_carry_no_page_policy_and_the_docs_allow_only_their_inline_styles(client):
    assert "Content-Security-Policy" not in client.get("/healthz")
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and "script-src" not in docs["Content-Security-Policy"]
    assert "default-src 'self'" in docs["Content-Security-Policy"]
    assert "<script>" not in docs.content.decode()  # the split view serves its script from ?script


def test_root_goes_to_chat(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/chat/"


def test_login_next_only_accepts_local_paths(client):
    assert b'"next": "/account/sessions/"' in client.get("/login/?next=/account/sessions/").content
    assert b'"next": "/chat/"' in client.get("/login/?next=https://evil.example/").content
    assert b'"next": "/chat/"' in client.get("/login/?next=//evil.example/").content


def test_javascript_catalog_is_served(client):
    response = client.get("/jsi18n/")
    assert response.status_code == 200
    assert b"gettext" in response.content and b"interpolate" in response.content


def test_session_start_sets_a_strict_httponly_cookie_and_rotates(browser_client, user_factory, login):
    result = login(user_factory())
    response = post_web(browser_client, "/web/session/", {"refresh": result.refresh})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access"} and access_works(browser_client, body["access"])
    cookie = response.cookies[REFRESH_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/web/"
    assert cookie.value != result.refresh  # rotated on the way in
    # The refresh token the page's script saw is dead now.
    assert browser_client.post("/api/token/refresh/", {"refresh": result.refresh}).status_code == 401


def test_session_start_needs_csrf_token(user_factory, login):
    client = Client(enforce_csrf_checks=True)
    client.get("/login/")
    result = login(user_factory())
    response = client.post("/web/session/", data=json.dumps({"refresh": result.refresh}), content_type="application/json")
    assert response.status_code == 403
    assert REFRESH_COOKIE not in response.cookies


def test_session_start_refuses_junk(browser_client):
    assert post_web(browser_client, "/web/session/", {}).status_code == 400
    response = post_web(browser_client, "/web/session/", {"refresh": "not-a-token"})
    assert response.status_code == 401 and "error" in response.json()


def test_refresh_rotates_the_cookie(browser_client, user_factory, login):
    result = login(user_factory())
    post_web(browser_client, "/web/session/", {"refresh": result.refresh})
    first = browser_client.cookies[REFRESH_COOKIE].value
    response = post_web(browser_client, "/web/refresh/")
    assert response.status_code == 200 and access_works(browser_client, response.json()["access"])
    second = browser_client.cookies[REFRESH_COOKIE].value
    assert second and second != first


def test_refresh_without_cookie_is_401(browser_client):
    response = post_web(browser_client, "/web/refresh/")
    assert response.status_code == 401


def test_refresh_needs_csrf_token(browser_client, user_factory, login):
    result = login(user_factory())
    post_web(browser_client, "/web/session/", {"refresh": result.refresh})
    response = browser_client.post("/web/refresh/")
    assert response.status_code == 403


def test_refresh_after_revoke_is_refused_and_clears_cookie(browser_client, user_factory, login):
    from accounts.services import session_revoke

    result = login(user_factory())
    post_web(browser_client, "/web/session/", {"refresh": result.refresh})
    session_revoke(session=result.session, reason="test")
    response = post_web(browser_client, "/web/refresh/")
    assert response.status_code == 401
    assert response.cookies[REFRESH_COOKIE].value == ""


def test_logout_ends_the_session_and_clears_cookie(browser_client, user_factory, login):
    result = login(user_factory())
    access = post_web(browser_client, "/web/session/", {"refresh": result.refresh}).json()["access"]
    response = post_web(browser_client, "/web/logout/")
    assert response.status_code == 204
    assert response.cookies[REFRESH_COOKIE].value == ""
    result.session.refresh_from_db()
    assert result.session.revoked_at is not None
    assert not access_works(browser_client, access)
    assert post_web(browser_client, "/web/refresh/").status_code == 401


def test_web_views_are_post_only(client):
    assert client.get("/web/refresh/").status_code == 405


def test_qr_code_is_drawn_on_the_server(client):
    response = client.get("/login/qr.svg", {"data": "https://api.auth4app.com/qr/abc"})
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg") and b"<path" in response.content
    assert client.get("/login/qr.svg").status_code == 400
    assert client.get("/login/qr.svg", {"data": "x" * 600}).status_code == 400
