"""Reads of the otp app."""

from __future__ import annotations

from .models import Challenge


def challenge_newest(*, mobile_number: str) -> Challenge | None:
    """The newest challenge of an E.164 number, whatever its state: only that one may be used."""
    return Challenge.objects.filter(mobile_number=mobile_number).order_by("-created_at", "-pk").first()
