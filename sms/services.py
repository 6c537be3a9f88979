"""Writes of the sms app: queue SMS into the outbox and drive each message's delivery.

Delivery state machine of one `Message` (run by sms.tasks.deliver_message, in the worker):

    queued --claim (conditional UPDATE)--> sending --provider accepted-----------> sent
                                                    --retryable, tries left------> queued (backoff)
                                                    --retryable, none left /
                                                      permanent, next provider---> queued (next provider)
                                                    --no provider left-----------> failed
                                                    --lease ran out (worker died)-> queued (at once; a try)

Only the task that wins the conditional UPDATE `queued -> sending` calls the provider, so a task
delivered twice (broker redelivery, admin retry racing a worker, the sweep's extra task) never
sends twice. The claim is a lease that the worker renews while it works (sms.leases); when a
worker dies, `outbox_requeue_expired` (beat, every SMS_OUTBOX_SWEEP_SECONDS) puts the message
back in `queued` once the lease has run out and queues a task, and it also re-queues messages
whose task was lost (`queued` and due for longer than a lease). The row, not the broker, is the
truth: a dead worker's messages go out within one lease and one sweep.

Delivery is at least once until a provider's acceptance is recorded, and never after: a worker
that dies after the provider accepted a message but before `sent` was written leaves a message
that will be sent again (see docs/reliability.md for why that beats losing it).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q

from core import background, clock, metrics
from core.phone import mask_phone

from . import crypto, leases
from .models import Message
from .providers import OutgoingSMS, SendResult, UnknownProvider, get_provider, provider_chain
from .providers.base import Outcome

logger = logging.getLogger(__name__)

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
CODE_MASK_CHAR = "*"
# The error code of an attempt whose worker stopped during the provider call (its lease ran out).
INTERRUPTED = "interrupted"
# Rows one sweep handles; the next sweep takes the rest.
SWEEP_BATCH = 500


def _check_number(to: str) -> None:
    if not isinstance(to, str) or not _E164.fullmatch(to):
        raise ValueError(f"not an E.164 number: {to!r}")


# The delivery task (sms/tasks.py, registered by SmsConfig.ready), by name: tasks.py imports this
# module, so this module does not import it back.
DELIVER_TASK = "sms.deliver_message"


def _queue(message: Message) -> None:
    background.enqueue(background.task(DELIVER_TASK), message.pk)


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
    # Read first, then claim only the row as read (its updated_at): once the claim is made nothing
    # but the provider call and the write of its outcome touch the database, so a database failure
    # cannot strand a claimed row that no call will follow (it would wait a lease for the sweep).
    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        return "missing"
    claimed = (
        Message.objects.filter(pk=message_id, status=Message.Status.QUEUED, updated_at=message.updated_at)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(status=Message.Status.SENDING, claimed_at=now, lease_expires_at=leases.lease_end(now),
                attempts=F("attempts") + 1, updated_at=now)
    )
    if not claimed:
        return _not_claimed(message_id)
    message.status, message.claimed_at, message.updated_at = Message.Status.SENDING, now, now
    message.attempts += 1
    with leases.keeper().hold(message.pk, message.claimed_at):
        return _attempt(message, now)


def _attempt(message: Message, now) -> str:
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
        logger.exception("SMS provider %s crashed on message %s", provider_name, message.pk)
        result = SendResult.retryable("provider_crashed", f"{type(exc).__name__}")
    return _record(message, provider_name, result, chain)


def _record(message: Message, provider_name: str, result: SendResult, chain: list[str]) -> str:
    now = clock.now()
    metrics.SMS_PROVIDER_RESULTS.labels(provider_name, INTERRUPTED if result.code == INTERRUPTED else result.outcome).inc()
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
        # A dead worker says nothing about the provider: its message goes again at once.
        delay = 0.0 if result.code == INTERRUPTED else backoff_seconds(tries)
        if message.expires_at and now + timedelta(seconds=delay) >= message.expires_at:
            return _finish(message, status=Message.Status.FAILED, error_code=result.code[:64],
                           last_error=f"{error} (no time left to retry before the code expires)")
        return _requeue(message, provider_attempts=tries, next_attempt_at=now + timedelta(seconds=delay),
                        error_code=result.code, last_error=error, countdown=delay or None, outcome="retry")
    if message.provider_index + 1 < len(chain):
        return _requeue(message, provider_index=message.provider_index + 1, provider_attempts=0,
                        next_attempt_at=None, error_code=result.code, last_error=error, countdown=None,
                        outcome="failover")
    return _finish(message, status=Message.Status.FAILED, error_code=result.code[:64], last_error=error)


def _owned(message: Message):
    """The row, only while this attempt still owns it (the sweep did not take it back meanwhile)."""
    return Message.objects.filter(pk=message.pk, status=Message.Status.SENDING, claimed_at=message.claimed_at)


def _durably(write):
    """Run `write` (the UPDATE that records a provider call's outcome), waiting out a short database
    outage such as a restart: a provider's acceptance that is not recorded is an SMS sent twice once
    the lease runs out. Gives up after half a lease, well before the sweep would take the row back."""
    deadline = time.monotonic() + settings.SMS_SENDING_LEASE_SECONDS / 2
    while True:
        try:
            return write()
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block or time.monotonic() >= deadline:
                raise
            logger.warning("could not record an SMS outcome; retrying", exc_info=True)
            connection.close()  # the next try takes a fresh connection from the pool
            time.sleep(0.5)


def _finish(message: Message, *, status: str, **fields) -> str:
    fields.setdefault("error_code", message.error_code)
    fields["error_code"] = str(fields["error_code"])[:64]
    if status == Message.Status.SENT:
        # A provider's acceptance is the truth even when it comes late (this worker stalled past its
        # lease and the sweep took the row back): recording it spares a second send not yet made.
        rows = Message.objects.filter(pk=message.pk).exclude(status=Message.Status.SENT)
    else:
        rows = _owned(message)
    # The encrypted code is wiped as soon as nothing will send it again.
    updated = _durably(lambda: rows.update(status=status, provider=message.provider, secret="", updated_at=clock.now(),
                                           **fields))
    if updated:
        metrics.SMS_MESSAGES_FINISHED.labels(message.provider or "none", status).inc()
    return status if status == Message.Status.SENT else f"{status}:{fields.get('error_code', '')}"


def _requeue(message: Message, *, countdown: float | None, error_code: str, outcome: str, **fields) -> str:
    updated = _durably(lambda: _owned(message).update(
        status=Message.Status.QUEUED, provider=message.provider, error_code=str(error_code)[:64],
        updated_at=clock.now(), **fields))
    if updated:
        background.enqueue(background.task(DELIVER_TASK), message.pk, countdown=countdown)
    return outcome


def _not_claimed(message_id: int) -> str:
    status = Message.objects.filter(pk=message_id).values_list("status", flat=True).first()
    if status is None:
        return "missing"
    if status == Message.Status.SENDING:
        # A live worker has it, or a dead one did: then the sweep takes it back when its lease runs out.
        return "busy"
    return "not_due" if status == Message.Status.QUEUED else "done"


@dataclass(frozen=True)
class Requeued:
    interrupted: int  # taken back from a worker whose lease ran out
    lost: int  # queued and due for longer than a lease: their task was lost (a dead worker held it)


def outbox_requeue_expired() -> Requeued:
    """What beat runs every SMS_OUTBOX_SWEEP_SECONDS (and `manage.py sms_outbox --requeue` by hand).

    A message in `sending` whose lease ran out lost its worker during the provider call: the attempt
    counts as a retryable failure (`interrupted`) and the message is queued again at once, so it is
    sent again (it may have reached the provider: docs/reliability.md). A message `queued` and due
    for longer than a lease has no task that will run soon (a dead worker had taken it from the
    broker, whose own redelivery waits for the visibility timeout, or a publish failed): a task is
    queued for it. Tasks are cheap to duplicate: only the one that claims the row sends.
    """
    now = clock.now()
    cutoff = now - timedelta(seconds=settings.SMS_SENDING_LEASE_SECONDS)
    expired = list(
        Message.objects.filter(status=Message.Status.SENDING)
        .filter(Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True, claimed_at__lt=cutoff))
        .order_by("pk")[:SWEEP_BATCH]
    )
    chain = provider_chain()
    for message in expired:
        provider_name = chain[message.provider_index] if message.provider_index < len(chain) else message.provider
        result = SendResult.retryable(INTERRUPTED, "the worker stopped during the provider call (its lease ran out)")
        _record(message, provider_name, result, chain)

    lost = list(
        Message.objects.filter(status=Message.Status.QUEUED)
        .filter(Q(next_attempt_at__lt=cutoff) | Q(next_attempt_at__isnull=True, updated_at__lt=cutoff))
        .order_by("pk")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    if lost:
        # Due again from now, so the next sweeps leave them to this task for one lease.
        Message.objects.filter(pk__in=lost, status=Message.Status.QUEUED).update(next_attempt_at=now, updated_at=now)
        for pk in lost:
            background.dispatch(background.task(DELIVER_TASK), pk)
    return Requeued(interrupted=len(expired), lost=len(lost))


def outbox_purge(*, older_than_days: int) -> int:
    """Delete finished (sent or failed) messages created more than `older_than_days` days ago."""
    cutoff = clock.now() - timedelta(days=older_than_days)
    deleted, _ = Message.objects.filter(
        status__in=[Message.Status.SENT, Message.Status.FAILED], created_at__lt=cutoff
    ).delete()
    return deleted
