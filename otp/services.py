"""Writes of the otp app: send a login code by SMS, and exchange it for a JWT pair.

The flow (shaped like django-allauth's login-by-code, but stateless for API clients):

* `otp_code_send` checks the resend cooldown (409), spends the per-IP, per-number and global
  send budgets (429), supersedes the number's older codes, stores the new code as an HMAC
  bound to its challenge and queues the SMS after commit. It looks the number up among users
  only for the SMS's language, with one query whether or not an account exists, so its answer
  and work are the same either way.
* `otp_authenticate` checks the number's failure budget (429), claims one try on the newest
  challenge with one conditional UPDATE (so no more than OTP_MAX_ATTEMPTS comparisons can ever
  happen, even in parallel), compares in constant time, then consumes the challenge with a
  second conditional UPDATE: exactly one request can win it.

Every limit lives in the shared cache (`core.ratelimit`), so it holds across processes.
The code itself is never logged, returned or stored; only the SMS gateway receives it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from accounts.selectors import sms_language_for_number
from accounts.services import LoginResult, login_complete, user_get_or_create
from core import clock, ratelimit
from core.i18n import ascii_digits
from core.errors import RateLimited
from core.phone import mask_phone
from sms.services import otp_send as sms_otp_send  # queues delivery after commit; never waits on the provider

from .models import Challenge

logger = logging.getLogger(__name__)

HOUR = 3600


class ResendCooldown(Exception):
    """A code was sent to this number less than OTP_RESEND_SECONDS ago."""

    def __init__(self, retry_after: int):
        super().__init__(f"resend cooldown: {retry_after}s")
        self.retry_after = max(1, int(retry_after))


class InvalidCode(Exception):
    """Wrong, expired, used, superseded or exhausted code, or no code at all: callers cannot tell which."""


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


def _send_budgets(mobile_number: str, ip: str | None) -> list[tuple[str, ratelimit.Rate]]:
    # Ordered: the dimension the caller controls first, so a client over its own budget
    # cannot spend a victim number's budget or the global circuit breaker.
    return [
        (f"otp:send:ip:{ip or 'unknown'}", ratelimit.Rate(settings.OTP_SENDS_PER_IP_PER_HOUR, HOUR)),
        (f"otp:send:number:{mobile_number}", ratelimit.Rate(settings.OTP_SENDS_PER_NUMBER_PER_HOUR, HOUR)),
        ("otp:send:global", ratelimit.Rate(settings.OTP_GLOBAL_SENDS_PER_HOUR, HOUR)),
    ]


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
        raise ResendCooldown(gate.cooldown_left)
    if gate.refused:
        # Which budget fired stays in the server log, never in the response.
        logger.warning("otp send refused: %s budget spent (number %s)", gate.refused.split(":")[2], mask_phone(mobile_number))
        raise RateLimited(gate.verdict.retry_after)


def _failure_budget(mobile_number: str) -> tuple[str, ratelimit.Rate]:
    return f"otp:fail:number:{mobile_number}", ratelimit.Rate(settings.OTP_FAILURES_PER_NUMBER_PER_HOUR, HOUR)


# --- the flow ---------------------------------------------------------------------------


def otp_code_send(*, mobile_number: str, ip: str | None, language: str | None = None) -> CodeSent:
    """Send a new login code to an E.164 number.

    The SMS is in the user's language, else their number's country's (when it is one of ours), else
    `language` (the request's), else English: `accounts.selectors.sms_language_for_number`.
    Raises ResendCooldown (-> 409) while the previous code's cooldown runs and RateLimited (-> 429)
    when the caller's IP, the number or the whole service has spent its hourly send budget.
    """
    _pass_send_limits(mobile_number, ip)
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


def otp_authenticate(*, mobile_number: str, code: str, ip: str | None, user_agent: str) -> LoginResult:
    """Exchange the newest code of an E.164 number for a login session and JWT pair.

    `code` must already be well formed (see `code_is_well_formed`). Raises InvalidCode (-> 401)
    for every kind of bad code and RateLimited (-> 429) once the number's hourly failure budget
    is spent. The user is created on first success.
    """
    failure_key, failure_rate = _failure_budget(mobile_number)
    verdict = ratelimit.peek(failure_key, failure_rate)
    if not verdict.allowed:
        raise RateLimited(verdict.retry_after)

    claimed = _claim_try_on_newest(mobile_number)
    matches = False
    if claimed is not None:
        challenge_id, code_hmac = claimed
        expected = code_digest(challenge_id=challenge_id, mobile_number=mobile_number, code=code)
        matches = hmac.compare_digest(expected, code_hmac)
    if not matches:
        ratelimit.consume(failure_key, failure_rate)
        raise InvalidCode()

    with transaction.atomic():
        # The consuming UPDATE and the login are one transaction: if recording the login fails,
        # the code is not burnt. Parallel winners of `_claim_try_on_newest` wait on this row's lock and
        # then find it used.
        if not _consume(challenge_id):
            raise InvalidCode()
        user = user_get_or_create(mobile_number=mobile_number)
        result = login_complete(user=user, method="sms", ip=ip, user_agent=user_agent)
    logger.info("otp login: number=%s challenge=%s user=%s", mask_phone(mobile_number), challenge_id, user.pk)
    return result


def challenges_purge_expired(*, older_than: timedelta) -> int:
    """Delete challenges whose code expired more than `older_than` ago; returns how many.

    Safe at any time: an expired challenge can never be used again, and a deleted newest challenge
    leaves only older ones that were superseded (or expired earlier) already.
    """
    deleted, _ = Challenge.objects.filter(expires_at__lt=clock.now() - older_than).delete()
    return deleted
