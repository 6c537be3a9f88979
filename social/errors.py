"""The stable refusals of social login (core.errors.ServiceError): an HTTP status, a machine code and
a message for the person, answered as `{"error", "detail", "code"}` (core.errors.social_body)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from core.errors import ServiceError


class SocialError(ServiceError):
    status = 400
    code = "invalid"
    default_detail = _("The request could not be completed.")

    def __init__(self, message: str | None = None):
        super().__init__(detail=message or None)


class InvalidState(SocialError):
    code = "invalid_state"
    default_detail = _("This login link is not valid any more (expired, used, or started in another browser). Start again.")


class InvalidBindToken(SocialError):
    code = "invalid_bind_token"
    default_detail = _("This login has expired. Log in with your social account again.")


class AlreadyBound(SocialError):
    status = 409
    code = "already_bound"
    default_detail = _("This account is already linked: the social account to another phone number, or this phone number to another account of that provider.")


class AccountDisabled(SocialError):
    """The identity's user is deactivated: no session is created (as for SMS and messenger logins)."""

    status = 403
    code = "inactive"
    default_detail = _("This account is disabled.")


class ProviderError(SocialError):
    """The provider failed (502 provider_error) or refused the client's code (400 invalid_code)."""

    def __init__(self, *, provider: str, provider_code: str, rejected_code: bool):
        self.provider = provider
        self.provider_code = provider_code
        ServiceError.__init__(
            self,
            "invalid_code" if rejected_code else "provider_error",
            _("The provider did not accept this login code. Try logging in again.")
            if rejected_code
            else _("The provider is not answering properly right now. Try again in a minute."),
            status=400 if rejected_code else 502,
        )

    @property
    def extra(self) -> dict:
        return {"provider": self.provider, "provider_code": self.provider_code}


class ProviderNotConfigured(SocialError):
    """Unconfigured providers answer 404 everywhere, as if their endpoints did not exist."""

    status = 404
    code = "not_found"
    default_detail = _("Not found.")
