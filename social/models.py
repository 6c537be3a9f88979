"""Identities at social providers (Weibo, WeChat mini-program) bound to phone users.

One table for every provider. A row binds one provider account to one user: `(provider, uid)` is
unique (an account logs in as one user), and so is `(user, provider)` (a user has at most one account
per provider). Provider access tokens and WeChat's `session_key` are never stored: nothing here calls
a provider on a user's behalf after the login.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from core import clock


class Provider(models.TextChoices):
    WEIBO = "weibo", _("Weibo")
    WECHAT_MP = "wechat_mp", _("WeChat mini-program")


class SocialIdentity(models.Model):
    provider = models.CharField(_("provider"), max_length=32, choices=Provider.choices)
    # Weibo's `uid`, or the mini-program's `openid` (per app). Never sent to a client.
    uid = models.CharField(_("provider uid"), max_length=128)
    # WeChat's account id across all apps of one Open Platform account, when WeChat gives it.
    unionid = models.CharField(_("WeChat unionid"), max_length=128, blank=True, default="")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="social_identities", verbose_name=_("user")
    )
    nickname = models.CharField(_("nickname"), max_length=100, blank=True, default="")
    avatar_url = models.URLField(_("avatar URL"), max_length=500, blank=True, default="")
    bound_at = models.DateTimeField(_("bound at"), default=clock.now)
    updated_at = models.DateTimeField(_("updated at"), default=clock.now)
    last_login_at = models.DateTimeField(_("last login at"), null=True, blank=True)

    class Meta:
        verbose_name = _("social identity")
        verbose_name_plural = _("social identities")
        ordering = ["provider", "bound_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "uid"], name="social_identity_provider_uid"),
            models.UniqueConstraint(fields=["user", "provider"], name="social_identity_one_per_provider"),
        ]
        indexes = [models.Index(fields=["unionid"], name="social_identity_unionid", condition=~models.Q(unionid=""))]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} · {self.nickname or self.uid}"
