"""Sessions in Django admin, driven through the admin's own views with a superuser logged in with
password and TOTP code (tests/conftest.py's admin_client)."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import LoginSession

pytestmark = pytest.mark.django_db(transaction=True)


def me(access: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/me/").status_code


def test_revoke_selected_sessions_action(admin_client, admin_user, user_factory, login):
    user = user_factory()
    picked, spared = login(user), login(user)
    assert me(picked.access) == 200

    response = admin_client.post(
        reverse("admin:accounts_loginsession_changelist"),
        {"action": "revoke_selected", "_selected_action": [picked.session.id]},
        follow=True,
    )

    assert response.status_code == 200
    assert "1 session revoked." in [str(m) for m in response.context["messages"]]
    session = LoginSession.objects.get(pk=picked.session.pk)
    assert session.revoked_at is not None
    assert session.revoke_reason == "admin" and session.revoked_by_id == admin_user.pk
    assert me(picked.access) == 401
    assert me(spared.access) == 200


def test_revoke_all_sessions_user_action(admin_client, user_factory, login):
    target, other = user_factory(), user_factory()
    sessions = [login(target), login(target)]
    untouched = login(other)

    response = admin_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "revoke_all_sessions", "_selected_action": [target.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "2 sessions revoked." in [str(m) for m in response.context["messages"]]
    assert all(me(s.access) == 401 for s in sessions)
    assert me(untouched.access) == 200


def test_deactivating_through_the_user_change_form_ends_sessions(admin_client, user_factory, login):
    user = user_factory()
    result = login(user)
    url = reverse("admin:accounts_user_change", args=[user.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert result.session.id[:8] in page.content.decode()  # the sessions inline

    # The form as the page rendered it, with "active" unticked (an unticked checkbox is not sent).
    data = {
        "mobile_number": str(user.mobile_number),
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
    }
    for inline in page.context["inline_admin_formsets"]:  # every inline on the page (sessions, identities)
        management = inline.formset.management_form
        data.update({f"{management.prefix}-{key}": value for key, value in management.initial.items()})
    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    user.refresh_from_db()
    assert not user.is_active
    assert me(result.access) == 401
    assert LoginSession.objects.get(pk=result.session.pk).revoke_reason == "user_deactivated"


def test_session_changelist_filters_and_search(admin_client, user_factory, login):
    alice, bob = user_factory("+989121111111"), user_factory("+989122222222")
    alive = login(alice, method="sms", ip="198.51.100.4")
    ended = login(bob, method="auth4app", ip="203.0.113.9")
    admin_client.post(
        reverse("admin:accounts_loginsession_changelist"),
        {"action": "revoke_selected", "_selected_action": [ended.session.id]},
    )
    url = reverse("admin:accounts_loginsession_changelist")

    def listed(**params):
        response = admin_client.get(url, params)
        assert response.status_code == 200
        return {s.pk for s in response.context["cl"].result_list}

    assert listed() == {alive.session.pk, ended.session.pk}
    assert listed(active="yes") == {alive.session.pk}
    assert listed(active="no") == {ended.session.pk}
    assert listed(login_method__exact="auth4app") == {ended.session.pk}
    assert listed(q="1111111") == {alive.session.pk}
    assert listed(q="203.0.113") == {ended.session.pk}


def test_session_change_page_is_read_only(admin_client, user_factory, login):
    result = login(user_factory())
    url = reverse("admin:accounts_loginsession_change", args=[result.session.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert not page.context["adminform"].form.fields  # every field is read-only
    # No adding or deleting sessions by hand: revoking is the only way to end one.
    assert admin_client.get(reverse("admin:accounts_loginsession_add")).status_code == 403
    assert admin_client.get(reverse("admin:accounts_loginsession_delete", args=[result.session.pk])).status_code == 403
    admin_client.post(url, {"revoked_at": "2020-01-01 00:00:00"})
    assert LoginSession.objects.get(pk=result.session.pk).revoked_at is None
