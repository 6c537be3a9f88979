from __future__ import annotations

import logging

import pytest

from sms import services
from sms.models import Message

pytestmark = pytest.mark.django_db


def test_otp_send_console_logs_code_once_and_masks_outbox(sms_settings, task_queue, caplog):
    caplog.set_level(logging.DEBUG)
    message = services.otp_send(to="+989121234567", code="482913", ttl_seconds=300)

    assert message.purpose == "otp" and message.status == "queued"
    row = Message.objects.get(pk=message.pk)
    assert "482913" not in row.text and "******" in row.text
    assert "482913" not in row.secret and "482913" not in str(row.params)

    assert task_queue.run_all() == ["sent"]
    row.refresh_from_db()
    assert row.status == "sent" and row.provider == "console" and row.provider_message_id.startswith("console-")
    assert row.secret == ""  # wiped once final

    with_code = [r for r in caplog.records if "482913" in r.getMessage()]
    assert len(with_code) == 1
    record = with_code[0]
    assert record.name == "sms.console"
    assert "+989121234567" in record.getMessage()


def test_message_send_generic(sms_settings, task_queue, user_factory):
    user = user_factory()
    message = services.message_send(to="+14155550123", text="hello there", requested_by=user)
    assert (message.purpose, message.requested_by_id, message.text) == ("generic", user.pk, "hello there")
    assert task_queue.run_all() == ["sent"]
    assert Message.objects.get(pk=message.pk).status == "sent"


def test_rejects_non_e164(sms_settings, task_queue):
    with pytest.raises(ValueError):
        services.message_send(to="09121234567", text="x")
    assert Message.objects.count() == 0 and task_queue.items == []


def test_task_runs_only_after_commit(sms_settings, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    from core import background

    monkeypatch.setattr(background, "dispatch", lambda task, *args, **kw: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = services.otp_send(to="+989121234567", code="1234", ttl_seconds=120)
        assert sent == []  # nothing leaves before the transaction commits
    assert len(callbacks) == 1 and sent == [(message.pk,)]
