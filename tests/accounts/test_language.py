"""A person's language: chosen through PATCH /api/me/ (the page header's switcher calls it), kept on the
user, and used for texts sent to them (docs/i18n.md)."""

from __future__ import annotations

import pytest

from accounts.profiles import ProfileError, profile_update
from accounts.selectors import language_for_user, sms_language_for_number

pytestmark = pytest.mark.django_db


def test_patch_me_sets_and_clears_the_language(auth_client):
    client, result = auth_client()
    assert client.get("/api/me/").json()["language"] == ""

    changed = client.patch("/api/me/", {"language": "fa"}, format="json")
    assert changed.status_code == 200 and changed.json()["language"] == "fa"
    result.user.refresh_from_db()
    assert result.user.language == "fa"
    assert client.get("/api/me/").json()["language"] == "fa"

    # The number cannot be changed here; a PATCH without `language` leaves it as it was.
    untouched = client.patch("/api/me/", {"mobile_number": "+989120000000", "display_name": "Sara"}, format="json")
    assert untouched.status_code == 200 and untouched.json()["language"] == "fa"
    assert untouched.json()["mobile_number"] == str(result.user.mobile_number)

    cleared = client.patch("/api/me/", {"language": ""}, format="json")
    assert cleared.status_code == 200 and cleared.json()["language"] == ""


@pytest.mark.parametrize("bad", ["de", "zh", "FA", 7, None])
def test_patch_me_refuses_a_language_we_do_not_have(auth_client, bad):
    client, result = auth_client()
    response = client.patch("/api/me/", {"language": bad, "display_name": "Sara"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "zh-hans" in response.json()["detail"]
    # Nothing of a refused change is kept, the other fields neither.
    result.user.refresh_from_db()
    assert (result.user.language, result.user.display_name) == ("", "")


def test_patch_me_needs_a_login(api_client):
    assert api_client.patch("/api/me/", {"language": "fa"}, format="json").status_code == 401


def test_profile_update_refuses_unknown_language_codes(user_factory):
    user = user_factory()
    with pytest.raises(ProfileError):
        profile_update(user=user, language="de")
    profile_update(user=user, language="zh-hans")
    user.refresh_from_db()
    assert user.language == "zh-hans"


@pytest.mark.parametrize(
    "number, chosen, expected",
    [
        ("+989121234567", "", "fa"),
        ("+8613800138000", "", "zh-hans"),
        ("+79161234567", "", "ru"),
        ("+77011234567", "", "en"),  # +7 is Kazakhstan too: not Russia, so no country language
        ("+12015550123", "", "en"),
        ("+989121234567", "zh-hans", "zh-hans"),
        ("+12015550123", "ru", "ru"),
    ],
)
def test_language_for_user(user_factory, number, chosen, expected):
    assert language_for_user(user_factory(number, language=chosen)) == expected


def test_sms_language_for_a_number_without_an_account_uses_the_country_then_the_fallback():
    assert sms_language_for_number(mobile_number="+989121234567", fallback="ru") == "fa"
    assert sms_language_for_number(mobile_number="+12015550123", fallback="ru") == "ru"
    assert sms_language_for_number(mobile_number="+12015550123", fallback="de") == "en"
    assert sms_language_for_number(mobile_number="+12015550123") == "en"


def test_region_languages_are_settings(user_factory, settings):
    settings.SMS_LANGUAGE_BY_REGION = {**settings.SMS_LANGUAGE_BY_REGION, "KZ": "ru"}
    assert language_for_user(user_factory("+77011234567")) == "ru"


# --- emails ---------------------------------------------------------------------------------

SUBJECTS = {
    "en": "Confirm your email for hotline",
    "fa": "ایمیل خود را برای hotline تأیید کنید",
    "zh-hans": "请确认你在 hotline 使用的电子邮箱",
    "ru": "Подтвердите адрес электронной почты для hotline",
}
OPENING = {
    "en": "Open this link",
    "fa": "برای تأیید نشانی ایمیل خود این پیوند را باز کنید",
    "zh-hans": "请打开以下链接确认你的电子邮箱地址",
    "ru": "Откройте эту ссылку",
}


@pytest.mark.parametrize(
    "number, chosen, page_language, expected",
    [
        ("+989121234567", "", "en", "fa"),  # the number's country, though the page was in English
        ("+12015550123", "zh-hans", "ru", "zh-hans"),  # the person's choice first
        ("+12015550123", "", "ru", "ru"),  # no choice, no country of ours: the page's language
        ("+12015550123", "", "de", "en"),  # ...when it is one of ours
    ],
)
def test_the_verification_email_is_written_in_the_users_language(
    auth_client, user_factory, settings, django_capture_on_commit_callbacks, number, chosen, page_language, expected
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from django.core import mail

    client, _result = auth_client(user_factory(number, language=chosen))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.patch("/api/me/", {"email": "sara@example.com"}, format="json", HTTP_ACCEPT_LANGUAGE=page_language)
    assert response.status_code == 200, response.content
    [message] = mail.outbox
    assert message.subject == SUBJECTS[expected]
    assert message.body.startswith(OPENING[expected])
    assert "/account/email/verify/?token=" in message.body  # the link itself is the same in every language
    # Whatever the email's language, the reply speaks the request's (nothing leaked out of the override).
    assert response["Content-Language"] == (page_language if page_language != "de" else "en")
