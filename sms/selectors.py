"""Reads of the sms app."""

from __future__ import annotations

from .models import Message


def message_get(*, message_id: int) -> Message | None:
    return Message.objects.filter(pk=message_id).first()


def message_status_payload(message: Message) -> dict:
    """What the API shows about one message: never the text (it may be a masked code anyway)."""
    return {
        "id": message.pk,
        "mobile_number": message.to,
        "purpose": message.purpose,
        "status": message.status,
        "provider": message.provider or None,
        "provider_message_id": message.provider_message_id or None,
        "attempts": message.attempts,
        "error_code": message.error_code or None,
        "created_at": message.created_at.isoformat(),
        "sent_at": message.sent_at.isoformat() if message.sent_at else None,
    }
