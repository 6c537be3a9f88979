"""Reads of the social app."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User

from .models import SocialIdentity
from .providers import configured_providers


def providers_available() -> list[dict]:
    """`[{"provider": "weibo", "kind": "redirect"}, ...]`: the configured providers only."""
    return [{"provider": provider.name, "kind": provider.kind} for provider in configured_providers()]


def provider_available(name: str) -> bool:
    return any(item["provider"] == name for item in providers_available())


def identities_of(user: User) -> QuerySet[SocialIdentity]:
    return SocialIdentity.objects.filter(user=user).order_by("bound_at", "pk")
