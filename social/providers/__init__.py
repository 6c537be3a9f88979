"""Social login providers: one small module per provider behind one interface
(social.providers.base.SocialProvider), chosen by name like the SMS providers. Adding a provider
touches its module, this table, `social.models.Provider` and its tests."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from .base import CodeRejected, ProviderFailure, ProviderIdentity, ProviderUnavailable, SocialProvider

PROVIDER_CLASSES = {
    "weibo": "social.providers.weibo.WeiboProvider",
    "wechat_mp": "social.providers.wechat_mp.WechatMiniProgramProvider",
}


def _config(name: str) -> dict:
    if name == "weibo":
        return {
            "CLIENT_ID": settings.WEIBO_CLIENT_ID,
            "CLIENT_SECRET": settings.WEIBO_CLIENT_SECRET,
            "REDIRECT_URI": settings.WEIBO_REDIRECT_URI,
            "API_URL": settings.WEIBO_API_URL,
        }
    return {"APPID": settings.WECHAT_MP_APPID, "SECRET": settings.WECHAT_MP_SECRET, "API_URL": settings.WECHAT_API_URL}


def get_provider(name: str) -> SocialProvider | None:
    """The provider called `name` if it is known and configured, else None (its endpoints are 404)."""
    path = PROVIDER_CLASSES.get(name)
    if path is None:
        return None
    provider = import_string(path)(config=_config(name), timeout=settings.SOCIAL_HTTP_TIMEOUT_SECONDS)
    return provider if provider.configured else None


def configured_providers() -> list[SocialProvider]:
    return [provider for name in PROVIDER_CLASSES if (provider := get_provider(name)) is not None]


__all__ = [
    "CodeRejected",
    "ProviderFailure",
    "ProviderIdentity",
    "ProviderUnavailable",
    "SocialProvider",
    "configured_providers",
    "get_provider",
]
