from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, mobile_number, password=None, **extra):
        if not mobile_number:
            raise ValueError("A user needs a mobile number")
        user = self.model(mobile_number=mobile_number, **extra)
        if password:
            user.set_password(password)
        else:
            # Phone users log in by code; they have no password to guess.
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, mobile_number, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(mobile_number, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person, identified by a mobile number in E.164, created on first login."""

    mobile_number = PhoneNumberField(_("mobile number"), unique=True)
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(_("staff status"), default=False)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    # Chosen in the page header or through PATCH /api/me/; empty until the person chooses. Pages, SMS
    # and emails to this user use it (docs/i18n.md).
    language = models.CharField(_("language"), max_length=16, blank=True, default="", choices=settings.LANGUAGES)
    # The profile others see (accounts.profiles.public_user): never the mobile number.
    display_name = models.CharField(_("display name"), max_length=64, blank=True, default="")
    # The storage name of the re-encoded 256 px avatar (accounts.profiles.avatar_set), or "".
    avatar = models.CharField(_("avatar"), max_length=200, blank=True, default="")
    email = models.EmailField(_("email"), blank=True, default="")
    email_verified_at = models.DateTimeField(_("email verified at"), null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "mobile_number"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return str(self.mobile_number)


def _new_session_id() -> str:
    # 128 random bits from the OS: a session id is never guessable from another one.
    return secrets.token_hex(16)


def _default_session_expiry():
    # A session lives as long as its newest refresh token; each rotation moves this forward.
    return timezone.now() + settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]


class LoginSessionQuerySet(models.QuerySet):
    def active(self):
        """Not revoked and its newest refresh token not yet expired."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())

    def inactive(self):
        return self.exclude(revoked_at__isnull=True, expires_at__gt=timezone.now())


class LoginSession(models.Model):
    """One device's login. Refresh and access tokens carry its id (`sid`).

    Active while `revoked_at` is empty and `expires_at` (the newest refresh token's expiry) is ahead.
    """

    class Method(models.TextChoices):
        SMS = "sms", _("SMS code")
        AUTH4APP = "auth4app", _("Messenger confirmation")
        SOCIAL = "social", _("Social login")

    class RevokeReason(models.TextChoices):
        USER = "user", _("Ended by the user")
        LOGOUT = "logout", _("Logged out")
        REVOKE_OTHERS = "revoke_others", _("Ended from another session")
        ADMIN = "admin", _("Ended by an administrator")
        REFRESH_REUSE = "refresh_reuse", _("Refresh token reused")
        USER_DEACTIVATED = "user_deactivated", _("User deactivated")
        USER_DELETED = "user_deleted", _("User deleted")

    id = models.CharField(primary_key=True, max_length=32, default=_new_session_id, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_sessions")
    login_method = models.CharField(max_length=16, choices=Method.choices)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True, default="")
    device = models.CharField(max_length=100, blank=True, default="")
    browser = models.CharField(max_length=100, blank=True, default="")
    os = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_seen_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(default=_default_session_expiry, db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoke_reason = models.CharField(max_length=64, blank=True, default="", choices=RevokeReason.choices)

    objects = LoginSessionQuerySet.as_manager()

    class Meta:
        verbose_name = _("login session")
        verbose_name_plural = _("login sessions")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_login_method_display()} · {self.device or '?'}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class SessionRefreshToken(models.Model):
    """Which login session each issued refresh token (by jti) belongs to, and whether it has
    been rotated: a rotated token presented again is reuse, and ends its session."""

    jti = models.CharField(primary_key=True, max_length=255)
    session = models.ForeignKey(LoginSession, on_delete=models.CASCADE, related_name="refresh_tokens")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(default=_default_session_expiry, db_index=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.jti


class EmailVerification(models.Model):
    """One emailed verification link. Only a SHA-256 of its token is stored; the link works once
    (`used_at` is set by one conditional UPDATE) and for EMAIL_VERIFICATION_HOURS, and only while
    the user's email is still the one it was sent to."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_verifications")
    email = models.EmailField()
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user_id} {self.email}"
