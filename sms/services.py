"""Writes of the sms app: queue SMS into the outbox and drive each message's delivery.

Delivery state machine of one `Message` (run by sms.tasks.deliver_message, in the worker):

    queued --claim (conditional UPDATE)--> sending --provider says sent--------> sent
                                                    --retryable, tries left----> queued (backoff)
                                                    --retryable, none left /
                                                      permanent, next provider-> queued (next provider)
                                                    --no provider left--------> failed

Only the task that wins the conditional UPDATE `queued -> sending` calls the provider, so a task
delivered twice (broker redelivery, admin retry racing a worker) never sends twice. A row stuck in
`sending` past SMS_SENDING_LEASE_SECONDS lost its worker during the provider call; it is failed
with `interrupted`, not resent, because the provider may already have delivered it.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from core import background, clock
from core.phone import mask_phone

from . import crypto
from .models import Message
from .providers import OutgoingSMS, SendResult, UnknownProvider, get_provider, provider_chain
from .providers.base import Outcome

logger = logging.getLogger(__name__)

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
CODE_MASK_CHAR = "*"


def _check_number(to: str) -> None:
    if not isinstance(to, str) or not _E164.match(to):
        raise ValueError(f"not an E.164 number: {to!r}")


def _queue(message: Message) -> None:
    from .tasks import deliver_message

    background.enqueue(deliver_message, message.pk)


@transaction.atomic
def message_send(*, to: str, text: str, template_id: str | None = None, purpose: str = "generic",
                 requested_by=None, params: list[str] | None = None) -> Message:
    """Write an outbox row for one SMS and queue its delivery after commit. `to` is E.164."""
    _check_number(to)
    if purpose not in Message.Purpose.values:
        raise ValueError(f"unknown purpose {purpose!r}")
    message = Message.objects.create(
        to=to,
        text=text or "",
        template_id=template_id or "",
        params=list(params or []),
        purpose=purpose,
        requested_by=requested_by,
    )
    _queue(message)
    return message


def _minutes(ttl_seconds: int) -> int:
    return max(1, round(ttl_seconds / 60))


def otp_template(language: str) -> str:
    """The code SMS template of `language` (SMS_OTP_TEXTS), English's for a language without one."""
    return settings.SMS_OTP_TEXTS.get(language) or settings.SMS_OTP_TEXTS[settings.LANGUAGE_CODE]


def otp_text(*, code: str, minutes: int, language: str) -> str:
    return otp_template(language).format(code=code, minutes=minutes)


# No savepoint inside a caller's transaction (otp_code_send's): the row and its queued task belong
# to the caller's transaction anyway, and a savepoint costs two statements per code sent.
@transaction.atomic(savepoint=False)
def otp_send(*, to: str, code: str, ttl_seconds: int, language: str = "") -> Message:
    """Queue a one-time code SMS to `to` (E.164) in `language` (a code of settings.LANGUAGES; English
    when empty). Callers pick the language with `accounts.selectors.sms_language_for_number`.

    The outbox keeps the text with the code masked and the code itself encrypted (sms.crypto);
    the provider gets the real code. The message is not sent once `ttl_seconds` have passed.
    """
    _check_number(to)
    masked_code = CODE_MASK_CHAR * len(code)
    minutes = _minutes(ttl_seconds)
    message = Message.objects.create(
        to=to,
        text=otp_text(code=masked_code, minutes=minutes, language=language),
        language=language or settings.LANGUAGE_CODE,
        purpose=Message.Purpose.OTP,
        secret=crypto.encrypt(code),
        params=[masked_code, str(minutes)],
        expires_at=clock.now() + timedelta(seconds=ttl_seconds),
    )
    _queue(message)
    return message


def message_retry(*, message: Message) -> bool:
    """Queue a failed message again from the first provider (admin action). False if it is not failed
    or is a one-time code that can no longer be delivered."""
    now = clock.now()
    if message.purpose == Message.Purpose.OTP and (not message.secret or (message.expires_at and message.expires_at <= now)):
        return False
    with transaction.atomic():
        updated = Message.objects.filter(pk=message.pk, status=Message.Status.FAILED).update(
            status=Message.Status.QUEUED, provider_index=0, provider_attempts=0, next_attempt_at=None,
            claimed_at=None, updated_at=now,
        )
        if updated:
            _queue(message)
    return bool(updated)


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff after the `attempt`-th failed try on one provider (1-based), bounded."""
    return min(settings.SMS_RETRY_MAX_SECONDS, settings.SMS_RETRY_BASE_SECONDS * (2 ** (attempt - 1)))


def message_deliver(*, message_id: int) -> str:
    """Make one delivery attempt of message `message_id`; returns what happened (for logs and tests)."""
    now = clock.now()
    claimed = (
        Message.objects.filter(pk=message_id, status=Message.Status.QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(status=Message.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now)
    )
    if not claimed:
        return _not_claimed(message_id, now)
    message = Message.objects.get(pk=message_id)

    if message.expires_at and now >= message.expires_at:
        return _finish(message, status=Message.Status.FAILED, error_code="expired",
                       last_error="not delivered before the code expired")
    chain = provider_chain()
    if message.provider_index >= len(chain):
        return _finish(message, status=Message.Status.FAILED, error_code="no_provider",
                       last_error="no provider left to try")
    provider_name = chain[message.provider_index]

    code = None
    if message.purpose == Message.Purpose.OTP:
        code = crypto.decrypt(message.secret)
        if code is None:
            return _finish(message, status=Message.Status.FAILED, error_code="secret_unreadable",
                           last_error="the encrypted code cannot be read (SMS_SECRET_KEY changed?)")
        minutes = int(message.params[1])
        text = otp_text(code=code, minutes=minutes, language=message.language)
        params, ttl = (code, str(minutes)), minutes * 60
    else:
        text, params, ttl = message.text, tuple(str(p) for p in message.params), None
    outgoing = OutgoingSMS(to=message.to, text=text, purpose=message.purpose, template_id=message.template_id,
                           params=params, code=code, ttl_seconds=ttl)

    try:
        result = get_provider(provider_name).send(outgoing)
    except UnknownProvider:
        result = SendResult.permanent("unknown_provider", f"no SMS provider called {provider_name!r}")
    except Exception as exc:  # a bug in an adapter must not leave the row in `sending`
        logger.exception("SMS provider %s crashed on message %s", provider_name, message_id)
        result = SendResult.retryable("provider_crashed", f"{type(exc).__name__}")
    return _record(message, provider_name, result, chain)


def _record(message: Message, provider_name: str, result: SendResult, chain: list[str]) -> str:
    now = clock.now()
    message.provider = provider_name
    if result.outcome == Outcome.SENT:
        logger.info("SMS %s to %s sent by %s (%s)", message.pk, mask_phone(message.to), provider_name, result.message_id)
        return _finish(message, status=Message.Status.SENT, provider_message_id=result.message_id[:128], sent_at=now,
                       error_code="")

    error = f"{provider_name}: {result.code}: {result.detail}".strip(": ")
    logger.warning("SMS %s to %s: %s failure from %s: %s %s", message.pk, mask_phone(message.to),
                   result.outcome, provider_name, result.code, result.detail)
    if result.outcome == Outcome.RETRYABLE and message.provider_attempts + 1 < settings.SMS_MAX_ATTEMPTS_PER_PROVIDER:
        tries = message.provider_attempts + 1
        delay = backoff_seconds(tries)
        if message.expires_at and now + timedelta(seconds=delay) >= message.expires_at:
            return _finish(message, status=Message.Status.FAILED, error_code=result.code[:64],
                           last_error=f"{error} (no time left to retry before the code expires)")
        return _requeue(message, provider_attempts=tries, next_attempt_at=now + timedelta(seconds=delay),
                        error_code=result.code, last_error=error, countdown=delay)
    if message.provider_index + 1 < len(chain):
        return _requeue(message, provider_index=message.provider_index + 1, provider_attempts=0,
                        next_attempt_at=None, error_code=result.code, last_error=error, countdown=None)
    return _finish(message, status=Message.Status.FAILED, error_code=result.code[:64], last_error=error)


def _owned(message: Message):
    """The row, only while this attempt still owns it (nobody failed it as interrupted meanwhile)."""
    return Message.objects.filter(pk=message.pk, status=Message.Status.SENDING, claimed_at=message.claimed_at)


def _finish(message: Message, *, status: str, **fields) -> str:
    fields.setdefault("error_code", message.error_code)
    fields["error_code"] = str(fields["error_code"])[:64]
    # The encrypted code is wiped as soon as nothing will send it again.
    _owned(message).update(status=status, provider=message.provider, secret="", updated_at=clock.now(), **fields)
    return status if status == Message.Status.SENT else f"{status}:{fields.get('error_code', '')}"


def _requeue(message: Message, *, countdown: float | None, error_code: str, **fields) -> str:
    updated = _owned(message).update(status=Message.Status.QUEUED, provider=message.provider,
                                     error_code=str(error_code)[:64], updated_at=clock.now(), **fields)
    if updated:
        from .tasks import deliver_message

        background.enqueue(deliver_message, message.pk, countdown=countdown)
    return "retry" if countdown else "failover"


def _not_claimed(message_id: int, now) -> str:
    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        return "missing"
    if message.status == Message.Status.SENDING and message.claimed_at:
        lease_end = message.claimed_at + timedelta(seconds=settings.SMS_SENDING_LEASE_SECONDS)
        if now >= lease_end:
            interrupted = Message.objects.filter(pk=message.pk, status=Message.Status.SENDING,
                                                 claimed_at=message.claimed_at).update(
                status=Message.Status.FAILED, secret="", error_code="interrupted", updated_at=now,
                last_error="the worker stopped during the provider call; not resent to avoid a duplicate SMS",
            )
            return "failed:interrupted" if interrupted else "busy"
        # Another worker may be mid-call; look again when its lease ends.
        from .tasks import deliver_message

        background.dispatch(deliver_message, message.pk, countdown=(lease_end - now).total_seconds() + 1)
        return "busy"
    return "not_due" if message.status == Message.Status.QUEUED else "done"


def outbox_requeue_due() -> int:
    """Queue a task for every queued message that is due (after a restart lost in-process timers)
    and fail those stuck in `sending` past their lease. Returns how many were queued."""
    now = clock.now()
    due = list(
        Message.objects.filter(status=Message.Status.QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .values_list("pk", flat=True)
    )
    stale = Message.objects.filter(
        status=Message.Status.SENDING, claimed_at__lt=now - timedelta(seconds=settings.SMS_SENDING_LEASE_SECONDS)
    ).values_list("pk", flat=True)
    for pk in stale:
        _not_claimed(pk, now)
    from .tasks import deliver_message

    for pk in due:
        background.dispatch(deliver_message, pk)
    return len(due)


def outbox_purge(*, older_than_days: int) -> int:
    """Delete finished (sent or failed) messages created more than `older_than_days` days ago."""
    cutoff = clock.now() - timedelta(days=older_than_days)
    deleted, _ = Message.objects.filter(
        status__in=[Message.Status.SENT, Message.Status.FAILED], created_at__lt=cutoff
    ).delete()
    return deleted
