"""Reads of the sms app."""

from __future__ import annotations

from core import clock

from .models import Message


def message_get_sent_by(*, message_id: int, user) -> Message | None:
    """A message `user` queued through the API; None for anyone else's and for every one-time code
    SMS (whose recipient and time tell who logged in when), whoever asks."""
    return (
        Message.objects.filter(pk=message_id, requested_by=user)
        .exclude(purpose=Message.Purpose.OTP)
        .first()
    )


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


# Pending messages counted per status at most this far: a scrape's cost stays bounded however far
# the outbox backs up (the gauge then reads this number).
BACKLOG_COUNT_CAP = 100_000


def outbox_backlog() -> dict[str, tuple[int, float | None]]:
    """{status: (messages, age in seconds of the oldest)} for `queued` and `sending` messages.

    Two index-only reads per status (the `(status, created_at)` index): the count stops at
    BACKLOG_COUNT_CAP, the oldest is the index's first entry.
    """
    now = clock.now()
    backlog = {}
    for status in (Message.Status.QUEUED, Message.Status.SENDING):
        pending = Message.objects.filter(status=status)
        count = pending.values("pk")[:BACKLOG_COUNT_CAP].count()
        oldest = pending.order_by("created_at").values_list("created_at", flat=True).first() if count else None
        backlog[str(status)] = (count, (now - oldest).total_seconds() if oldest else None)
    return backlog
