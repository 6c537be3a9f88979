"""The stable refusals of social login: an HTTP status, a machine code and a message for the person."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class SocialError(Exception):
    status = 400
    code = "invalid"
    message = _("The request could not be completed.")

    def __init__(self, message: str | None = None):
        super().__init__(str(message or self.message))

    def as_body(self) -> dict:
        text = str(self)
        return {"error": text, "detail": text, "code": self.code}


class InvalidState(SocialError):
    code = "invalid_state"
    message = _("This login link is not valid any more (expired, used, or started in another browser). Start again.")


class InvalidBindToken(SocialError):
    code = "invalid_bind_token"
    message = _("This login has expired. Log in with your social account again.")


class AlreadyBound(SocialError):
    status = 409
    code = "already_bound"
    message = _("This account is already linked: the social account to another phone number, or this phone number to another account of that provider.")


class AccountDisabled(SocialError):
    """The identity's user is deactivated: no session is created (as for SMS and messenger logins)."""

    status = 403
    code = "inactive"
    message = _("This account is disabled.")


class ProviderError(SocialError):
    """The provider failed (502 provider_error) or refused the client's code (400 invalid_code)."""

    def __init__(self, *, provider: str, provider_code: str, rejected_code: bool):
        self.status = 400 if rejected_code else 502
        self.code = "invalid_code" if rejected_code else "provider_error"
        self.provider = provider
        self.provider_code = provider_code
        super().__init__(
            _("The provider did not accept this login code. Try logging in again.")
            if rejected_code
            else _("The provider is not answering properly right now. Try again in a minute.")
        )

    def as_body(self) -> dict:
        return {**super().as_body(), "provider": self.provider, "provider_code": self.provider_code}


class ProviderNotConfigured(SocialError):
    """Unconfigured providers answer 404 everywhere, as if their endpoints did not exist."""

    status = 404
    code = "not_found"
    message = _("Not found.")
