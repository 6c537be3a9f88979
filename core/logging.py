"""A logging filter that keeps tokens and secrets out of every log line."""

from __future__ import annotations

import logging
import re

_PATTERNS = [
    # JWTs
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"), "[jwt]"),
    # query-string credentials (socket URLs in access logs)
    (re.compile(r"((?:token|ticket|login_token|api_key|password|code)=)[^&\s\"']+", re.I), r"\1[redacted]"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._-]+", re.I), r"\1[redacted]"),
]


class RedactSecretsFilter(logging.Filter):
    """Rewrites the rendered message; records explicitly marked `sms_console=True` are left alone
    because the console SMS provider's whole purpose is to show the message text to the developer."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "sms_console", False):
            return True
        message = record.getMessage()
        redacted = message
        for pattern, replacement in _PATTERNS:
            redacted = pattern.sub(replacement, redacted)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
