"""Error reporting to Sentry (sentry-sdk), only when SENTRY_DSN is set: config/settings.py imports
this module then and only then, so without a DSN the SDK is never even imported.

What goes out is redacted like the logs (core.logging) and more, because an error event carries
more than a log line (request bodies, headers, breadcrumbs, exception texts):

* every string of the event goes through `core.logging.redact` (tokens, JWTs, `code=`/`"code": ...`),
  `core.logging.mask_phone_numbers` (+98912***4567) and loses the code of any one-time code SMS text
  in it (patterns made from the code SMS texts of every language, SMS_OTP_TEXTS: the console provider
  logs that text on purpose);
* values under secret-looking keys (Sentry's own list plus `code`, `ticket`, `refresh`, `access`,
  `login_token`, `text`, ...) are replaced at any depth by sentry-sdk's `EventScrubber`;
* stack frames carry no local variables: a frame of the SMS path holds the code and the whole
  number in objects whose repr no pattern can be trusted to catch;
* breadcrumbs of the console SMS provider's logger are dropped (its line is the code's text);
* `send_default_pii` stays off (no cookies, no user IP).

Each event is tagged with the request id (and user and session id where known) of the log context,
so an error in Sentry and its log lines find each other. Integrations: Django, Celery, Redis,
logging (errors become events, earlier records breadcrumbs) and asyncio, which needs a running event
loop: `with_asyncio_integration` enables it on the ASGI app's first connection.
"""

from __future__ import annotations

import re

import sentry_sdk
from django.core.exceptions import RequestAborted
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.integrations.redis import RedisIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

from core.logging import log_context, mask_phone_numbers, redact

# Keys whose values never leave the server, in any dictionary of an event (case-insensitive).
DENYLIST = [*DEFAULT_DENYLIST, "code", "otp", "ticket", "login_token", "refresh", "access", "secret",
            "text", "params", "browser_key", "jwt", "bearer", "hotline_refresh", "hotline_auth4app"]
DROPPED_BREADCRUMB_LOGGERS = frozenset({"sms.console"})


_otp_text: re.Pattern | None = None


def otp_text_pattern(*templates: str) -> re.Pattern:
    """A pattern matching SMS texts made from any of `templates` (SMS_OTP_TEXTS, one per language),
    whatever code they carry."""
    def one(template: str) -> str:
        parts = re.split(r"(\{code\}|\{minutes\})", template)
        return "".join(
            r"\d{4,10}" if part == "{code}" else r"\d+" if part == "{minutes}" else re.escape(part) for part in parts
        )

    return re.compile("|".join(f"(?:{one(template)})" for template in templates))


def _without_codes(match: re.Match) -> str:
    return re.sub(r"\d{4,10}", "[redacted]", match.group(0))


def _clean(value):
    if isinstance(value, str):
        value = mask_phone_numbers(redact(value))
        return _otp_text.sub(_without_codes, value) if _otp_text is not None else value
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    return value


def before_send(event: dict, hint: dict | None = None) -> dict:
    """Every string of the event redacted (see the module docstring); the log context as tags."""
    event = _clean(event)
    tags = event.setdefault("tags", {})
    for name, value in log_context().items():
        if value is not None:
            tags.setdefault(name, str(value))
    return event


def before_breadcrumb(crumb: dict, hint: dict | None = None) -> dict | None:
    if crumb.get("category") in DROPPED_BREADCRUMB_LOGGERS:
        return None
    return _clean(crumb)


def sentry_init(*, dsn: str, environment: str, release: str | None, traces_sample_rate: float,
                otp_texts: list[str]) -> None:
    global _otp_text
    _otp_text = otp_text_pattern(*otp_texts)
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,
        # A client that went away mid-request (Django raises this in its disconnect listener) is no error.
        ignore_errors=[RequestAborted],
        include_local_variables=False,
        max_request_body_size="small",
        event_scrubber=EventScrubber(denylist=DENYLIST, recursive=True),
        before_send=before_send,
        before_breadcrumb=before_breadcrumb,
        integrations=[
            DjangoIntegration(),
            CeleryIntegration(),
            RedisIntegration(),
            LoggingIntegration(),  # INFO and up as breadcrumbs, ERROR and up as events (its defaults)
        ],
    )


_asyncio_enabled = False


def enable_asyncio_once() -> None:
    """Sentry's asyncio integration patches the running loop's task factory, so it is enabled from
    inside the loop (daphne creates the loop after settings are read), once per process."""
    global _asyncio_enabled
    if not _asyncio_enabled:
        _asyncio_enabled = True
        from sentry_sdk.integrations.asyncio import enable_asyncio_integration

        enable_asyncio_integration()


def with_asyncio_integration(app):
    """The ASGI `app`, enabling the asyncio integration on its first call (config/asgi.py)."""

    async def asgi(scope, receive, send):
        enable_asyncio_once()
        return await app(scope, receive, send)

    return asgi
