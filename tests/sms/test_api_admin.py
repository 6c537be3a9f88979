from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from sms.models import Message

pytestmark = pytest.mark.django_db

URL = "/api/message/send/"


@pytest.fixture
def sender_client(auth_client, user_factory):
    user = user_factory()
    user.user_permissions.add(Permission.objects.get(codename="send_message", content_type__app_label="sms"))
    client, _ = auth_client(user)
    return client, user


def test_unauthenticated_is_401(api_client):
    assert api_client.post(URL, {"mobile_number": "+989121234567", "message_text": "hi"}, format="json").status_code == 401
    assert api_client.get("/api/message/1/").status_code == 401


def test_without_permission_is_403(auth_client, task_queue):
    client, _ = auth_client()
    response = client.post(URL, {"mobile_number": "+989121234567", "message_text": "hi"}, format="json")
    assert response.status_code == 403
    assert Message.objects.count() == 0
    assert client.get("/api/message/1/").status_code == 403


def test_send_queues_and_status_reports(sender_client, task_queue, sms_settings):
    client, user = sender_client
    response = client.post(URL, {"mobile_number": "+98 912 123 4567", "message_text": "  hello  "}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["status_url"].endswith(f"/api/message/{body['id']}/")
    assert response["Location"] == body["status_url"]
    row = Message.objects.get(pk=body["id"])
    assert (row.to, row.text, row.requested_by_id, row.purpose) == ("+989121234567", "hello", user.pk, "generic")

    assert client.get(f"/api/message/{body['id']}/").json()["status"] == "queued"
    task_queue.run_all()
    status = client.get(f"/api/message/{body['id']}/").json()
    assert (status["status"], status["provider"], status["mobile_number"]) == ("sent", "console", "+989121234567")
    assert "text" not in status
    assert client.get("/api/message/999999/").status_code == 404


def test_template_id_is_kept(sender_client, task_queue):
    client, _ = sender_client
    response = client.post(URL, {"mobile_number": "+989121234567", "message_text": "Ali", "template_id": "42"},
                           format="json")
    assert response.status_code == 202
    assert Message.objects.get(pk=response.json()["id"]).template_id == "42"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"mobile_number": "+989121234567"},
        {"mobile_number": "not a number", "message_text": "hi"},
        {"mobile_number": "+982112345678", "message_text": "hi"},  # a landline
        {"mobile_number": "+989121234567", "message_text": ""},
        {"mobile_number": "+989121234567", "message_text": "x" * 901},
        {"mobile_number": ["+989121234567"], "message_text": "hi"},
    ],
)
def test_bad_input_is_400(sender_client, task_queue, payload):
    client, _ = sender_client
    response = client.post(URL, payload, format="json")
    assert response.status_code == 400, response.content
    assert Message.objects.count() == 0


def test_admin_lists_filters_searches_and_retries(admin_client, task_queue, sms_settings):
    from sms import services

    sms_settings.SMS_PROVIDER = "nosuch"
    message = services.message_send(to="+989121234567", text="hi")
    services.message_send(to="+14155550123", text="other")
    task_queue.run_all()
    assert Message.objects.get(pk=message.pk).status == "failed"

    page = admin_client.get("/admin/sms/message/?status__exact=failed&purpose__exact=generic&q=98912")
    assert page.status_code == 200
    assert page.context["cl"].result_count == 1

    sms_settings.SMS_PROVIDER = "console"
    response = admin_client.post(
        "/admin/sms/message/", {"action": "retry_messages", "_selected_action": [message.pk]}, follow=True
    )
    assert response.status_code == 200
    assert task_queue.run_all() == ["sent"]
    assert Message.objects.get(pk=message.pk).status == "sent"


def test_outbox_command_purges_old_rows(task_queue, sms_settings, time_machine):
    from datetime import datetime, timezone
    from io import StringIO

    from django.core.management import call_command

    from sms import services

    time_machine.move_to(datetime(2026, 1, 1, tzinfo=timezone.utc), tick=False)
    services.message_send(to="+989121234567", text="old")
    task_queue.run_all()
    time_machine.shift(86400 * 40)
    services.message_send(to="+989121234567", text="new, still queued")
    out = StringIO()
    call_command("sms_outbox", "--purge-days", "30", stdout=out)
    assert "deleted 1 message" in out.getvalue()
    assert list(Message.objects.values_list("text", flat=True)) == ["new, still queued"]
