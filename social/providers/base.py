"""The one interface every social provider implements, and the HTTP plumbing they share.

Shaped like the SMS providers (sms.providers.base): one small module per provider, chosen by name.
A provider turns what the client brought back (a Weibo authorization code, a mini-program `js_code`)
into a `ProviderIdentity`, or raises:

- `CodeRejected` when the provider says the code is invalid, expired or used (-> 400 invalid_code);
- `ProviderUnavailable` for everything else the provider or the network did: HTTP errors, timeouts,
  unreadable replies, error envelopes such as "system busy" or a bad app secret (-> 502 provider_error).

Both carry the provider's own error code (or ours: `timeout`, `network`, `http_503`, `bad_reply`).
Secrets the provider returns (access tokens, WeChat's `session_key`) stay inside the provider module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx


@dataclass(frozen=True)
class ProviderIdentity:
    """Who the provider says the person is. `uid` and `unionid` never reach a client."""

    provider: str
    uid: str
    unionid: str = ""
    nickname: str = ""
    avatar_url: str = ""


class ProviderFailure(Exception):
    def __init__(self, provider: str, provider_code: object, detail: str = ""):
        super().__init__(f"{provider} {provider_code}: {detail}".strip())
        self.provider = provider
        self.provider_code = str(provider_code)
        self.detail = str(detail)[:300]


class CodeRejected(ProviderFailure):
    """The provider refused the code the client brought (invalid, expired, already used)."""


class ProviderUnavailable(ProviderFailure):
    """The provider could not be reached, failed, or answered something we cannot use."""


@dataclass
class SocialProvider:
    """Base of every provider. Subclasses set `name` and `kind` ("redirect" or "code")."""

    config: dict = field(default_factory=dict, repr=False)  # holds the app secret: never in a repr
    timeout: float = 5.0
    name = "base"
    kind = "code"
    required_settings: ClassVar[tuple[str, ...]] = ()  # keys of `config` that must be set for the provider to be on

    @property
    def configured(self) -> bool:
        return all(str(self.config.get(key) or "").strip() for key in self.required_settings)

    def http(self, method: str, url: str, **kwargs) -> httpx.Response:
        """One HTTP call with the timeout on every phase; failures of the transport become
        ProviderUnavailable. Never logs the URL (it may carry an access token or the secret)."""
        try:
            with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
                return client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable(self.name, "timeout", type(exc).__name__) from None
        except httpx.TransportError as exc:
            raise ProviderUnavailable(self.name, "network", type(exc).__name__) from None

    def json_object(self, response: httpx.Response) -> dict[str, Any]:
        """The reply's JSON object whatever its Content-Type (WeChat sometimes says text/plain)."""
        try:
            data = json.loads(response.content)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            code = f"http_{response.status_code}" if response.status_code != 200 else "bad_reply"
            raise ProviderUnavailable(self.name, code, "the reply is not a JSON object")
        return data
