"""`GET /api/message/<id>/` shows only messages the caller queued, never a one-time code SMS (issue 15),
and a path id past the database's range is 404 on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from sms import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def sender(auth_client, user_factory):
    def make(**extra):
        user = user_factory(**extra)
        user.user_permissions.add(Permission.objects.get(codename="send_message", content_type__app_label="sms"))
        client, _ = auth_client(user)
        return client, user

    return make


def test_only_the_callers_own_messages_are_readable(sender, task_queue):
    alice, alice_user = sender()
    bob, _ = sender(is_superuser=True)  # not even a superuser reads someone else's through the API
    own = services.message_send(to="+989121234567", text="hi", requested_by=alice_user)
    code_sms = services.otp_send(to="+989121234567", code="123456", ttl_seconds=300)

    assert alice.get(f"/api/message/{own.pk}/").status_code == 200
    assert bob.get(f"/api/message/{own.pk}/").status_code == 404
    for client in (alice, bob):
        response = client.get(f"/api/message/{code_sms.pk}/")
        assert response.status_code == 404 and response.json() == {"detail": "No such message.", "code": "not_found"}


@pytest.mark.parametrize("message_id", ["99999999999999999999", "9223372036854775808", "0"])
def test_ids_past_the_databases_range_are_404(sender, message_id):
    client, _ = sender()
    assert client.get(f"/api/message/{message_id}/").status_code == 404
