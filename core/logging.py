"""A logging filter that keeps tokens and secrets out of every log line."""

from __future__ import annotations

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


class RedactSecretsFilter(logging.Filter):
    """Rewrites the rendered message of every record, with no exception: the console SMS provider's
    lines, the access log (`config.serve`) and third-party loggers alike. A one-time code the console
    provider shows a developer is plain text in an SMS, not a credential field, so it stays readable;
    a token or `code=` value in any line does not."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = message
        for pattern, replacement in _PATTERNS:
            redacted = pattern.sub(replacement, redacted)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
