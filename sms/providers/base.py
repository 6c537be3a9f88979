"""The one interface every SMS provider implements, and the shared HTTP plumbing.

A provider turns one `OutgoingSMS` into one `SendResult`: sent (with the provider's message id),
a retryable failure (timeouts, network errors, 5xx, "busy") or a permanent failure (bad number,
no credit, bad credentials), keeping the provider's own code and message. Providers never raise
for anything the provider or the network did; the delivery state machine (sms.services) decides
what happens next.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import httpx
import phonenumbers


@dataclass(frozen=True)
class OutgoingSMS:
    """What a provider needs to send one SMS. `text` is the full text, code included."""

    to: str  # E.164
    text: str
    purpose: str = "generic"
    template_id: str = ""
    params: tuple[str, ...] = ()
    code: str | None = None  # the one-time code, for providers with a dedicated OTP/template API
    ttl_seconds: int | None = None

    @property
    def ttl_minutes(self) -> str:
        return str(max(1, round((self.ttl_seconds or 0) / 60)))


class Outcome(enum.StrEnum):
    SENT = "sent"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    message_id: str = ""
    code: str = ""  # the provider's own error code (or ours: timeout, network, http_503, ...)
    detail: str = ""

    @classmethod
    def sent(cls, message_id: Any) -> "SendResult":
        return cls(Outcome.SENT, message_id="" if message_id is None else str(message_id))

    @classmethod
    def retryable(cls, code: Any, detail: str = "") -> "SendResult":
        return cls(Outcome.RETRYABLE, code=str(code), detail=str(detail)[:1000])

    @classmethod
    def permanent(cls, code: Any, detail: str = "") -> "SendResult":
        return cls(Outcome.PERMANENT, code=str(code), detail=str(detail)[:1000])


class ProviderFailure(Exception):
    """Raised inside a provider to stop with a result (transport errors, unreadable replies)."""

    def __init__(self, result: SendResult):
        super().__init__(result.detail or result.code)
        self.result = result


@dataclass
class Provider:
    """Base of every provider. Subclasses set `name` and implement `_send`."""

    config: dict = field(default_factory=dict, repr=False)  # holds credentials: never in a repr
    timeout: float = 10.0
    name = "base"

    def send(self, sms: OutgoingSMS) -> SendResult:
        try:
            return self._send(sms)
        except ProviderFailure as failure:
            return failure.result

    def _send(self, sms: OutgoingSMS) -> SendResult:  # pragma: no cover - interface
        raise NotImplementedError

    # --- helpers shared by the HTTP providers ---------------------------------

    def setting(self, key: str) -> str:
        value = str(self.config.get(key) or "").strip()
        if not value:
            raise ProviderFailure(SendResult.permanent("not_configured", f"{self.name}: {key} is not set"))
        return value

    def base_url(self) -> str:
        return self.setting("API_URL").rstrip("/")

    def http(self, method: str, url: str, **kwargs) -> httpx.Response:
        """One HTTP call; timeouts and network errors become retryable failures."""
        try:
            with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
                return client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise ProviderFailure(SendResult.retryable("timeout", f"{self.name}: {type(exc).__name__}")) from exc
        except httpx.TransportError as exc:
            raise ProviderFailure(SendResult.retryable("network", f"{self.name}: {type(exc).__name__}")) from exc

    def json_body(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            if response.status_code >= 500 or response.status_code == 429:
                raise ProviderFailure(SendResult.retryable(f"http_{response.status_code}", response.text[:200])) from exc
            raise ProviderFailure(
                SendResult.permanent(f"http_{response.status_code}", f"unreadable reply: {response.text[:200]}")
            ) from exc


def national_or_international(e164: str, home_country_code: int) -> str:
    """`0` + national number at home (09121234567 for +98), `00` + digits elsewhere.

    The Iranian gateways document receptors in the national format; abroad they take 00-prefixed numbers.
    """
    number = phonenumbers.parse(e164)
    if number.country_code == home_country_code:
        return "0" + str(number.national_number)
    return "00" + e164.lstrip("+")
