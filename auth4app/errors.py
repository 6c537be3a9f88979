"""The stable errors of the auth4app flow (core.errors.ServiceError): HTTP replies in the
seed-compatible `{"error", "detail", "code"}` shape (views), close codes 4000 + status (socket)."""

from __future__ import annotations

from core.errors import ServiceError


class LoginError(ServiceError):
    """A refusal of the auth4app flow: `LoginError(code, detail, status=...)`."""
