"""Writes of the otp app: send a login code by SMS, and exchange it for a JWT pair.

The flow (shaped like django-allauth's login-by-code, but stateless for API clients):

* `otp_code_send` checks the resend cooldown (409), spends the per-IP, per-number and global
  send budgets (429), supersedes the number's older codes, stores the new code as an HMAC
  bound to its challenge and queues the SMS after commit. It looks the number up among users
  only for the SMS's language, with one query whether or not an account exists, so its answer
  and work are the same either way.
* `otp_code_redeemed` reserves a failure from the caller's IP budget (429), claims one try on the
  newest live challenge with one conditional UPDATE (so no more than OTP_MAX_ATTEMPTS comparisons
  can ever happen, even in parallel), reserves a failure from that challenge's share of the
  number's failure budget (429, and the challenge is blocked), compares in constant time, then
  consumes the challenge with a second conditional UPDATE: exactly one request can win it. A
  matching code gives its reservations back. Each step runs only if the one before allowed it, so a
  refused request spends nothing after the refusal, and wrong tries for a number nobody sent a code
  to cost only the caller's own IP budget. `otp_authenticate` logs in inside it, and the social bind
  step (social.services.social_bind) binds inside it: one phone proof for every login.

Every limit lives in the shared cache (`core.ratelimit`), so it holds across processes.
The code itself is never logged, returned or stored; only the SMS gateway receives it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _
from django.views.debug import SafeExceptionReporterFilter

from accounts.selectors import sms_language_for_number
from accounts.services import LoginResult, login_complete, user_get_or_create
from core import clock, metrics, ratelimit
from core.errors import RateLimited, ServiceError
from core.i18n import ascii_digits
from core.phone import mask_phone
from sms.services import otp_send as sms_otp_send  # queues delivery after commit; never waits on the provider

from .models import Challenge

logger = logging.getLogger(__name__)

HOUR = 3600


class ResendCooldown(ServiceError):
    """A code was sent to this number less than OTP_RESEND_SECONDS ago (409; the earlier code works)."""

    status = 409
    code = "resend_cooldown"
    default_detail = _("A code was sent recently. Wait before asking for another.")

    def __init__(self, retry_after: int):
        super().__init__(retry_after=retry_after)


class InvalidCode(ServiceError):
    """Wrong, expired, used, superseded or exhausted code, or no code at all: callers cannot tell which
    (one message for all of them: the answer leaks nothing)."""

    status = 401
    code = "invalid_sms_code"
    default_detail = _("Invalid or expired code.")


@dataclass(frozen=True)
class CodeSent:
    expires_in: int
    resend_in: int


# --- the code -------------------------------------------------------------------


def code_generate() -> str:
    """A uniformly random OTP_LENGTH-digit code from the OS's CSPRNG."""
    length = settings.OTP_LENGTH
    return f"{secrets.randbelow(10**length):0{length}d}"


def code_digest(*, challenge_id, mobile_number: str, code: str) -> str:
    """HMAC-SHA256 of the code bound to its challenge and number (what the database keeps)."""
    message = f"hotline-otp-v1|{challenge_id}|{mobile_number}|{code}".encode()
    return hmac.new(settings.OTP_HMAC_KEY.encode(), message, hashlib.sha256).hexdigest()


def code_normalize(raw: str) -> str:
    """Map any Unicode decimal digits (Persian/Arabic keyboards send ۱۲۳) to ASCII; drop spaces."""
    return ascii_digits(raw.strip())


def code_is_well_formed(code: str) -> bool:
    return len(code) == settings.OTP_LENGTH and all("0" <= ch <= "9" for ch in code)


# --- limits -----------------------------------------------------------------------


def _cooldown_key(mobile_number: str) -> str:
    return f"otp:resend:{mobile_number}"


def _global_send_budget() -> tuple[str, ratelimit.Rate]:
    return "otp:send:global", ratelimit.Rate(settings.OTP_GLOBAL_SENDS_PER_HOUR, HOUR)


def _send_budgets(mobile_number: str, ip: str | None) -> list[tuple[str, ratelimit.Rate]]:
    # Ordered: the dimension the caller controls first, so a client over its own budget
    # cannot spend a victim number's budget or the global circuit breaker.
    return [
        (f"otp:send:ip:{ip or 'unknown'}", ratelimit.Rate(settings.OTP_SENDS_PER_IP_PER_HOUR, HOUR)),
        (f"otp:send:number:{mobile_number}", ratelimit.Rate(settings.OTP_SENDS_PER_NUMBER_PER_HOUR, HOUR)),
        _global_send_budget(),
    ]


def global_send_budget_used() -> tuple[int, int]:
    """(codes sent in this hour's window, OTP_GLOBAL_SENDS_PER_HOUR): how close the circuit breaker is."""
    key, rate = _global_send_budget()
    return ratelimit.peek(key, rate).count, rate.limit


def _give_back_send_limits(mobile_number: str, ip: str | None) -> None:
    """Undo `_pass_send_limits` for a send that failed (the database was unavailable): the budgets
    get their hit back and the cooldown ends, so the retry the client is told to make can pass."""
    ratelimit.give_back(*_send_budgets(mobile_number, ip))
    cache.delete(_cooldown_key(mobile_number))


def _pass_send_limits(mobile_number: str, ip: str | None) -> None:
    """The resend cooldown (409) and the send budgets (429), then the new cooldown: one atomic step,
    one Redis round trip (`core.ratelimit.cooldown_then_consume`). A request in cooldown spends no
    budget, and of parallel requests for one number only one passes."""
    gate = ratelimit.cooldown_then_consume(
        cooldown_key=_cooldown_key(mobile_number),
        cooldown_seconds=settings.OTP_RESEND_SECONDS,
        checks=_send_budgets(mobile_number, ip),
    )
    if gate.cooldown_left:
        metrics.OTP_SEND_REFUSALS.labels("cooldown").inc()
        raise ResendCooldown(gate.cooldown_left)
    if gate.refused:
        metrics.OTP_SEND_REFUSALS.labels(gate.refused.split(":")[2]).inc()  # ip, number or global
        # Which budget fired stays in the server log, never in the response.
        logger.warning("otp send refused: %s budget spent (number %s)", gate.refused.split(":")[2], mask_phone(mobile_number))
        raise RateLimited(gate.verdict.retry_after)


def _ip_failure_budget(ip: str | None) -> tuple[str, ratelimit.Rate]:
    return f"otp:fail:ip:{ip or 'unknown'}", ratelimit.Rate(settings.OTP_FAILURES_PER_IP_PER_HOUR, HOUR)


def _number_failure_budget(mobile_number: str, challenge_id) -> tuple[str, ratelimit.Rate]:
    # Keyed by the live challenge too: failures count only against a code that was really sent, and a
    # spent budget blocks that code, not the next one the number's owner asks for.
    return (
        f"otp:fail:number:{mobile_number}:{challenge_id}",
        ratelimit.Rate(settings.OTP_FAILURES_PER_NUMBER_PER_HOUR, HOUR),
    )


# --- the flow ---------------------------------------------------------------------------


def otp_code_send(*, mobile_number: str, ip: str | None, language: str | None = None) -> CodeSent:
    """Send a new login code to an E.164 number.

    The SMS is in the user's language, else their number's country's (when it is one of ours), else
    `language` (the request's), else English: `accounts.selectors.sms_language_for_number`.
    Raises ResendCooldown (-> 409) while the previous code's cooldown runs and RateLimited (-> 429)
    when the caller's IP, the number or the whole service has spent its hourly send budget.
    """
    _pass_send_limits(mobile_number, ip)
    try:
        return _code_issue(mobile_number=mobile_number, ip=ip, language=language)
    except BaseException:
        # Nothing was sent (the transaction rolled back): the limits this request passed are given
        # back, or the client's retry after a 503 would meet a cooldown for a code it never got.
        _give_back_send_limits(mobile_number, ip)
        raise


def _code_issue(*, mobile_number: str, ip: str | None, language: str | None) -> CodeSent:
    sms_language = sms_language_for_number(mobile_number=mobile_number, fallback=language)
    ttl = settings.OTP_TTL_SECONDS
    now = clock.now()
    code = code_generate()
    with transaction.atomic():
        # Only the newest code of a number is valid: retire every earlier one in the same transaction.
        Challenge.objects.filter(
            mobile_number=mobile_number, consumed_at__isnull=True, superseded_at__isnull=True
        ).update(superseded_at=now)
        challenge = Challenge(
            mobile_number=mobile_number,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
            max_attempts=settings.OTP_MAX_ATTEMPTS,
            requested_ip=ip,
        )
        challenge.code_hmac = code_digest(challenge_id=challenge.id, mobile_number=mobile_number, code=code)
        challenge.save(force_insert=True)
        sms_otp_send(to=mobile_number, code=code, ttl_seconds=ttl, language=sms_language)
    metrics.OTP_CODES_SENT.inc()
    logger.info("otp code issued: number=%s challenge=%s", mask_phone(mobile_number), challenge.id)
    return CodeSent(expires_in=ttl, resend_in=settings.OTP_RESEND_SECONDS)


def _claim_try_on_newest(mobile_number: str) -> tuple[object, str] | None:
    """Count one try against the number's newest challenge if it is live, and return its (id, code_hmac).

    One conditional UPDATE ... RETURNING (finding the newest challenge and claiming it are one statement
    and one round trip), so the attempt cap holds under races: no more than `max_attempts` requests can
    ever get a digest to compare. None when there is no challenge or the newest one is used, superseded,
    expired or exhausted. Django's ORM has no UPDATE ... RETURNING, hence the SQL (PostgreSQL and SQLite
    >= 3.35 both speak it).
    """
    meta = Challenge._meta
    table = connection.ops.quote_name(meta.db_table)
    now = connection.ops.adapt_datetimefield_value(clock.now())
    sql = (
        f"UPDATE {table} SET attempts = attempts + 1"
        f" WHERE id = (SELECT id FROM {table} WHERE mobile_number = %s ORDER BY created_at DESC, id DESC LIMIT 1)"
        " AND consumed_at IS NULL AND superseded_at IS NULL AND expires_at > %s AND attempts < max_attempts"
        " RETURNING id, code_hmac"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [mobile_number, now])
        row = cursor.fetchone()
    if row is None:
        return None
    return meta.pk.to_python(row[0]), row[1]


def _consume(challenge_id) -> bool:
    """Use the challenge up: one conditional UPDATE; of N parallel callers exactly one gets True."""
    now = clock.now()
    return (
        Challenge.objects.filter(
            pk=challenge_id, consumed_at__isnull=True, superseded_at__isnull=True, expires_at__gt=now
        ).update(consumed_at=now)
        == 1
    )


def _send_login_failed(mobile_number: str, request) -> None:
    """Django's `user_login_failed`, as `authenticate()` sends it: what was tried, with the number
    masked (receivers such as audit logs store it) and the code replaced like Django hides a password."""
    metrics.AUTHENTICATIONS.labels("sms", "invalid_code").inc()
    credentials = {"mobile_number": mask_phone(mobile_number), "code": SafeExceptionReporterFilter.cleansed_substitute}
    user_login_failed.send(sender=__name__, credentials=credentials, request=request)


class AccountDisabled(ServiceError):
    """The code was right but the account is deactivated: no session is created."""

    status = 403
    code = "inactive"
    default_detail = _("This account is disabled.")


def _block_challenge(challenge_id) -> None:
    """Use up a challenge's tries: its code can never log in, right or wrong."""
    Challenge.objects.filter(pk=challenge_id).update(attempts=F("max_attempts"))


@contextmanager
def otp_code_redeemed(*, mobile_number: str, code: str, ip: str | None = None, request=None) -> Iterator[object]:
    """Prove the number with its newest code, then run the caller's block in the transaction that
    uses the code up: `with otp_code_redeemed(...) as challenge_id: <log in, bind, ...>`.

    The budgets, the attempt cap and single use are the same for every caller (the OTP login here,
    the social bind step). `code` must already be well formed (see `code_is_well_formed`). Raises
    InvalidCode (-> 401) for every kind of bad code, after sending `user_login_failed`, and
    RateLimited (-> 429) once the caller's IP has spent its hourly failure budget or the live code
    its share of the number's (no code is compared then, and no signal sent). If the caller's block
    raises, the transaction rolls back and the code is not burnt (the try stays spent).

    Failures are reserved before the code is compared (an atomic INCR each), so parallel wrong
    tries can never compare more often than a budget allows; a matching code gives them back.
    """
    ip_key, ip_rate = _ip_failure_budget(ip)
    verdict = ratelimit.consume(ip_key, ip_rate)
    if not verdict.allowed:
        metrics.AUTHENTICATIONS.labels("sms", "rate_limited").inc()
        raise RateLimited(verdict.retry_after)

    claimed = _claim_try_on_newest(mobile_number)
    if claimed is None:
        # No live code: the try costs the caller's IP budget only, never the number's.
        _send_login_failed(mobile_number, request)
        raise InvalidCode()
    challenge_id, code_hmac = claimed
    number_key, number_rate = _number_failure_budget(mobile_number, challenge_id)
    verdict = ratelimit.consume(number_key, number_rate)
    if not verdict.allowed:
        _block_challenge(challenge_id)
        metrics.AUTHENTICATIONS.labels("sms", "rate_limited").inc()
        logger.warning("otp failure budget spent: code blocked (number %s)", mask_phone(mobile_number))
        raise RateLimited(verdict.retry_after)

    expected = code_digest(challenge_id=challenge_id, mobile_number=mobile_number, code=code)
    if not hmac.compare_digest(expected, code_hmac):
        _send_login_failed(mobile_number, request)
        raise InvalidCode()
    # Not a failure after all (one round trip for both).
    ratelimit.give_back((ip_key, ip_rate), (number_key, number_rate))

    with transaction.atomic():
        # The consuming UPDATE and the caller's work are one transaction: if that work fails, the
        # code is not burnt. Parallel winners of `_claim_try_on_newest` wait on this row's lock and
        # then find it used.
        consumed = _consume(challenge_id)
        if consumed:
            yield challenge_id
    if not consumed:
        # Sent after the transaction, so that what a receiver writes about the failure is not
        # rolled back with it.
        _send_login_failed(mobile_number, request)
        raise InvalidCode()


def otp_authenticate(*, mobile_number: str, code: str, ip: str | None, user_agent: str, request=None) -> LoginResult:
    """Exchange the newest code of an E.164 number for a login session and JWT pair.

    Raises what `otp_code_redeemed` raises, and AccountDisabled (-> 403) for a deactivated user
    (the code is not burnt then). The user is created on first success, and `login_complete` sends
    `user_logged_in`.
    """
    with otp_code_redeemed(mobile_number=mobile_number, code=code, ip=ip, request=request) as challenge_id:
        user = user_get_or_create(mobile_number=mobile_number)
        if not user.is_active:
            # Rolls the consuming UPDATE back too; the messenger login refuses them the same way.
            metrics.AUTHENTICATIONS.labels("sms", "disabled").inc()
            raise AccountDisabled()
        result = login_complete(user=user, method="sms", ip=ip, user_agent=user_agent, request=request)
    logger.info("otp login: number=%s challenge=%s user=%s", mask_phone(mobile_number), challenge_id, user.pk)
    return result


def challenges_purge_expired(*, older_than: timedelta) -> int:
    """Delete challenges whose code expired more than `older_than` ago; returns how many.

    Safe at any time: an expired challenge can never be used again, and a deleted newest challenge
    leaves only older ones that were superseded (or expired earlier) already.
    """
    deleted, _ = Challenge.objects.filter(expires_at__lt=clock.now() - older_than).delete()
    return deleted
