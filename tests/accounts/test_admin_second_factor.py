"""The admin's second factor (issue 15): a password alone never reaches an admin page; password and a
valid TOTP code do; `manage.py admin_totp` enrols a staff user's authenticator app."""

from __future__ import annotations

import io
import re
from base64 import b32decode
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import ADMIN_NUMBER, ADMIN_PASSWORD, admin_login, totp_now

pytestmark = pytest.mark.django_db

ADMIN_PAGES = ["/admin/", "/admin/accounts/loginsession/", "/admin/accounts/user/", "/admin/sms/message/"]


def assert_kept_out(client: Client) -> None:
    for path in ADMIN_PAGES:
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), path


def test_a_password_alone_never_reaches_an_admin_page(admin_user):
    TOTPDevice.objects.create(user=admin_user, name="phone", confirmed=True)
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": ADMIN_NUMBER, "password": ADMIN_PASSWORD})
    assert response.status_code == 200  # the form again, with an error
    assert "OTP" in response.content.decode() or "token" in response.content.decode().lower()
    assert_kept_out(client)
    # Nor does a session logged in by password some other way (e.g. a future login view).
    sneaky = Client()
    assert sneaky.login(mobile_number=ADMIN_NUMBER, password=ADMIN_PASSWORD)
    assert_kept_out(sneaky)


def test_a_replayed_or_wrong_code_is_refused(admin_user):
    device = TOTPDevice.objects.create(user=admin_user, name="phone", confirmed=True)
    code = totp_now(device)
    first = Client()
    response = first.post("/admin/login/?next=/admin/", {"username": ADMIN_NUMBER, "password": ADMIN_PASSWORD, "otp_token": code})
    assert response.status_code == 302
    replay = Client()  # a code seen over someone's shoulder, used again
    replay.post("/admin/login/", {"username": ADMIN_NUMBER, "password": ADMIN_PASSWORD, "otp_token": code})
    assert_kept_out(replay)
    wrong = Client()
    wrong.post("/admin/login/", {"username": ADMIN_NUMBER, "password": ADMIN_PASSWORD,
                                 "otp_token": f"{(int(code) + 1) % 10**6:06d}"})
    assert_kept_out(wrong)


def test_password_and_a_valid_code_reach_the_admin(admin_user):
    client = Client()
    admin_login(client, admin_user, ADMIN_PASSWORD)
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 200, path


def test_the_login_form_asks_for_number_password_and_code_on_one_page(client):
    html = client.get("/admin/login/").content.decode()
    for name in ("username", "password", "otp_token"):
        assert f'name="{name}"' in html


def test_a_staff_user_without_a_device_cannot_get_in(admin_user):
    client = Client()
    client.post("/admin/login/", {"username": ADMIN_NUMBER, "password": ADMIN_PASSWORD, "otp_token": "123456"})
    assert_kept_out(client)


def _enrol(*args) -> str:
    out = io.StringIO()
    call_command("admin_totp", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_admin_totp_enrols_a_device_whose_codes_log_in(admin_user):
    output = _enrol("+98 900 000 0001")  # any format
    line = next(line for line in output.splitlines() if line.startswith("otpauth://"))
    assert re.fullmatch(r"otpauth://totp/[^?]+\?secret=[A-Z2-7]+&issuer=hotline.*", line), line
    url = urlsplit(line)
    assert unquote(url.path) == f"/hotline:{ADMIN_NUMBER}"
    query = parse_qs(url.query)
    assert query["issuer"] == ["hotline"] and query["digits"] == ["6"] and query["period"] == ["30"]
    assert len(output.splitlines()) > 10  # the terminal QR code after the line
    secret = query["secret"][0]
    key = b32decode(secret + "=" * (-len(secret) % 8))
    device = TOTPDevice.objects.get(user=admin_user)
    assert device.confirmed and device.bin_key == key

    # What an authenticator app with that secret shows logs in.
    code = f"{totp(key, step=30, t0=0, digits=6):06d}"
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": ADMIN_NUMBER, "password": ADMIN_PASSWORD, "otp_token": code})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_admin_totp_reset_replaces_and_refuses_without_it(admin_user, user_factory):
    _enrol(ADMIN_NUMBER)
    old = TOTPDevice.objects.get(user=admin_user)
    with pytest.raises(CommandError, match="--reset"):
        _enrol(ADMIN_NUMBER)
    _enrol(ADMIN_NUMBER, "--reset")
    new = TOTPDevice.objects.get(user=admin_user)
    assert new.pk != old.pk and new.key != old.key
    user_factory("+989121111111")
    with pytest.raises(CommandError, match="not a staff user"):
        _enrol("+989121111111")
    with pytest.raises(CommandError, match="no user"):
        _enrol("+989129999999")


def test_admin_pages_never_show_a_token(admin_client, user_factory, login):
    result = login(user_factory())
    pages = [
        reverse("admin:accounts_loginsession_change", args=[result.session.pk]),
        reverse("admin:accounts_user_change", args=[result.user.pk]),
        reverse("admin:accounts_loginsession_changelist"),
        "/admin/",
    ]
    for path in pages:
        html = admin_client.get(path).content.decode()
        assert result.refresh not in html and result.access not in html
        assert result.refresh.rsplit(".", 1)[1] not in html
    # simplejwt's outstanding/blacklisted-token pages are gone.
    assert admin_client.get("/admin/token_blacklist/outstandingtoken/").status_code == 404
    assert admin_client.get("/admin/token_blacklist/blacklistedtoken/").status_code == 404
