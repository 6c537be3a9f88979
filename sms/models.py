"""The SMS outbox: every SMS the project sends is one `Message` row, written before delivery is queued."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Message(models.Model):
    """One SMS to one number, and the state of its delivery.

    OTP messages keep only a masked `text`; the code itself travels encrypted in `secret`
    (see sms.crypto) and is wiped once delivery is final.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    class Purpose(models.TextChoices):
        OTP = "otp", _("one-time code")
        GENERIC = "generic", _("generic")

    to = models.CharField(_("to"), max_length=32, db_index=True, help_text=_("E.164 mobile number"))
    text = models.TextField(_("text"), blank=True, help_text=_("Masked for one-time codes."))
    template_id = models.CharField(_("template id"), max_length=64, blank=True)
    params = models.JSONField(_("template params"), default=list, blank=True)
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices, default=Purpose.GENERIC)
    secret = models.TextField(_("encrypted secret"), blank=True, editable=False)
    # The one-time code's text is written again at delivery (with the real code), in this language.
    language = models.CharField(_("language"), max_length=16, blank=True)

    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True)
    provider = models.CharField(_("provider"), max_length=32, blank=True, help_text=_("Provider of the last attempt."))
    provider_index = models.PositiveSmallIntegerField(default=0, help_text=_("Position in the provider chain."))
    provider_attempts = models.PositiveSmallIntegerField(default=0, help_text=_("Attempts on the current provider."))
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    provider_message_id = models.CharField(_("provider message id"), max_length=128, blank=True)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    lease_expires_at = models.DateTimeField(
        _("lease expires at"), null=True, blank=True,
        help_text=_("While sending: the worker renews this; once it passes, the worker is presumed dead."),
    )
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    expires_at = models.DateTimeField(
        _("deliver before"), null=True, blank=True, help_text=_("Not sent after this (an expired code is useless).")
    )

    class Meta:
        verbose_name = _("SMS message")
        verbose_name_plural = _("SMS messages")
        ordering = ["-created_at", "-id"]
        permissions = [("send_message", "Can send SMS messages through the API")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="sms_message_due"),
            # The oldest queued / sending message, read at every /metrics scrape (sms.selectors.outbox_backlog).
            models.Index(fields=["status", "created_at"], name="sms_message_pending_age"),
        ]

    def __str__(self) -> str:
        return _("SMS #%(id)s to %(to)s (%(status)s)") % {
            "id": self.pk, "to": self.to, "status": self.get_status_display(),
        }
