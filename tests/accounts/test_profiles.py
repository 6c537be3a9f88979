"""Profiles (issue 16): display name, avatar through Pillow and Django's storage, email with a
single-use 24 h verification link through Django's email backend, and `user.updated` frames."""

from __future__ import annotations

import io
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_and_mail(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def picture(fmt: str = "PNG", size=(600, 400), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else (200, 30, 30, 128)).save(out, fmt)
    return out.getvalue()


def upload(client, data: bytes, name="me.png", content_type="image/png"):
    return client.put("/api/me/avatar/", {"avatar": SimpleUploadedFile(name, data, content_type=content_type)},
                      format="multipart")


def test_display_name_is_set_changed_and_checked(auth_client):
    client, me = auth_client()
    assert client.get("/api/me/").json()["display_name"] == ""
    body = client.patch("/api/me/", {"display_name": "  Ada\u202e Lovelace \n"}, format="json").json()
    assert body["display_name"] == "Ada Lovelace"  # trimmed; control and bidi characters dropped
    for bad in ("", "   ", "x" * 65, 5, None):
        response = client.patch("/api/me/", {"display_name": bad}, format="json")
        assert response.status_code == 400 and response.json()["code"] == "invalid", bad
    assert client.patch("/api/me/", {"display_name": "é" * 64}, format="json").status_code == 200
    assert User.objects.get(pk=me.user.pk).display_name == "é" * 64
    assert client.patch("/api/me/", [1], format="json").status_code == 400


@pytest.mark.parametrize("fmt,mode", [("PNG", "RGB"), ("JPEG", "RGB"), ("WEBP", "RGBA"), ("PNG", "RGBA")])
def test_an_avatar_is_stored_re_encoded_as_a_256_px_webp_and_served_safely(auth_client, client, fmt, mode):
    api, me = auth_client()
    response = upload(api, picture(fmt, mode=mode), name=f"x.{fmt.lower()}")
    assert response.status_code == 200, response.content
    url = response.json()["avatar_url"]
    assert url.startswith("/media/avatars/") and url.endswith(".webp")
    served = client.get(url)
    assert served.status_code == 200
    assert served["Content-Type"] == "image/webp" and served["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in served["Content-Security-Policy"]
    with Image.open(io.BytesIO(b"".join(served.streaming_content))) as image:
        assert (image.format, image.size) == ("WEBP", (256, 256))


def test_a_new_avatar_replaces_the_old_file_and_delete_removes_it(auth_client, django_capture_on_commit_callbacks):
    api, me = auth_client()
    with django_capture_on_commit_callbacks(execute=True):
        first = upload(api, picture()).json()["avatar_url"]
    first_name = "avatars/" + first.rsplit("/", 1)[1]
    assert default_storage.exists(first_name)
    with django_capture_on_commit_callbacks(execute=True):
        second = upload(api, picture("JPEG")).json()["avatar_url"]
    assert second != first and not default_storage.exists(first_name)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete("/api/me/avatar/").status_code == 204
    assert api.get("/api/me/").json()["avatar_url"] is None
    assert not default_storage.exists("avatars/" + second.rsplit("/", 1)[1])


def test_what_is_not_an_allowed_picture_is_refused(auth_client, settings, client):
    api, _ = auth_client()
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    cases = [
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "invalid_image"),
        (b"GIF89a" + b"\0" * 100, "invalid_image"),
        (gif.getvalue(), "invalid_image"),
        (picture()[:60], "invalid_image"),  # truncated
    ]
    for data, code in cases:
        response = upload(api, data)
        assert response.status_code == 400 and response.json()["code"] == code, data[:20]
    settings.AVATAR_MAX_BYTES = 1000
    response = upload(api, picture("PNG", size=(400, 400)) + b"\0" * 1000)
    assert response.status_code == 400 and response.json()["code"] == "too_large"
    assert api.put("/api/me/avatar/", {}, format="multipart").status_code == 400
    assert api.get("/api/me/").json()["avatar_url"] is None
    # Only our own file names are served; nothing outside the avatars folder.
    for path in ("/media/avatars/..%2Fsecret.webp", "/media/avatars/1-0123456789abcdef.png", "/media/avatars/x"):
        assert client.get(path).status_code == 404


def test_a_decompression_bomb_is_refused(auth_client):
    api, _ = auth_client()
    out = io.BytesIO()
    Image.new("1", (8000, 8000)).save(out, "PNG")  # tiny file, 64 megapixels
    assert len(out.getvalue()) < 2 * 1024 * 1024
    response = upload(api, out.getvalue())
    assert response.status_code == 400 and response.json()["code"] == "invalid_image"


def verification_link() -> str:
    [message] = mail.outbox[-1:]
    return next(word for word in message.body.split() if "/account/email/verify/" in word)


def test_email_is_verified_by_opening_its_link_once(auth_client, client, django_capture_on_commit_callbacks):
    api, me = auth_client()
    with django_capture_on_commit_callbacks(execute=True):
        body = api.patch("/api/me/", {"email": "Ada@Example.COM"}, format="json").json()
    assert (body["email"], body["email_verified"]) == ("Ada@example.com", False)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["Ada@example.com"]
    link = verification_link()
    token = parse_qs(urlparse(link).query)["token"][0]
    assert not User.objects.filter(email_verifications__token_hash=token).exists()  # only a hash is stored

    opened = client.get(link)
    assert opened.status_code == 200 and b'data-verified="true"' in opened.content
    assert api.get("/api/me/").json()["email_verified"] is True
    again = client.get(link)  # single use
    assert again.status_code == 400 and b'data-verified="false"' in again.content

    # A new email is unverified again and the old link stays dead.
    with django_capture_on_commit_callbacks(execute=True):
        api.patch("/api/me/", {"email": "ada@new.example"}, format="json")
    assert api.get("/api/me/").json()["email_verified"] is False
    assert client.get(link).status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        assert api.patch("/api/me/", {"email": "not an email"}, format="json").status_code == 400
        assert api.patch("/api/me/", {"email": None}, format="json").json()["email"] is None


def test_an_email_link_expires_after_24_hours_and_only_the_newest_works(auth_client, client, time_machine,
                                                                       django_capture_on_commit_callbacks):
    from django.utils import timezone

    time_machine.move_to(timezone.now(), tick=False)
    api, me = auth_client()
    with django_capture_on_commit_callbacks(execute=True):
        api.patch("/api/me/", {"email": "a@example.com"}, format="json")
    first = verification_link()
    with django_capture_on_commit_callbacks(execute=True):
        api.patch("/api/me/", {"email": "a@example.com"}, format="json")  # send the link again
    second = verification_link()
    assert first != second
    assert client.get(first).status_code == 400  # superseded
    time_machine.shift(timedelta(hours=24, seconds=1))
    assert client.get(second).status_code == 400  # expired
    api, _ = auth_client(me.user)  # (the access token expired too)
    with django_capture_on_commit_callbacks(execute=True):
        api.patch("/api/me/", {"email": "a@example.com"}, format="json")
    time_machine.shift(timedelta(hours=23))
    assert client.get(verification_link()).status_code == 200
    assert client.get("/account/email/verify/?token=made-up-token-123").status_code == 400
