"""The admin in the staff member's language: its login page with the second factor (django-otp has no
Persian, Chinese or Russian catalog, so those words are hotline's), and the project's own apps, models,
columns and values."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from chat.models import Membership, Message, Room
from tests.conftest import ADMIN_NUMBER, ADMIN_PASSWORD

pytestmark = pytest.mark.django_db


def texts(html: str) -> str:
    """The page's words: tags, scripts and styles out."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize(
    "language, label",
    [("fa", "کد برنامهٔ احراز هویت:"), ("zh-hans", "身份验证器应用中的验证码："), ("ru", "Код из приложения-аутентификатора:")],
)
def test_the_admin_login_asks_for_the_code_in_the_staff_members_language(language, label):
    html = Client(HTTP_ACCEPT_LANGUAGE=language).get("/admin/login/").content.decode()
    assert label in texts(html)
    assert "OTP" not in texts(html)  # django-otp's English labels are not used
    # The code is typed left to right and offered for autofill, whatever the page's direction.
    token = re.search(r"<input[^>]*name=\"otp_token\"[^>]*>", html).group(0)
    assert 'dir="ltr"' in token and 'autocomplete="one-time-code"' in token


@pytest.mark.parametrize(
    "language, refusal",
    [
        ("en", "That code is wrong or was already used."),
        ("fa", "این کد نادرست است یا پیش‌تر استفاده شده است."),
        ("ru", "Код неверный или уже использован."),
    ],
)
def test_a_wrong_code_is_refused_in_the_staff_members_language(admin_user, language, refusal):
    TOTPDevice.objects.create(user=admin_user, name="phone", confirmed=True)
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    form = {"username": ADMIN_NUMBER, "password": ADMIN_PASSWORD, "otp_token": "000000"}
    response = client.post("/admin/login/?next=/admin/", form)
    assert response.status_code == 200
    assert refusal in texts(response.content.decode())


ADMIN_WORDS = {
    # app names, model names (plural, as the index lists them)
    "fa": ["حساب‌ها و نشست‌ها", "گفت‌وگو", "کدهای یک‌بار مصرف ورود", "پیامک", "ورود با شبکهٔ اجتماعی",
           "پیام‌های گفت‌وگو", "دعوت‌ها", "مسدودسازی‌ها"],
    "zh-hans": ["账号与会话", "聊天", "一次性登录验证码", "短信", "社交账号登录", "聊天消息", "邀请", "屏蔽"],
}
ENGLISH_ONLY = ["Accounts and sessions", "Chat messages", "One-time login codes", "Social login", "Invitations"]


@pytest.mark.parametrize("language", ADMIN_WORDS)
def test_the_admin_index_names_the_projects_apps_and_models_in_the_language(admin_client, language):
    page = texts(admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE=language).content.decode())
    for word in ADMIN_WORDS[language]:
        assert word in page, word
    for english in ENGLISH_ONLY:
        assert english not in page, english


def test_a_chat_rooms_columns_and_values_are_translated(admin_client, user_factory):
    owner, member = user_factory(), user_factory()
    room = Room.objects.create(kind=Room.Kind.DIRECT, direct_low=owner, direct_high=member)
    Membership.objects.create(room=room, user=owner)
    page = texts(admin_client.get("/admin/chat/room/", HTTP_ACCEPT_LANGUAGE="fa").content.decode())
    for column in ("نوع", "عنوان", "مالک", "زمان ایجاد"):
        assert column in page, column
    assert "دونفره" in page  # the kind's value
    Message.objects.create(room=room, sender=owner, text="hi")
    messages = texts(admin_client.get("/admin/chat/message/", HTTP_ACCEPT_LANGUAGE="fa").content.decode())
    assert f"گفت‌وگوی دونفره شمارهٔ {room.pk}" in messages  # the room's name (it has no title)
