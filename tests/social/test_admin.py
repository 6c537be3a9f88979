"""Identities in Django admin: inline on the user, searchable by provider uid, unbound by an action."""

import pytest
from django.urls import reverse

from social.models import SocialIdentity

# `admin_client` (tests/conftest.py) logs in through the admin's form with password and TOTP code.
pytestmark = pytest.mark.django_db


def test_identities_inline_on_the_user_page(admin_client, user_factory):
    user = user_factory()
    SocialIdentity.objects.create(provider="weibo", uid="1404376560", user=user, nickname="zaku")
    page = admin_client.get(reverse("admin:accounts_user_change", args=[user.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "social identities" in text.lower() and "zaku" in text and "1404376560" in text


def test_search_by_provider_uid(admin_client, user_factory):
    SocialIdentity.objects.create(provider="weibo", uid="1404376560", user=user_factory(), nickname="zaku")
    SocialIdentity.objects.create(provider="wechat_mp", uid="oXyz", unionid="uAbc", user=user_factory(), nickname="wei")
    changelist = reverse("admin:social_socialidentity_changelist")

    def found(query: str) -> list[str]:
        return [identity.nickname for identity in admin_client.get(changelist, {"q": query}).context["cl"].result_list]

    assert found("1404376560") == ["zaku"]
    assert found("oXyz") == ["wei"]
    assert found("uAbc") == ["wei"]
    assert found("140437") == []  # uids match exactly


def test_unbind_action(admin_client, user_factory):
    picked = SocialIdentity.objects.create(provider="weibo", uid="1", user=user_factory())
    spared = SocialIdentity.objects.create(provider="weibo", uid="2", user=user_factory())
    changelist = reverse("admin:social_socialidentity_changelist")
    assert "delete_selected" not in admin_client.get(changelist).content.decode()

    response = admin_client.post(changelist, {"action": "unbind_selected", "_selected_action": [picked.pk]}, follow=True)

    assert "1 identity unbound." in [str(m) for m in response.context["messages"]]
    assert list(SocialIdentity.objects.all()) == [spared]
