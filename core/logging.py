"""Logging of every process: secrets redacted from each line, the request, user and session it
belongs to, and one JSON object per line with LOG_FORMAT=json.

* `redact(text)` is the one redaction: tokens, JWTs and `code=`/`"code": "..."` values become
  `[redacted]`. `RedactSecretsFilter` applies it to every log record, and Sentry's `before_send`
  (core/sentry.py) to every string of an error event, which also masks phone numbers
  (`mask_phone_numbers`): log lines mask them where they are written (`core.phone.mask_phone`), except
  the console SMS provider's, whose number and text a developer (and the bench) reads on purpose.
* The log context (`request_id`, `user_id`, `session_id`, and in a Celery task `task` and `task_id`)
  lives in context variables: core.requestid binds the request id of each HTTP request and socket,
  authentication binds the user and session (`log_context_bind`), and core.requestid carries all
  of it into the Celery tasks the request enqueues. `LogContextFilter` copies it onto each record.
* `JsonFormatter` writes `timestamp`, `level`, `logger`, `message`, the context fields that are
  known and `exc_info` (redacted too), one object per line (python-json-logger does the encoding).

Nothing here imports Django: config/settings.py and config/celery.py use it before Django is set up.
"""

from __future__ import annotations

import contextvars
import logging
import re

_SECRET_NAMES = r"token|ticket|login_token|api_key|password|code|refresh|access|secret"

_PATTERNS = [
    # JWTs
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"), "[jwt]"),
    # query-string and form credentials (URLs in access logs)
    (re.compile(rf"((?:{_SECRET_NAMES})=)[^&\s\"']+", re.I), r"\1[redacted]"),
    # the same names as JSON fields: "code": "123456"
    (re.compile(rf"(\"(?:{_SECRET_NAMES})\"\s*:\s*\")[^\"]+", re.I), r"\1[redacted]"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._-]+", re.I), r"\1[redacted]"),
]
# An international number (+ and 8 to 15 digits, as E.164 allows; also as written with spaces or
# dashes): the country prefix and the last four digits stay, as core.phone.mask_phone writes it.
_PHONE = re.compile(r"\+\d(?:[\s-]?\d){7,14}")


def redact(text: str) -> str:
    """`text` with tokens, JWTs and credential fields replaced (what every log line gets)."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _mask_match(match: re.Match) -> str:
    digits = re.sub(r"[\s-]", "", match.group(0))
    return digits[:6] + "***" + digits[-4:]


def mask_phone_numbers(text: str) -> str:
    """Every international phone number in `text` masked: +989121234567 -> +98912***4567."""
    return _PHONE.sub(_mask_match, text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites the rendered message of every record, with no exception: the console SMS provider's
    lines, the access log (`config.serve`) and third-party loggers alike. A one-time code the console
    provider shows a developer is plain text in an SMS, not a credential field, so it stays readable;
    a token or `code=` value in any line does not."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


# --- the log context --------------------------------------------------------------------------

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("hotline_request_id", default=None)
USER_ID: contextvars.ContextVar[int | None] = contextvars.ContextVar("hotline_user_id", default=None)
SESSION_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("hotline_session_id", default=None)
# (task name, task id) while a Celery task runs.
TASK: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("hotline_task", default=None)

CONTEXT_FIELDS = ("request_id", "user_id", "session_id")


def log_context_bind(*, user_id: int | None = None, session_id: str | None = None) -> None:
    """From here on in this request, socket or task, log records say which user and session."""
    if user_id is not None:
        USER_ID.set(user_id)
    if session_id is not None:
        SESSION_ID.set(session_id)


def log_context() -> dict:
    """The request id, user id and session id known here (None where unknown)."""
    return {"request_id": REQUEST_ID.get(), "user_id": USER_ID.get(), "session_id": SESSION_ID.get()}


class LogContextFilter(logging.Filter):
    """Puts the log context on each record (`record.request_id`, ...; None where unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.user_id = USER_ID.get()
        record.session_id = SESSION_ID.get()
        running = TASK.get()
        record.task, record.task_id = running if running else (None, None)
        return True


def _json_formatter_class():
    # Imported when a JSON formatter is made, so that plain-text processes never load it.
    from pythonjsonlogger.core import RESERVED_ATTRS
    from pythonjsonlogger.json import JsonFormatter as LibraryJsonFormatter

    class _JsonFormatter(LibraryJsonFormatter):
        def add_fields(self, log_record: dict, record: logging.LogRecord, message_dict: dict) -> None:
            super().add_fields(log_record, record, message_dict)
            # The time first, as in every other log line.
            fields = list(log_record.items())
            log_record.clear()
            log_record["timestamp"] = dict(fields).get("timestamp")
            log_record.update(fields)
            for name in (*CONTEXT_FIELDS, "task", "task_id"):
                value = getattr(record, name, None)
                if value is not None:
                    log_record[name] = value
            if "exc_info" in log_record:
                # The filter redacts the message; a traceback's exception texts are redacted here.
                log_record["exc_info"] = redact(str(log_record["exc_info"]))

    _JsonFormatter.reserved = [*RESERVED_ATTRS, *CONTEXT_FIELDS, "task", "task_id"]
    return _JsonFormatter


def JsonFormatter(*args, **kwargs) -> logging.Formatter:  # noqa: N802 - used as a class by LOGGING
    """One JSON object per line: timestamp (ISO 8601, UTC), level, logger, message, the context
    fields that are known, and exc_info when there is one."""
    formatter_class = _json_formatter_class()
    return formatter_class(
        "{levelname}{name}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp=True,
        # The record's own attributes stay out (the context fields are added when known); what a
        # caller passes as `extra=` goes in.
        reserved_attrs=formatter_class.reserved,
    )


# --- Celery's processes -------------------------------------------------------------------------


def celery_logging_setup(logger: logging.Logger, *, json: bool) -> None:
    """For Celery's `after_setup_logger` (worker and beat): Celery replaces the root logger's handlers
    with its own (so that --logfile and --loglevel work); give those the project's redaction and
    context, and with LOG_FORMAT=json the JSON formatter."""
    for handler in logger.handlers:
        if not any(isinstance(f, RedactSecretsFilter) for f in handler.filters):
            handler.addFilter(RedactSecretsFilter())
            handler.addFilter(LogContextFilter())
        if json:
            handler.setFormatter(JsonFormatter())
