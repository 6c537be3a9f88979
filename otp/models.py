"""One-time login codes sent by SMS.

A code is never stored: each `Challenge` keeps only an HMAC of its code, keyed with
OTP_HMAC_KEY and bound to the challenge's own id and number (see `otp.services.code_digest`),
so a database dump reveals no code and a digest cannot be replayed onto another challenge.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from core import clock


class Challenge(models.Model):
    """One code sent to one number. Only the newest challenge of a number can be used."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    mobile_number = models.CharField(_("mobile number"), max_length=16, help_text=_("E.164"))
    code_hmac = models.CharField(_("code HMAC"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), default=clock.now)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)
    # Tries claimed so far (right or wrong); a try is claimed atomically before the code is compared,
    # so parallel guesses can never compare more than `max_attempts` times.
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    max_attempts = models.PositiveSmallIntegerField(_("max attempts"))
    consumed_at = models.DateTimeField(_("used at"), null=True, blank=True)
    superseded_at = models.DateTimeField(
        _("superseded at"), null=True, blank=True, help_text=_("When a newer code was sent to the same number.")
    )
    requested_ip = models.GenericIPAddressField(_("requested from IP"), null=True, blank=True)

    class Meta:
        verbose_name = _("OTP challenge")
        verbose_name_plural = _("OTP challenges")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["mobile_number", "-created_at"], name="otp_challenge_number_newest")]

    def __str__(self) -> str:
        return f"{self.mobile_number} @ {self.created_at:%Y-%m-%d %H:%M:%S}"

    @property
    def status(self) -> str:
        if self.consumed_at:
            return "used"
        if self.superseded_at:
            return "superseded"
        if self.attempts >= self.max_attempts:
            return "exhausted"
        if self.expires_at <= clock.now():
            return "expired"
        return "active"
